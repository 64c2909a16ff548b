# preload_stamp.wsgi - says when it was loaded (t/test_preload.py): each
# import appends "<pid> <interpreter>" to <state>/loads and takes half a
# second (a framework's import); a request answers {"pid", "loaded_at",
# "group"}.
import json
import os
import sys
import time

LOADED_AT = time.time()
STATE = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "state")
with open(os.path.join(STATE, "loads"), "a") as f:
    f.write("%d %x\n" % (os.getpid(), id(sys.modules)))
time.sleep(0.5)


def application(environ, start_response):
    body = json.dumps({
        "pid": os.getpid(),
        "loaded_at": LOADED_AT,
        "group": environ.get("mod_pyworker.application_group"),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

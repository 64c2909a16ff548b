# express/app.wsgi - the application t/test_express.py serves through
# pyworker-express.  It answers, as JSON, what the tests check: the text
# of the module it imports (edited by the --reload-on-changes test), the
# daemon's pid, thread and user, and wsgi.multiprocess/multithread.
# ?sleep=S holds the request that long; ?log=TEXT writes TEXT to
# wsgi.errors.
import json
import os
import threading
import time
import urllib.parse

import greeting


def application(environ, start_response):
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    if "sleep" in query:
        time.sleep(float(query["sleep"][0]))
    if "log" in query:
        environ["wsgi.errors"].write(query["log"][0] + "\n")
    body = json.dumps({
        "greeting": greeting.TEXT,
        "pid": os.getpid(),
        "thread": threading.get_ident(),
        "uid": os.getuid(),
        "multiprocess": environ["wsgi.multiprocess"],
        "multithread": environ["wsgi.multithread"],
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

# preload_slow.wsgi - takes 3 s to import (a big framework); a
# request answers {"pid", "loaded_at", "group"} (t/test_preload.py).
import json
import os
import time

LOADED_AT = time.time()
time.sleep(3.0)


def application(environ, start_response):
    body = json.dumps({
        "pid": os.getpid(),
        "loaded_at": LOADED_AT,
        "group": environ.get("mod_pyworker.application_group"),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

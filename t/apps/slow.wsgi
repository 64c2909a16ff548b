# slow.wsgi - sleeps ?<seconds> (default 1) and says who served it, and
# the length and sha256 of the request body it read.  ?<seconds>&mark=NAME
# first creates $PYW_STATE/NAME, so a test knows it is running.
import hashlib
import json
import os
import threading
import time


def application(environ, start_response):
    qs = environ.get("QUERY_STRING", "")
    seconds, _, mark = qs.partition("&mark=")
    try:
        delay = float(seconds or 1)
    except ValueError:
        delay = 1.0
    if mark:
        open(os.path.join(environ["PYW_STATE"], mark), "w").close()
    start = time.time()
    body_in = environ["wsgi.input"].read()
    time.sleep(delay)
    body = json.dumps({"pid": os.getpid(), "thread": threading.get_ident(),
                       "start": start, "end": time.time(),
                       "len": len(body_in),
                       "sha": hashlib.sha256(body_in).hexdigest()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

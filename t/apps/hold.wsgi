# hold.wsgi - a request that stays in its worker thread until released,
# for seeing a process while it finishes what it has (t/test_status_
# overlap.py).  ?<path> waits until the file <path> exists (30 s at
# most); without a query it answers at once.  Answers "<pid>\n".
import os
import time

HOLD_MAX = 30.0


def application(environ, start_response):
    path = environ.get("QUERY_STRING", "")
    deadline = time.monotonic() + HOLD_MAX
    while path and not os.path.exists(path) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    body = ("%d\n" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

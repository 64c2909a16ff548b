# slow_start.wsgi - an application that takes a second to import, like
# one that loads a big framework.  Preloaded (PyWorkerImportScript), so
# a new daemon is ready only once it is loaded; t/test_recycle_stall.py
# checks that no request waits for that.  Answers "<pid>\n"; ?alloc=MB
# keeps MB more memory for the life of the process, ?burn=S spends S
# seconds of CPU, ?sleep=S waits.
import os
import time
from urllib.parse import parse_qs

IMPORT_SECONDS = 1.0            # t/test_recycle_stall.py relies on it
time.sleep(IMPORT_SECONDS)

HOARD = []


def application(environ, start_response):
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if "alloc" in q:
        block = bytearray(int(float(q["alloc"]) * 1024 * 1024))
        for i in range(0, len(block), 4096):
            block[i] = 1                # touch every page: resident
        HOARD.append(block)
    if "burn" in q:
        end = time.process_time() + float(q["burn"])
        while time.process_time() < end:
            pass
    if "sleep" in q:
        time.sleep(float(q["sleep"]))
    body = b"%d\n" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

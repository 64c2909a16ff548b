# recycle.wsgi - says which process served it; ?sleep=S waits, ?alloc=MB
# keeps MB more memory for the life of the process, ?burn=S spends S
# seconds of CPU.  For t/test_recycling.py.
import json
import os
import time
from urllib.parse import parse_qs

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
    body = json.dumps({"pid": os.getpid(),
                       "hoard_mb": sum(len(b) for b in HOARD) >> 20}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

# lifecycle.wsgi - misbehaves on request, for the timeout and limit tests.
#   ?sleep=S   sleep S seconds in sleeping_beauty() (a stuck request)
#   ?spin=N    sum(range(N)) in hold_the_gil(): C code that never lets
#              the GIL go (a "deadlock" seen from outside)
#   ?mem=MB    keep MB megabytes allocated for the life of the process
#   ?cpu=S     burn S seconds of CPU time in Python
#   otherwise  answer at once
# Every answer is JSON with the pid that served it.
import json
import os
import time
from urllib.parse import parse_qs

_kept = []


def sleeping_beauty(seconds):
    time.sleep(seconds)


def hold_the_gil(n):
    return sum(range(n))


def burn_cpu(seconds):
    end = time.process_time() + seconds
    while time.process_time() < end:
        sum(range(10000))


def application(environ, start_response):
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if "sleep" in q:
        sleeping_beauty(float(q["sleep"]))
    if "spin" in q:
        hold_the_gil(int(q["spin"]))
    if "mem" in q:
        _kept.append(b"x" * (int(q["mem"]) << 20))
    if "cpu" in q:
        burn_cpu(float(q["cpu"]))
    body = json.dumps({"pid": os.getpid()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

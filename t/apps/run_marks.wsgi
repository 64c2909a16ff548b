# run_marks.wsgi - says which requests the application ran, for tests of
# requests that must not run (t/test_timeouts.py).
#   ?mark=NAME&runs=PATH  append "NAME pid time" to PATH when the request
#                         starts running
#   ?sleep=S              then sleep S seconds
# Every answer is JSON with the pid that served it and the mark.
import json
import os
import time
from urllib.parse import parse_qs


def application(environ, start_response):
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    if "mark" in q and "runs" in q:
        with open(q["runs"], "a") as f:
            f.write("%s %d %.3f\n" % (q["mark"], os.getpid(), time.time()))
    if "sleep" in q:
        time.sleep(float(q["sleep"]))
    body = json.dumps({"pid": os.getpid(), "mark": q.get("mark")}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

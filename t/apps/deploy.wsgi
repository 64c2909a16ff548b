# deploy.wsgi - answers "<VERSION> <pid>"; t/test_deploys.py rewrites
# VERSION to deploy new code, and ?sleep=S makes a long request.
import os
import time

VERSION = "v1"


def application(environ, start_response):
    qs = environ.get("QUERY_STRING", "")
    if qs.startswith("sleep="):
        time.sleep(float(qs[6:]))
    body = ("%s %d" % (VERSION, os.getpid())).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

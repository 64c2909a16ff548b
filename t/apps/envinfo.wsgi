# envinfo.wsgi - what a daemon process was started with: its environment,
# its command line (as ps shows it) and sys.path.  For
# t/test_option_values.py.
import json
import os
import sys


def application(environ, start_response):
    with open("/proc/self/cmdline", "rb") as f:
        argv = [a.decode() for a in f.read().split(b"\0") if a]
    body = json.dumps({"env": dict(os.environ), "argv": argv,
                       "path": sys.path}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]

# hostinfo.wsgi - where this daemon's Python runs: the process's program,
# the daemon extension and any libpython it maps, sys.argv, sys.path,
# sys.executable, os.getcwd(), PYTHONHOME and its pid.  For t/test_hosted.py.
import json
import os
import sys


def _mapped():
    with open("/proc/self/maps") as f:
        return sorted({line.split(None, 5)[5].strip() for line in f
                       if len(line.split(None, 5)) > 5})


def application(environ, start_response):
    body = json.dumps({
        "pid": os.getpid(),
        "exe": os.path.realpath("/proc/self/exe"),
        "mapped": _mapped(),
        "argv": sys.argv,
        "path": sys.path,
        "executable": sys.executable,
        "prefix": sys.prefix,
        "cwd": os.getcwd(),
        "pythonhome": os.environ.get("PYTHONHOME"),
        "main": sorted(vars(sys.modules["__main__"])),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]

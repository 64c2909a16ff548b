# member.wsgi - a balancer member that says who it is: its group, pid,
# SCRIPT_NAME, PATH_INFO and the body length it read.
# ?ms=N sleeps N milliseconds first; ?fail=1 raises (a 500).
import json
import os
import time
from urllib.parse import parse_qs


def application(environ, start_response):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    ms = float(q.get("ms", ["0"])[0])
    if ms:
        time.sleep(ms / 1000.0)
    if q.get("fail"):
        raise RuntimeError("member.wsgi asked to fail")
    group = environ.get("mod_pyworker.process_group", "")
    body = json.dumps({
        "group": group,
        "pid": os.getpid(),
        "script_name": environ.get("SCRIPT_NAME"),
        "path_info": environ.get("PATH_INFO"),
        "query": environ.get("QUERY_STRING"),
        "script_filename": environ.get("SCRIPT_FILENAME"),
        "len": len(environ["wsgi.input"].read()),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

# member_v2.wsgi - the "new version" of member.wsgi (blue/green, canary).
import json
import os


def application(environ, start_response):
    body = json.dumps({"group": environ.get("mod_pyworker.process_group"),
                       "version": 2, "pid": os.getpid()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

# health.wsgi - a balancer member with a health check URL, /ok.
# /ok (under any prefix) answers 503 while the file state/sick-GROUP
# exists, else 200, and appends "METHOD PATH_INFO USER_AGENT" to
# state/probes-GROUP.  Any other URL answers with the group's name.
import json
import os

STATE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "state")


def application(environ, start_response):
    group = environ.get("mod_pyworker.process_group", "")
    path = environ.get("PATH_INFO", "")
    if path.endswith("/ok") or environ["REQUEST_METHOD"] == "OPTIONS":
        with open(os.path.join(STATE, "probes-" + group), "a") as f:
            f.write("%s %s %s\n" % (environ["REQUEST_METHOD"], path or "-",
                                    environ.get("HTTP_USER_AGENT", "-")))
        sick = os.path.exists(os.path.join(STATE, "sick-" + group))
        status = "503 Service Unavailable" if sick else "200 OK"
        body = b"sick\n" if sick else b"ok\n"
    else:
        status, body = "200 OK", json.dumps({"group": group}).encode()
    start_response(status, [("Content-Type", "text/plain"),
                            ("Content-Length", str(len(body)))])
    return [body]

# health.wsgi - a balancer member with health check URLs.
# /ok (under any prefix) answers 503 while the file state/sick-GROUP
# exists, else 200 with "ok" ("degraded" while state/degraded-GROUP
# exists), and appends "METHOD PATH_INFO USER_AGENT" to
# state/probes-GROUP.  /teapot answers 418 with X-Health: good.  Any other
# URL answers with the group's name.
import json
import os

STATE = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "state")


def flag(name, group):
    return os.path.exists(os.path.join(STATE, "%s-%s" % (name, group)))


def application(environ, start_response):
    group = environ.get("mod_pyworker.process_group", "")
    path = environ.get("PATH_INFO", "")
    headers = [("Content-Type", "text/plain")]
    if path.endswith("/ok") or environ["REQUEST_METHOD"] == "OPTIONS":
        with open(os.path.join(STATE, "probes-" + group), "a") as f:
            f.write("%s %s %s\n" % (environ["REQUEST_METHOD"], path or "-",
                                    environ.get("HTTP_USER_AGENT", "-")))
        if flag("sick", group):
            status, body = "503 Service Unavailable", b"sick\n"
        else:
            status = "200 OK"
            body = b"degraded\n" if flag("degraded", group) else b"ok\n"
    elif path.endswith("/teapot"):
        status, body = "418 I'm a teapot", b"short and stout\n"
        headers.append(("X-Health", "good"))
    else:
        status, body = "200 OK", json.dumps({"group": group}).encode()
    headers.append(("Content-Length", str(len(body))))
    start_response(status, headers)
    return [body]

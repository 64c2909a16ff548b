# cacheable.wsgi - a response mod_cache may keep (Cache-Control max-age,
# no Content-Length), streamed in two parts:
#   ?how=ok     both parts
#   ?how=raise  the first part, then the application raises
#   ?how=exit   the first part, then the daemon dies (os._exit)
#   ?n=NAME     counts the times the application ran for NAME: X-Runs
import os
import time
from urllib.parse import parse_qs


def runs(environ, name):
    path = os.path.join(environ.get("PYW_STATE", "/tmp"), "runs-" + name)
    with open(path, "a") as f:
        f.write("x")
    return os.path.getsize(path)


def application(environ, start_response):
    q = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    how = q.get("how", "ok")
    start_response("200 OK", [
        ("Content-Type", "text/plain"), ("Cache-Control", "max-age=60"),
        ("X-Runs", str(runs(environ, q.get("n", how))))])

    def body():
        yield b"first part\n"
        time.sleep(0.2)
        if how == "raise":
            raise RuntimeError("pyw-cache-broken mid-response")
        if how == "exit":
            os._exit(3)
        yield b"second part\n"
    return body()

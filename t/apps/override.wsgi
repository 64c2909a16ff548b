# override.wsgi - responses for the PyWorkerErrorOverride and
# PyWorkerMapHEADToGET tests, chosen by PATH_INFO:
#   /status/CODE?size=N&parts=K  CODE with a body of N bytes ("app-body"
#                                repeated), in K iterated pieces (K > 1:
#                                no Content-Length, so chunked), plus
#                                X-App, Set-Cookie and, for 401,
#                                WWW-Authenticate, for 405 Allow and, for
#                                503, Retry-After;
#                                &fail=1: raise after the first piece
#                                &nochallenge=1: a 401 without
#                                WWW-Authenticate
#   /fw/CODE?size=N              CODE with an N-byte file by
#                                wsgi.file_wrapper
#   /ok                          200 "ok N" (N counts the requests)
#   /method                      200 naming the REQUEST_METHOD it saw, in
#                                X-Seen-Method and the body; for HEAD no
#                                body at all, as an optimising app does
# Every response says which daemon answered (X-Pid).
import itertools
import os
import tempfile
from urllib.parse import parse_qs

_count = itertools.count(1)
PATTERN = b"app-body"


def _body(size):
    return (PATTERN * (size // len(PATTERN) + 1))[:size]


def _pieces(body, parts, fail=False):
    step = max(1, -(-len(body) // parts))
    for i in range(0, len(body), step):
        yield body[i:i + step]
        if fail:
            raise RuntimeError("override.wsgi fails in the middle of its body")


def _status(code, q, start_response):
    size = int(q.get("size", ["64"])[0])
    parts = int(q.get("parts", ["1"])[0])
    body = _body(size)
    headers = [("Content-Type", "text/plain"), ("X-App", "yes"),
               ("Set-Cookie", "app=1; Path=/")]
    if code == "401" and "nochallenge" not in q:
        headers.append(("WWW-Authenticate", 'Basic realm="app"'))
        headers.append(("WWW-Authenticate", 'Bearer realm="app"'))
    if code == "405":
        headers.append(("Allow", "GET, POST"))
        headers.append(("Allow", "PROPFIND"))
    if code == "503":
        headers.append(("Retry-After", "120"))
    if parts <= 1:
        headers.append(("Content-Length", str(len(body))))
        start_response("%s App Status" % code, headers)
        return [body]
    start_response("%s App Status" % code, headers)
    return _pieces(body, parts, fail="fail" in q)


def _file(code, q, environ, start_response):
    size = int(q.get("size", ["4096"])[0])
    f = tempfile.TemporaryFile()
    f.write(_body(size))
    f.seek(0)
    start_response("%s App Status" % code,
                   [("Content-Type", "text/plain"), ("X-App", "yes"),
                    ("Content-Length", str(size))])
    return environ["wsgi.file_wrapper"](f, 65536)


def _method(environ, start_response):
    m = environ["REQUEST_METHOD"]
    headers = [("Content-Type", "text/plain"), ("X-Seen-Method", m)]
    if m == "HEAD":
        start_response("200 OK", headers)
        return []
    body = ("seen %s\n" % m).encode() * 40
    headers.append(("Content-Length", str(len(body))))
    start_response("200 OK", headers)
    return [body]


def _routed(environ, start_response):
    path = environ.get("PATH_INFO", "").strip("/").split("/")
    q = parse_qs(environ.get("QUERY_STRING", ""))
    if path[0] == "status":
        return _status(path[1], q, start_response)
    if path[0] == "fw":
        return _file(path[1], q, environ, start_response)
    if path[0] == "method":
        return _method(environ, start_response)
    body = ("ok %d\n" % next(_count)).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


def application(environ, start_response):
    def with_pid(status, headers, exc_info=None):
        return start_response(status, headers + [("X-Pid",
                                                   str(os.getpid()))],
                              exc_info)
    return _routed(environ, with_pid)

# track.wsgi - a request that leaves traces, for counting exactly which
# requests a dying daemon had in hand (t/test_crashes.py).
#
#   ?id=N&ms=M&chunks=K&framing=length|chunked[&exit=1]
#
# At start it creates <PYW_STATE>/track/<id>.<pid>.start; it then sends K
# pieces spread over M milliseconds and creates <id>.<pid>.end just before
# the last piece leaves, so a request without .end had not finished its
# response when the daemon died.  framing=length sends Content-Length,
# chunked sends none (chunked over HTTP/1.1).  exit=1 ends the daemon with
# os._exit(7) half-way through, after the first piece.
import os
import time
from urllib.parse import parse_qs

PIECE = 64


def _mark(environ, rid, what):
    d = os.path.join(environ.get("PYW_STATE", "/tmp"), "track")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "%s.%d.%s" % (rid, os.getpid(), what))
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o666))


def _piece(rid, i):
    return ("%s:%d:" % (rid, i)).encode().ljust(PIECE - 1, b".") + b"\n"


def application(environ, start_response):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    rid = q.get("id", ["0"])[0]
    ms = float(q.get("ms", ["50"])[0])
    n = max(1, int(q.get("chunks", ["1"])[0]))
    framing = q.get("framing", ["length"])[0]
    die = q.get("exit", [""])[0] == "1"
    _mark(environ, rid, "start")
    headers = [("Content-Type", "text/plain")]
    if framing == "length":
        headers.append(("Content-Length", str(n * PIECE)))
    start_response("200 OK", headers)

    def pieces():
        for i in range(n):
            time.sleep(ms / 1000.0 / n)
            if die and i == n // 2:
                os._exit(7)
            if i == n - 1:
                _mark(environ, rid, "end")
            yield _piece(rid, i)
    return pieces()

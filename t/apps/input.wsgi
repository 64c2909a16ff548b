# input.wsgi - exercises wsgi.input one way per ?mode=:
#   read            read()
#   read_n          read(n) until b""
#   readline        readline() until b""
#   readline_n      readline(n) until b""
#   readlines       readlines()
#   readlines_hint  readlines(n) until []
#   iter            for line in input
#   read_more       read(CONTENT_LENGTH + 1000) once, then read() again
#   readline_seq    readline(limit) for each of ?limits=L1,L2,... in turn
#                   ("n": no limit), then readline() until b""; the answer
#                   adds the length of every result, b"" included
#   partial         read(n) once and stop (the rest stays unread)
#   none            read nothing at all
# Every mode but partial and none finishes with three more reads
# (read(), read(10), readline()) that must all return b"" at once.
# JSON answer: len and sha256 of what was read, the number of pieces, the
# longest piece, the pieces that did not end with a newline (line modes),
# and the trailing reads.
import hashlib
import json
from urllib.parse import parse_qs


def pieces(inp, mode, n):
    if mode == "read":
        yield inp.read()
    elif mode == "read_n":
        while True:
            d = inp.read(n)
            if not d:
                return
            assert len(d) <= n, "read(%d) returned %d bytes" % (n, len(d))
            yield d
    elif mode in ("readline", "readline_n"):
        while True:
            d = inp.readline() if mode == "readline" else inp.readline(n)
            if not d:
                return
            if mode == "readline_n":
                assert len(d) <= n, "readline(%d) gave %d" % (n, len(d))
            yield d
    elif mode == "readlines":
        yield from inp.readlines()
    elif mode == "readlines_hint":
        while True:
            lines = inp.readlines(n)
            if not lines:
                return
            yield from lines
    elif mode == "iter":
        yield from inp
    elif mode == "read_more":
        yield inp.read(n)
        yield inp.read()
    elif mode == "partial":
        yield inp.read(n)
    elif mode == "none":
        return
    else:
        raise ValueError("unknown mode %r" % mode)


def readline_seq(inp, limits):
    for limit in limits:
        yield inp.readline() if limit is None else inp.readline(limit)
    while True:
        d = inp.readline()
        yield d
        if not d:
            return


def parse_limits(text):
    return [None if x == "n" else int(x) for x in text.split(",") if x]


def application(environ, start_response):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    mode = q.get("mode", ["read"])[0]
    n = int(q.get("n", ["0"])[0] or 0)
    if mode == "read_more":
        n = int(environ.get("CONTENT_LENGTH") or 0) + 1000
    inp = environ["wsgi.input"]
    h, total, count, longest, unterminated = hashlib.sha256(), 0, 0, 0, 0
    lengths = []
    if mode == "readline_seq":
        results = readline_seq(inp, parse_limits(q.get("limits", [""])[0]))
    else:
        results = pieces(inp, mode, n)
    for d in results:
        assert isinstance(d, bytes), type(d)
        lengths.append(len(d))
        h.update(d)
        total += len(d)
        count += 1
        longest = max(longest, len(d))
        if not d.endswith(b"\n"):
            unterminated += 1
    after = [] if mode in ("partial", "none") else \
        [inp.read(), inp.read(10), inp.readline()]
    body = json.dumps({
        "mode": mode, "len": total, "sha256": h.hexdigest(),
        "pieces": count, "longest": longest, "unterminated": unterminated,
        "after": [a.decode("latin-1") for a in after],
        "content_length": environ.get("CONTENT_LENGTH"),
        "input_terminated": environ.get("wsgi.input_terminated"),
        "lengths": lengths if mode == "readline_seq" else None,
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

# big.wsgi - GET ?size=N: N bytes of a deterministic pattern, generated
# 1 MiB at a time (never held whole); POST: the body's length and sha256,
# read 1 MiB at a time.  The pattern (also in t/pyworker_t/data.py):
# block i is sha256(b"block %d" % i).digest() repeated to 1 MiB.
import hashlib
import json
import time
from urllib.parse import parse_qs

MIB = 1 << 20


def block(i):
    return hashlib.sha256(b"block %d" % i).digest() * (MIB // 32)


def generate(size):
    i = 0
    while size > 0:
        b = block(i)[:size]
        size -= len(b)
        i += 1
        yield b


def application(environ, start_response):
    if environ["REQUEST_METHOD"] == "POST":
        inp, h, n, reads, first = environ["wsgi.input"], hashlib.sha256(), \
            0, 0, None
        while True:
            data = inp.read(MIB)
            if first is None:
                first = time.time()
            if not data:
                break
            reads += 1
            h.update(data)
            n += len(data)
        body = json.dumps({"len": n, "sha256": h.hexdigest(),
                           "reads": reads, "first_read_done": first,
                           "done": time.time()}).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    q = parse_qs(environ.get("QUERY_STRING", ""))
    size = int(q.get("size", [str(MIB)])[0])
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(size))])
    return generate(size)

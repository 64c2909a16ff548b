# threadio.wsgi - an application whose own threads use the request's
# write() and wsgi.input (PEP 3333 does not forbid it; mod_wsgi copes).
# ?case=NAME&token=T; what the threads saw goes, as one JSON line, to
# <PYW_STATE>/threadio-<token>.
import json
import os
import threading
import time
from urllib.parse import parse_qs

TEXT = [("Content-Type", "text/plain")]


def report(environ, token, result):
    state = environ.get("PYW_STATE") or "/tmp"
    with open(os.path.join(state, "threadio-" + token), "a") as f:
        f.write(json.dumps(result) + "\n")


def in_thread(fn, result, key):
    def run():
        try:
            fn()
            result[key] = "ok"
        except Exception as e:
            result[key] = type(e).__name__
    t = threading.Thread(target=run)
    t.start()
    return t


def two_writers(environ, start_response, q, token):
    """Two threads write() 4 MB each at once: the frames must not
    interleave (the body is A and B bytes only)."""
    n = 4 << 20
    write = start_response("200 OK", TEXT)
    result = {}
    t = in_thread(lambda: write(b"B" * n), result, "b")
    try:
        write(b"A" * n)
        result["a"] = "ok"
    except Exception as e:
        result["a"] = type(e).__name__
    t.join(60)
    report(environ, token, result)
    return []


def writer_outlives_request(environ, start_response, q, token):
    """A thread still writing when the application returns: the request
    waits for its write() in progress; its next one raises."""
    write = start_response("200 OK", TEXT)
    write(b"A" * 10)
    result = {"writes": 0}

    def keep_writing():
        for _ in range(50):
            write(b"L" * (1 << 20))
            result["writes"] += 1

    def run():
        try:
            keep_writing()
            result["end"] = "all written"
        except Exception as e:
            result["end"] = type(e).__name__
        report(environ, token, result)
    threading.Thread(target=run).start()
    time.sleep(0.05)
    return [b"Z" * 10]


def reader_and_writer(environ, start_response, q, token):
    """One thread reads wsgi.input while another streams the response."""
    inp = environ["wsgi.input"]
    write = start_response("200 OK", TEXT)
    result = {"read": 0}

    def read_all():
        while True:
            d = inp.read(65536)
            if not d:
                break
            result["read"] += len(d)
    t = in_thread(read_all, result, "reader")
    for _ in range(16):
        write(b"W" * (256 * 1024))
    t.join(60)
    report(environ, token, result)
    return []


CASES = {"two_writers": two_writers,
         "writer_outlives_request": writer_outlives_request,
         "reader_and_writer": reader_and_writer}


def application(environ, start_response):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    token = q.get("token", ["none"])[0]
    return CASES[q["case"][0]](environ, start_response, q, token)

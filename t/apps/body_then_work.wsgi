# body_then_work.wsgi - ?case=NAME&delay=S[&token=T]: a response whose
# whole Content-Length is handed over before the application is done
# (PEP 3333: no block may wait for what comes after it).  Notes go to
# $PYW_STATE/btw-<token>, a line each.
import os
import time
from urllib.parse import parse_qs

TEXT = [("Content-Type", "text/plain")]
CHUNK = b"0123456789\n"


def note(environ, q, text):
    if q.get("token"):
        path = os.path.join(environ["PYW_STATE"], "btw-" + q["token"])
        with open(path, "a") as f:
            f.write(text + "\n")


def gen_tail(environ, start_response, q):
    """n chunks, the whole Content-Length, then work before the generator
    ends (a streaming view's cleanup after its last yield)."""
    n = int(q.get("n", "3"))
    start_response("200 OK", TEXT + [("Content-Length",
                                      str(n * len(CHUNK)))])

    def gen():
        for i in range(n):
            yield CHUNK
        time.sleep(q["delay"])
    return gen()


class SlowClose:
    """A complete body whose close() takes a while: Werkzeug's
    ClosingIterator with call_on_close(), Django's HttpResponse
    (request_finished)."""

    def __init__(self, environ, q):
        self.environ, self.q = environ, q

    def __iter__(self):
        return iter([CHUNK])

    def close(self):
        note(self.environ, self.q, "close-start")
        time.sleep(self.q["delay"])


def slow_close(environ, start_response, q):
    start_response("200 OK", TEXT + [("Content-Length", str(len(CHUNK)))])
    return SlowClose(environ, q)


def write_then_work(environ, start_response, q):
    """write() of the whole Content-Length, then work before returning."""
    write = start_response("200 OK", TEXT + [("Content-Length",
                                              str(len(CHUNK)))])
    write(CHUNK)
    time.sleep(q["delay"])
    return []


def raise_after_full(environ, start_response, q):
    """The whole Content-Length yielded, then the generator raises after
    `delay` seconds."""
    start_response("200 OK", TEXT + [("Content-Length", str(len(CHUNK)))])

    def gen():
        yield CHUNK
        time.sleep(q["delay"])
        raise RuntimeError("pyw-secret-raise_after_full")
    return gen()


def past_content_length(environ, start_response, q):
    """The whole Content-Length yielded, then, after `delay` seconds,
    one block more."""
    start_response("200 OK", TEXT + [("Content-Length", str(len(CHUNK)))])

    def gen():
        yield CHUNK
        time.sleep(q["delay"])
        yield b"pyw-secret-past-content-length"
    return gen()


CASES = {"gen_tail": gen_tail, "slow_close": slow_close,
         "write_then_work": write_then_work,
         "raise_after_full": raise_after_full,
         "past_content_length": past_content_length}


def application(environ, start_response):
    q = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    q["delay"] = float(q.get("delay", "0"))
    return CASES[q["case"]](environ, start_response, q)

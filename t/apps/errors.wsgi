# errors.wsgi - application faults, one per ?case=NAME[&token=T].
#
# Every message an application raises carries "pyw-secret-<case>", so a
# test can check it reaches the error log and never the response.
# close() of the iterables below writes <PYW_STATE>/close-<token>.
import os
import sys
import time
from urllib.parse import parse_qs

TEXT = [("Content-Type", "text/plain")]


def state_dir(environ):
    return environ.get("PYW_STATE") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "state")


class ClosingIter:
    """Yields `count` chunks `delay` s apart; raises after `raise_after`
    chunks; close() records itself in a file."""

    def __init__(self, path, count=3, delay=0.0, raise_after=None):
        self.path, self.count, self.delay = path, count, delay
        self.raise_after, self.sent = raise_after, 0

    def __iter__(self):
        return self

    def __next__(self):
        if self.raise_after is not None and self.sent >= self.raise_after:
            raise RuntimeError("pyw-secret-close_raise")
        if self.sent >= self.count:
            raise StopIteration
        if self.sent and self.delay:
            time.sleep(self.delay)
        self.sent += 1
        return b"chunk %04d\n" % self.sent

    def close(self):
        with open(self.path, "w") as f:
            f.write("closed after %d\n" % self.sent)


class CloseRaises:
    """A complete body whose close() raises (a failing cleanup, such as a
    Django request_finished handler)."""

    def __init__(self, body):
        self.body = body

    def __iter__(self):
        return iter([self.body])

    def close(self):
        raise RuntimeError("pyw-secret-close_itself")


def close_itself_raises(cl):
    def app(environ, start_response):
        start_response("200 OK", TEXT + ([("Content-Length", "2")]
                                         if cl else []))
        return CloseRaises(b"ab")
    return app


def bad_start(status, headers):
    def app(environ, start_response):
        start_response(status, headers)
        return [b"should not be sent\n"]
    return app


def second_call(environ, start_response):
    start_response("200 OK", TEXT)
    try:
        start_response("200 OK", TEXT)
    except Exception as e:
        return [("raised %s" % type(e).__name__).encode()]
    return [b"not raised"]


def call_signatures(environ, start_response):
    """start_response's arguments by keyword; wrong calls raise TypeError
    and change nothing."""
    out = []
    for args, kw in (((), {}), (("200 OK",), {}),
                     (("200 OK", TEXT, None, None), {}),
                     (("200 OK", TEXT), {"bogus": 1}),
                     (("200 OK", TEXT), {"status": "201 Twice"})):
        try:
            start_response(*args, **kw)
            out.append("accepted")
        except TypeError:
            out.append("TypeError")
    write = start_response(status="202 By Keyword",
                           response_headers=TEXT, exc_info=None)
    write((" ".join(out) + "\n").encode())
    return [b"written by " + type(write).__name__.encode()]


def excinfo_before_headers(environ, start_response):
    start_response("200 OK", TEXT)
    try:
        raise ValueError("pyw-secret-excinfo_before_headers")
    except ValueError:
        start_response("500 Replaced", TEXT, sys.exc_info())
    return [b"replaced"]


def excinfo_after_headers(environ, start_response):
    start_response("200 OK", TEXT)

    def gen():
        yield b"first\n"
        time.sleep(0.3)             # the headers surely reached the client
        try:
            raise ValueError("pyw-secret-excinfo_after_headers")
        except ValueError:
            start_response("500 Too Late", TEXT, sys.exc_info())
        yield b"not re-raised\n"
    return gen()


def excinfo_after_empty(environ, start_response):
    # Only empty strings so far: the headers have not been sent (PEP 3333),
    # so start_response with exc_info may still replace them.
    start_response("200 OK", TEXT)

    def gen():
        yield b""
        try:
            raise ValueError("pyw-secret-excinfo_after_empty")
        except ValueError:
            start_response("500 Replaced Late", TEXT, sys.exc_info())
        yield b"replaced late"
    return gen()


def excinfo_malformed(environ, start_response):
    """After the headers, exc_info tuples that are no exception's: each
    must raise TypeError (restored as given, (1, 2, 3) crashed the daemon
    at a later request's error)."""
    start_response("200 OK", TEXT)

    def gen():
        yield b"first\n"
        time.sleep(0.2)             # the headers surely reached the client
        seen = []
        for ei in ((1, 2, 3), ("ValueError", "v", None),
                   (ValueError, ValueError("v"), "not a traceback")):
            try:
                start_response("500 Err", TEXT, ei)
                seen.append("accepted")
            except BaseException as e:
                seen.append(type(e).__name__)
        yield (" ".join(seen) + "\n").encode()
    return gen()


def raise_in_iter(cl):
    def app(environ, start_response):
        start_response("200 OK", TEXT + ([("Content-Length", "1000")]
                                         if cl else []))

        def gen():
            yield b"x" * 100
            time.sleep(0.3)         # the headers surely reached the client
            raise RuntimeError("pyw-secret-raise_in_iter")
        return gen()
    return app


def sized(cl, parts):
    def app(environ, start_response):
        start_response("200 OK", TEXT + [("Content-Length", str(cl))])
        return [b"y" * n for n in parts]
    return app


def write_callable(environ, start_response):
    write = start_response("200 OK", TEXT)
    write(b"part1,")
    write(b"part2,")
    return [b"part3"]


def write_then_gen(environ, start_response):
    write = start_response("200 OK", TEXT)
    write(b"w1,")

    def gen():
        yield b"g1,"
        yield b"g2"
    return gen()


def raise_before(environ, start_response):
    raise RuntimeError("pyw-secret-raise_before")


def raise_after_start(environ, start_response):
    start_response("200 OK", TEXT)
    raise RuntimeError("pyw-secret-raise_after_start")


def no_start_response(environ, start_response):
    return [b"no start_response\n"]


def no_start_response_empty(environ, start_response):
    return []


def str_body(environ, start_response):
    start_response("200 OK", TEXT)
    return ["a str, not bytes"]


def none_result(environ, start_response):
    start_response("200 OK", TEXT)
    return None


def closing(environ, start_response, **kw):
    token = parse_qs(environ["QUERY_STRING"]).get("token", ["none"])[0]
    path = os.path.join(state_dir(environ), "close-" + token)
    start_response("200 OK", TEXT)
    return ClosingIter(path, **kw)


def wsgi_errors(environ, start_response):
    token = parse_qs(environ["QUERY_STRING"]).get("token", ["none"])[0]
    err = environ["wsgi.errors"]
    err.write("pyw-errors-marker-%s\n" % token)
    err.writelines(["pyw-errors-lines-%s\n" % token])
    err.flush()
    start_response("200 OK", TEXT)
    return [b"ok"]


KEPT = []


def unterminated(environ, start_response):
    """Text without a newline: to wsgi.errors, whose environ is kept (as a
    framework's request object or a reference cycle would), and to
    sys.stderr; then a line with a NUL in it."""
    token = parse_qs(environ["QUERY_STRING"]).get("token", ["none"])[0]
    environ["wsgi.errors"].write("before NUL\0after NUL %s\n" % token)
    environ["wsgi.errors"].write("pyw-kept-%s" % token)
    KEPT[:] = [environ]
    print("pyw-partial-%s" % token, end="", file=sys.stderr)
    start_response("200 OK", TEXT)
    return [b"ok"]


def print_stdio(environ, start_response):
    token = parse_qs(environ["QUERY_STRING"]).get("token", ["none"])[0]
    print("pyw-stdout-marker-%s" % token)
    sys.stdout.flush()
    print("pyw-stderr-marker-%s" % token, file=sys.stderr)
    sys.stderr.flush()
    start_response("200 OK", TEXT)
    return [b"ok"]


CASES = {
    "raise_before": raise_before,
    "unterminated": unterminated,
    "raise_after_start": raise_after_start,
    "raise_in_iter": raise_in_iter(cl=False),
    "raise_in_iter_cl": raise_in_iter(cl=True),
    "bad_status_text": bad_start("OK 200", TEXT),
    "bad_status_int": bad_start(200, TEXT),
    "bad_status_bytes": bad_start(b"200 OK", TEXT),
    "header_name_bytes": bad_start("200 OK", [(b"X-Bytes", "v")]),
    "header_value_bytes": bad_start("200 OK", [("X-Bytes", b"v")]),
    "header_value_int": bad_start("200 OK", [("X-Int", 1)]),
    "header_not_tuple": bad_start("200 OK", ["X-Bad: 1"]),
    "header_nonlatin1": bad_start("200 OK", [("X-Euro", "\u20ac")]),
    "header_crlf_value": bad_start("200 OK", [("X-In", "a\r\nX-Evil: 1")]),
    "header_lf_value": bad_start("200 OK", [("X-In", "a\nX-Evil: 1")]),
    "header_crlf_name": bad_start("200 OK", [("X-In\r\nX-Evil", "1")]),
    "hop_connection": bad_start("200 OK", [("Connection", "close")]),
    "hop_transfer_encoding": bad_start("200 OK",
                                       [("Transfer-Encoding", "chunked")]),
    "hop_keep_alive": bad_start("200 OK", [("Keep-Alive", "timeout=5")]),
    "hop_upgrade": bad_start("200 OK", [("Upgrade", "h2c")]),
    "hop_proxy_authenticate": bad_start("407 Proxy Authentication Required",
                                        [("Proxy-Authenticate", "Basic")]),
    "status_100": bad_start("100 Continue", TEXT),
    "status_103": bad_start("103 Early Hints", TEXT),
    "header_ctl_value": bad_start("200 OK", [("X-Ctl", "a\x01b")]),
    "header_del_value": bad_start("200 OK", [("X-Del", "a\x7fb")]),
    "header_ctl_type": bad_start("200 OK", [("Content-Type",
                                              "text/html\x01")]),
    "no_start_response": no_start_response,
    "no_start_response_empty": no_start_response_empty,
    "str_body": str_body,
    "none_result": none_result,
    "short_body": sized(100, [10]),
    "long_body_one": sized(10, [100]),
    "long_body_split": sized(10, [5, 95]),
    "write_callable": write_callable,
    "write_then_gen": write_then_gen,
    "second_call": second_call,
    "call_signatures": call_signatures,
    "excinfo_before_headers": excinfo_before_headers,
    "excinfo_after_headers": excinfo_after_headers,
    "excinfo_after_empty": excinfo_after_empty,
    "excinfo_malformed": excinfo_malformed,
    "close_normal": lambda e, s: closing(e, s, count=3),
    "close_raise": lambda e, s: closing(e, s, count=3, raise_after=1),
    "close_itself_raises": close_itself_raises(cl=False),
    "close_itself_raises_cl": close_itself_raises(cl=True),
    "close_disconnect": lambda e, s: closing(e, s, count=400, delay=0.025),
    "wsgi_errors": wsgi_errors,
    "print_stdio": print_stdio,
}


def application(environ, start_response):
    case = parse_qs(environ.get("QUERY_STRING", "")).get("case", [""])[0]
    return CASES[case](environ, start_response)

"""Request bodies: every wsgi.input read style, Content-Length and chunked
uploads (read whole first by default, or streamed with
PyWorkerChunkedRequest Stream), PyWorkerChunkedRequest, LimitRequestBody,
Expect: 100-continue, streaming (never buffered whole), and bodies an app
leaves unread.  t/test_chunked.py has the rest of chunked bodies."""
import hashlib
import io
import json
import os
import socket
import time

import pytest

from pyworker_t import codes, rawhttp
from pyworker_t.httpd import T_DIR

CONF = """
PyWorkerDaemonProcess inp threads=4 display-name=pyw-inp
PyWorkerScriptAlias /input {apps}/input.wsgi process-group=inp
PyWorkerScriptAlias /echo {apps}/echo.wsgi process-group=inp
PyWorkerScriptAlias /hello {apps}/hello.wsgi process-group=inp
PyWorkerScriptAlias /nochunk {apps}/echo.wsgi process-group=inp
PyWorkerScriptAlias /limited {apps}/echo.wsgi process-group=inp
PyWorkerScriptAlias /limited-noread {apps}/status_codes.wsgi \
    process-group=inp
PyWorkerScriptAlias /stream/input {apps}/input.wsgi process-group=inp
PyWorkerScriptAlias /stream/echo {apps}/echo.wsgi process-group=inp
<Location /stream>
    PyWorkerChunkedRequest Stream
</Location>
<Location /nochunk>
    PyWorkerChunkedRequest Off
</Location>
<Location /limited>
    LimitRequestBody 1000
</Location>
<Location /limited-noread>
    LimitRequestBody 1000
</Location>
PyWorkerScriptAlias /toobig {apps}/echo.wsgi process-group=inp
<Location /toobig>
    LimitRequestBody 1000
    ErrorDocument 413 /echo?page=too-big
</Location>
"""


def _load_app(name):
    path = os.path.join(T_DIR, "apps", name)
    ns = {"__file__": path, "__name__": "pyw_t_app"}
    with open(path) as f:
        exec(compile(f.read(), path, "exec"), ns)
    return ns


_INPUT_APP = _load_app("input.wsgi")
PIECES = _INPUT_APP["pieces"]
READLINE_SEQ = _INPUT_APP["readline_seq"]

LINES_BODY = (b"short\n" + b"\n" + b"x" * 200000 + b"\n" + b"middle\r\n"
              + b"".join(b"line %d\n" % i for i in range(2000))
              + b"y" * 70000 + b"\n" + b"tail without newline")


def chunked(body, sizes=(1, 7, 4096, 65536, 100, 100000)):
    out, i, k = [], 0, 0
    while i < len(body):
        n = sizes[k % len(sizes)]
        out.append(b"%x\r\n%s\r\n" % (len(body[i:i + n]), body[i:i + n]))
        i, k = i + n, k + 1
    return b"".join(out) + b"0\r\n\r\n"


def post(httpd, path, body, te_chunked=False, headers=None, timeout=20):
    hdrs = list((headers or {}).items())
    if te_chunked:
        hdrs.append(("Transfer-Encoding", "chunked"))
        data = chunked(body)
    else:
        data = body
        hdrs.append(("Content-Length", str(len(body))))
    return rawhttp.request(httpd.port, "POST", path, hdrs, data,
                           timeout=timeout)


def expected(body, mode, n, has_length=True):
    if mode == "read_more":     # the app reads CONTENT_LENGTH + 1000
        n = (len(body) if has_length else 0) + 1000
    ps = list(PIECES(io.BytesIO(body), mode, n))
    return {"pieces": len(ps), "longest": max(map(len, ps), default=0),
            "unterminated": sum(not p.endswith(b"\n") for p in ps)}


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/hello"])


MODES = [("read", 0), ("read_n", 1000), ("read_n", 65536),
         ("readline", 0), ("readline_n", 100), ("readlines", 0),
         ("readlines_hint", 5000), ("iter", 0), ("read_more", 0)]


# chunked: read whole by Apache first, so CONTENT_LENGTH is set;
# chunked-stream: PyWorkerChunkedRequest Stream, no CONTENT_LENGTH.
@pytest.mark.parametrize("how", ["content-length", "chunked",
                                 "chunked-stream"])
@pytest.mark.parametrize("mode,n", MODES, ids=["%s-%d" % m for m in MODES])
def test_input_read_styles(httpd, mode, n, how):
    stream = how == "chunked-stream"
    r = post(httpd, "%s/input?mode=%s&n=%d" % ("/stream" if stream else "",
                                               mode, n), LINES_BODY,
             how != "content-length")
    assert r.status == 200, r.body[:300]
    out = json.loads(r.body)
    assert out["len"] == len(LINES_BODY)
    assert out["sha256"] == hashlib.sha256(LINES_BODY).hexdigest()
    exp = expected(LINES_BODY, mode, n, has_length=not stream)
    assert (out["pieces"], out["longest"], out["unterminated"]) == \
        (exp["pieces"], exp["longest"], exp["unterminated"])
    assert out["after"] == ["", "", ""], "reads past the end must be b''"
    assert out["input_terminated"] is True
    if stream:
        assert out["content_length"] in (None, "")
    else:
        assert out["content_length"] == str(len(LINES_BODY))


# wsgi.input's read-ahead buffer: 64 KiB first, filled by up to that
# much at a time (PYW_INPUT_FILL, src/python/pyw_input_read.c).
BUF = 64 * 1024


def readline_seq(httpd, body, limits, te_chunked=False, sizes=None):
    """What readline(limit) for each limit (None: no limit), then
    readline() until b"", returned in the daemon, as result lengths,
    checked against io.BytesIO.  PEP 3333 does not require the size
    argument, but multipart parsers pass it, and we offer it with the
    io semantics: at most size bytes, ending after the first b"\n"."""
    spec = ",".join("n" if x is None else str(x) for x in limits)
    hdrs = []
    if te_chunked:
        data = chunked(body, sizes) if sizes else chunked(body)
        hdrs.append(("Transfer-Encoding", "chunked"))
    else:
        data = body
        hdrs.append(("Content-Length", str(len(body))))
    r = rawhttp.request(httpd.port, "POST", "/input?mode=readline_seq&"
                        "limits=" + spec, hdrs, data, timeout=20)
    assert r.status == 200, r.body[:300]
    out = json.loads(r.body)
    want = [len(d) for d in READLINE_SEQ(io.BytesIO(body), limits)]
    assert out["lengths"] == want, (limits, out["lengths"][:20], want[:20])
    assert out["sha256"] == hashlib.sha256(body).hexdigest()
    assert out["after"] == ["", "", ""]
    return out["lengths"]


def test_readline_limit_zero_and_one(httpd):
    body = b"ab\n\ncd\nlast"
    lengths = readline_seq(httpd, body, [0, 1, 0, 1, 1, 1, 0, 1, 5, 1, 0,
                                         10, 0, 1])
    # readline(0) is b"" and consumes nothing; readline(1) one byte,
    # a newline included.
    assert lengths[:8] == [0, 1, 0, 1, 1, 1, 0, 1]
    # At the end of the body: b"" whatever the limit.
    assert lengths[-3:] == [0, 0, 0]


@pytest.mark.parametrize("te_chunked", [False, True],
                         ids=["content-length", "chunked"])
@pytest.mark.parametrize("newline_at", [BUF - 2, BUF - 1, BUF, BUF + 1])
@pytest.mark.parametrize("limit", [BUF - 1, BUF, BUF + 1])
def test_readline_limit_at_the_buffer_boundary(httpd, newline_at, limit,
                                               te_chunked):
    """Lines that straddle the first read-ahead buffer, limits on either
    side of its size; chunked, the chunks end at the boundary too."""
    body = (b"a" * newline_at + b"\n" + b"b" * (BUF + 3) + b"\n"
            + b"c" * (2 * BUF) + b"\ntail")
    readline_seq(httpd, body, [limit, limit, 1, limit, limit, limit],
                 te_chunked, sizes=(BUF - 1, 1, BUF, BUF + 1))


@pytest.mark.parametrize("te_chunked", [False, True],
                         ids=["content-length", "chunked"])
def test_readline_without_limit_returns_lines_longer_than_the_buffer(
        httpd, te_chunked):
    lines = [b"x" * (3 * BUF + 7) + b"\n", b"y" * (2 * BUF - 1) + b"\n",
             b"\n", b"z" * BUF + b"\n", b"w" * (BUF + 1)]
    lengths = readline_seq(httpd, b"".join(lines), [None], te_chunked)
    assert lengths == [len(l) for l in lines] + [0]


def test_read_one_byte_at_a_time(httpd):
    body = bytes(range(256)) * 20
    r = post(httpd, "/input?mode=read_n&n=1", body)
    out = json.loads(r.body)
    assert out["len"] == len(body) and out["pieces"] == len(body)


@pytest.mark.parametrize("mode", ["read", "readline", "readlines", "iter",
                                  "read_n"])
def test_no_body_reads_eof_at_once(httpd, mode):
    t0 = time.monotonic()
    r = rawhttp.request(httpd.port, "GET", "/input?mode=%s&n=10" % mode)
    assert r.status == 200
    assert time.monotonic() - t0 < 3
    out = json.loads(r.body)
    assert out["len"] == 0 and out["after"] == ["", "", ""]
    r = post(httpd, "/input?mode=%s&n=10" % mode, b"")
    assert r.status == 200 and json.loads(r.body)["len"] == 0


def test_chunked_upload_works_by_default(httpd):
    body = os.urandom(300000)
    r = post(httpd, "/echo", body, te_chunked=True)
    assert r.status == 200
    out = json.loads(r.body)
    assert out["len"] == len(body)
    assert out["sha256"] == hashlib.sha256(body).hexdigest()
    assert out["content_length"] == str(len(body))


def test_chunked_upload_refused_with_411_when_off(httpd):
    r = post(httpd, "/nochunk", b"hello", te_chunked=True)
    assert r.status == 411
    r = post(httpd, "/nochunk", b"hello")
    assert r.status == 200 and json.loads(r.body)["len"] == 5


@pytest.mark.parametrize("te_chunked", [False, True],
                         ids=["content-length", "chunked"])
def test_limit_request_body_gives_413(httpd, te_chunked):
    # echo.wsgi does not catch the OSError its read() raises: traceback.
    # (A chunked body is read whole before the app runs: 413 and PYW0150.)
    httpd.log.expect(r"AH\d+", codes=[codes.APP_EXCEPTION])
    r = post(httpd, "/limited", b"z" * 2000, te_chunked)
    assert r.status == 413
    r = post(httpd, "/limited", b"z" * 500, te_chunked)
    assert r.status == 200 and json.loads(r.body)["len"] == 500


def test_limit_request_body_holds_when_the_app_reads_nothing(httpd):
    """A Content-Length over LimitRequestBody is 413 before the app runs,
    as under mod_wsgi: an app that did not read the body ran (200), and
    the unread body then cost the client its keep-alive connection (the
    next request on it got no answer)."""
    httpd.log.expect(r"PYW0150")
    mark = httpd.log.mark()
    with rawhttp.Conn(httpd.port) as c:
        r = c.request("POST", "/limited-noread/200",
                      [("Content-Length", "5000")], b"z" * 5000)
        assert r.status == 413
    assert httpd.log.wait_for(r"PYW0150.*LimitRequestBody 1000.*"
                              r"Content-Length", since=mark)
    with rawhttp.Conn(httpd.port) as c:
        r = c.request("POST", "/limited-noread/200",
                      [("Content-Length", "500")], b"z" * 500)
        assert r.status == 200
        assert c.request("GET", "/hello").status == 200


@pytest.mark.parametrize("chunked", [False, True])
def test_a_body_refused_as_too_large_never_reaches_the_error_page(
        httpd, chunked):
    """ErrorDocument 413 pointing at an application: Apache runs it as an
    internal redirect (GET) with the original's headers, at the default
    LimitRequestBody.  The page was handed the body just refused as too
    large, to read at its own limit (up to 1 GiB where the site allowed
    1000 bytes).  Under mod_wsgi its wsgi.input is empty; now too."""
    httpd.log.expect(r"PYW0150")
    body = b"q" * 2000
    headers = [("Content-Length", "2000")]
    if chunked:
        body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        headers = [("Transfer-Encoding", "chunked")]
    with rawhttp.Conn(httpd.port) as c:
        r = c.request("POST", "/toobig/upload", headers, body)
    assert r.status == 413
    page = json.loads(r.body)
    assert page["method"] == "GET" and page["len"] == 0, page
    assert page["content_length"] in (None, "", "0"), page


def test_expect_100_continue_sent_when_app_reads(httpd):
    body = b"continue me"
    with rawhttp.Conn(httpd.port) as c:
        c.send(rawhttp.Conn.build("POST", "/echo?raw=1", [
            ("Content-Length", str(len(body))),
            ("Expect", "100-continue")]))
        c.sock.settimeout(5)
        first = c.sock.recv(100)
        assert first.startswith(b"HTTP/1.1 100"), first
        c.buf = first.split(b"\r\n\r\n", 1)[1]
        c.send(body)
        r = c.read_response()
        assert r.status == 200 and r.body == body


def test_expect_100_continue_not_sent_when_app_does_not_read(httpd):
    with rawhttp.Conn(httpd.port) as c:
        c.send(rawhttp.Conn.build("POST", "/hello", [
            ("Content-Length", "100000"), ("Expect", "100-continue")]))
        r = c.read_response()
        assert r.status == 200 and r.body == b"Hello, World!\n"
        assert r.interim == [], "100 Continue sent though the app never read"


def test_upload_streams_to_app_before_body_is_complete(httpd):
    half = b"a" * 200000
    with rawhttp.Conn(httpd.port, timeout=20) as c:
        c.send(rawhttp.Conn.build("POST", "/echo", [
            ("Content-Length", str(2 * len(half)))]) + half)
        time.sleep(1.5)
        second_sent = time.time()
        c.send(half)
        r = c.read_response()
    assert r.status == 200
    out = json.loads(r.body)
    assert out["len"] == 2 * len(half)
    assert out["first_read_done"] < second_sent - 0.5, \
        "the app saw no body until the client had sent all of it"


def test_chunked_upload_streams_too_with_stream_mode(httpd):
    part = b"b" * 100000
    with rawhttp.Conn(httpd.port, timeout=20) as c:
        c.send(rawhttp.Conn.build("POST", "/stream/echo", [
            ("Transfer-Encoding", "chunked")])
            + b"%x\r\n%s\r\n" % (len(part), part))
        time.sleep(1.5)
        second_sent = time.time()
        c.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(part), part))
        r = c.read_response()
    out = json.loads(r.body)
    assert out["len"] == 2 * len(part)
    assert out["first_read_done"] < second_sent - 0.5


@pytest.mark.parametrize("path", ["/hello", "/input?mode=partial&n=10",
                                  "/input?mode=none"])
def test_unread_body_does_not_leak_into_next_request(httpd, path):
    big = b"U" * 1000000
    with rawhttp.Conn(httpd.port, timeout=20) as c:
        r = c.request("POST", path, body=big)
        assert r.status == 200 and r.complete
        if r.header("Connection", "").lower() != "close":
            r = c.request("POST", "/echo?raw=1", body=b"second request")
            assert r.status == 200 and r.body == b"second request"
    # The daemon side is clean too: many requests, each sees its own body.
    for i in range(20):
        body = b"req %d " % i * (i + 1)
        r = post(httpd, "/echo?raw=1", body)
        assert r.status == 200 and r.body == body, i


def test_client_gone_mid_upload_harms_nothing_else(httpd):
    httpd.log.expect(r"AH\d+", codes=[codes.APP_EXCEPTION,
                                       codes.APACHE_REQUEST])
    s = socket.create_connection(("127.0.0.1", httpd.port), timeout=10)
    s.sendall(rawhttp.Conn.build("POST", "/echo", [
        ("Content-Length", "1000000")]) + b"c" * 1000)
    time.sleep(0.5)
    s.close()
    time.sleep(0.5)
    for _ in range(10):
        r = post(httpd, "/echo?raw=1", b"after")
        assert r.status == 200 and r.body == b"after"


def test_pipelined_requests_each_get_their_own_body(httpd):
    reqs = [("POST", "/echo?raw=1", [("Content-Length", "5")], b"first"),
            ("GET", "/hello", [], None),
            ("POST", "/echo?raw=1", [("Transfer-Encoding", "chunked")],
             b"6\r\nsecond\r\n0\r\n\r\n"),
            ("POST", "/input?mode=readline", [("Content-Length", "12")],
             b"line1\nline2\n")]
    with rawhttp.Conn(httpd.port, timeout=15) as c:
        c.send(b"".join(rawhttp.Conn.build(m, p, h, b)
                        for m, p, h, b in reqs))
        got = [c.read_response(m) for m, _, _, _ in reqs]
    assert [r.status for r in got] == [200] * 4, got
    assert got[0].body == b"first"
    assert got[1].body == b"Hello, World!\n"
    assert got[2].body == b"second"
    out = json.loads(got[3].body)
    assert out["len"] == 12 and out["pieces"] == 2

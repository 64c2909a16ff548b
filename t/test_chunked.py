"""Chunked request bodies (issue 11): PyWorkerChunkedRequest On (the
default) reads the body whole first and gives the application
CONTENT_LENGTH, so frameworks that ignore wsgi.input_terminated (Django)
see it too; Stream passes it on as it comes; Off answers 411;
PyWorkerChunkedRequestLimit bounds what On reads (413, PYW0150).  Bodies
past 64 KiB go to a temporary file without a name in Apache's TMPDIR."""
import gzip
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

from pyworker_t import codes, procs, rawhttp
from pyworker_t.httpd import configtest

CONF = """
Protocols h2c http/1.1
PyWorkerDaemonProcess chk threads=4 display-name=pyw-chk
PyWorkerDaemonProcess django threads=2 display-name=pyw-chk-django
PyWorkerDaemonProcess flask threads=2 display-name=pyw-chk-flask
PyWorkerDaemonProcess pyramid threads=2 display-name=pyw-chk-pyramid
PyWorkerScriptAlias /raw {apps}/chunked.wsgi process-group=chk
PyWorkerScriptAlias /stream {apps}/chunked.wsgi process-group=chk
PyWorkerScriptAlias /off {apps}/chunked.wsgi process-group=chk
PyWorkerScriptAlias /small {apps}/chunked.wsgi process-group=chk
PyWorkerScriptAlias /lrb {apps}/chunked.wsgi process-group=chk
PyWorkerScriptAlias /django {apps}/django_site/site.wsgi process-group=django
PyWorkerScriptAlias /flask {apps}/flask_app/app.wsgi process-group=flask
PyWorkerScriptAlias /pyramid {apps}/pyramid_app.wsgi process-group=pyramid
<Location /stream>
    PyWorkerChunkedRequest Stream
</Location>
<Location /off>
    PyWorkerChunkedRequest Off
</Location>
<Location /small>
    PyWorkerChunkedRequestLimit 1M
</Location>
<Location /lrb>
    LimitRequestBody 100000
</Location>
PyWorkerScriptAlias /lrb0 {apps}/chunked.wsgi process-group=chk
<Location /lrb0>
    LimitRequestBody 100000
    PyWorkerChunkedRequestLimit 0
</Location>
PyWorkerScriptAlias /gz {apps}/chunked.wsgi process-group=chk
PyWorkerScriptAlias /gzstream {apps}/chunked.wsgi process-group=chk
<Location /gz>
    SetInputFilter DEFLATE
</Location>
<Location /gzstream>
    SetInputFilter DEFLATE
    PyWorkerChunkedRequest Stream
</Location>
"""

MB = 1024 * 1024
SPOOLED = 152           # debug: chunked body read whole (size, where)
TOO_LARGE = 150         # warn: over the limit; 413
BODY_UNREADABLE = 117   # info: request body unreadable


@pytest.fixture(scope="module")
def spool_dir():
    d = tempfile.mkdtemp(prefix="pyw-spool-", dir="/tmp")
    os.chmod(d, 0o1777)     # Apache's children may run as www-data
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def httpd(apache, spool_dir):
    return apache(CONF, env={"TMPDIR": spool_dir},
                  ready=["/raw", "/django/", "/flask/", "/pyramid/"])


def body_of(n):
    """n bytes that differ from one offset to the next."""
    block = hashlib.sha256(b"%d" % n).digest() * 2048       # 64 KiB
    return (block * (n // len(block) + 1))[:n]


def chunked(body, sizes=(1, 7, 4096, 65536, 100, 100000, 8192)):
    out, i, k = [], 0, 0
    while i < len(body):
        n = sizes[k % len(sizes)]
        out.append(b"%x\r\n" % len(body[i:i + n]))
        out.append(body[i:i + n])
        out.append(b"\r\n")
        i, k = i + n, k + 1
    out.append(b"0\r\n\r\n")
    return b"".join(out)


def post_chunked(httpd, path, body, headers=(), timeout=60):
    return rawhttp.request(httpd.port, "POST", path,
                           [("Transfer-Encoding", "chunked")]
                           + list(headers), chunked(body), timeout=timeout)


def spool_fds(httpd, spool_dir):
    """Descriptors of Apache's children on files in the spool dir."""
    found = []
    for pid in httpd.children():
        for fd, target in procs.fds(pid).items():
            if target.startswith(spool_dir + "/"):
                found.append((pid, fd, target))
    return found


SIZES = [0, 1, 64 * 1024, 50 * MB]
SIZE_IDS = ["0", "1", "64K", "50M"]
APPS = {"raw": "/raw", "django": "/django/upload/",
        "flask": "/flask/upload", "pyramid": "/pyramid/upload"}


# -- On (default): every framework gets the body and CONTENT_LENGTH ------
@pytest.mark.parametrize("size", SIZES, ids=SIZE_IDS)
@pytest.mark.parametrize("app", sorted(APPS))
def test_chunked_body_reaches_every_framework_with_content_length(
        httpd, spool_dir, app, size):
    body = body_of(size)
    # The frameworks' whole-body accessors for small bodies (Django's
    # request.body refuses more than 2.5 MB), piecewise reads for big ones.
    via = "body" if size <= MB else "read"
    mark = httpd.log.mark()
    t0 = time.monotonic()
    r = post_chunked(httpd, "%s?via=%s" % (APPS[app], via), body)
    assert r.status == 200, r.body[:500]
    out = json.loads(r.body)
    assert out["len"] == size, "the app saw %d of %d bytes" % (out["len"],
                                                                size)
    assert out["sha256"] == hashlib.sha256(body).hexdigest()
    assert str(out["content_length"]) == str(size)
    assert time.monotonic() - t0 < 60
    assert httpd.log.wait_for(r"PYW0%d\b.* %d bytes" % (SPOOLED, size),
                              since=mark), "no PYW0152 line for the spool"
    assert os.listdir(spool_dir) == []


def test_raw_app_environ_when_spooled(httpd):
    body = body_of(300000)
    out = json.loads(post_chunked(httpd, "/raw", body).body)
    assert out["how"] == "content_length"
    assert out["content_length"] == "300000"
    assert out["len"] == 300000
    # To the app it is a plain body of known size.
    assert out["transfer_encoding"] is None
    assert out["input_terminated"] is True


def test_big_body_is_spooled_to_an_anonymous_file(httpd, spool_dir):
    """While the body arrives, one child holds a file in TMPDIR that has
    no name there; when the request ends the descriptor is gone."""
    part = body_of(MB)
    with rawhttp.Conn(httpd.port, timeout=30) as c:
        c.send(rawhttp.Conn.build("POST", "/raw", [
            ("Transfer-Encoding", "chunked")])
            + b"%x\r\n%s\r\n" % (len(part), part))
        deadline = time.monotonic() + 10
        held = []
        while not held and time.monotonic() < deadline:
            held = spool_fds(httpd, spool_dir)
            time.sleep(0.05)
        assert held, "no child has a spool file open"
        assert all(t.endswith("(deleted)") for _, _, t in held), held
        assert os.listdir(spool_dir) == []
        c.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(part), part))
        r = c.read_response("POST")
    out = json.loads(r.body)
    assert out["len"] == 2 * MB and out["content_length"] == str(2 * MB)
    deadline = time.monotonic() + 5
    while spool_fds(httpd, spool_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert spool_fds(httpd, spool_dir) == []


def test_expect_100_continue_with_a_spooled_body(httpd):
    body = b"continue me, chunked"
    with rawhttp.Conn(httpd.port, timeout=10) as c:
        c.send(rawhttp.Conn.build("POST", "/raw", [
            ("Transfer-Encoding", "chunked"), ("Expect", "100-continue")]))
        first = c.sock.recv(100)
        assert first.startswith(b"HTTP/1.1 100"), first
        c.buf = first.split(b"\r\n\r\n", 1)[1]
        c.send(chunked(body))
        r = c.read_response("POST")
    out = json.loads(r.body)
    assert r.status == 200 and out["len"] == len(body)
    assert out["content_length"] == str(len(body))


def test_keepalive_and_pipelining_after_spooled_bodies(httpd):
    bodies = [body_of(n) for n in (10, 70000, 0, 200000)]
    reqs = b"".join(rawhttp.Conn.build("POST", "/raw", [
        ("Transfer-Encoding", "chunked")], chunked(b)) for b in bodies)
    with rawhttp.Conn(httpd.port, timeout=20) as c:
        c.send(reqs)
        got = [c.read_response("POST") for _ in bodies]
    for b, r in zip(bodies, got):
        assert r.status == 200
        out = json.loads(r.body)
        assert (out["len"], out["sha256"]) == \
            (len(b), hashlib.sha256(b).hexdigest())


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_http2_body_without_length_reaches_django(httpd):
    """HTTP/2 has no chunked coding: a body without content-length is
    what mod_http2 hands on as chunked, and it is read whole too."""
    body = body_of(300000)
    mark = httpd.log.mark()
    # An upload (-T) from a pipe: curl cannot know the size, so it sends
    # no content-length.  (--data-binary reads the data first, and a
    # newer curl, Debian 13's, then sends its length over HTTP/2.)
    p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge",
                        "-X", "POST", "-T", "-",
                        httpd.url("/django/upload/?via=body")],
                       input=body, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["len"] == len(body)
    assert out["sha256"] == hashlib.sha256(body).hexdigest()
    assert httpd.log.wait_for(r"PYW0%d\b.* %d bytes" % (SPOOLED, len(body)),
                              since=mark)


@pytest.mark.parametrize("size", [1000, 3 * MB], ids=["1K", "3M"])
def test_a_body_an_input_filter_inflates_is_read_whole(httpd, size):
    """SetInputFilter DEFLATE: the client's Content-Length counts the
    gzip bytes.  Before, the application got it as CONTENT_LENGTH and
    wsgi.input ended there: the body was cut, silently."""
    body = os.urandom(size)  # body_of inflates past mod_deflate's ratio limit
    mark = httpd.log.mark()
    r = rawhttp.request(httpd.port, "POST", "/gz",
                        [("Content-Encoding", "gzip")], gzip.compress(body),
                        timeout=30)
    assert r.status == 200, r.body[:300]
    out = json.loads(r.body)
    assert (out["len"], out["content_length"]) == (size, str(size)), out
    assert out["sha256"] == hashlib.sha256(body).hexdigest()
    assert httpd.log.wait_for(r"PYW0%d\b.*changed by an input filter.* "
                              r"%d bytes" % (SPOOLED, size), since=mark)


def test_stream_mode_gives_an_inflated_body_without_content_length(httpd):
    body = os.urandom(300000)
    r = rawhttp.request(httpd.port, "POST", "/gzstream",
                        [("Content-Encoding", "gzip")], gzip.compress(body),
                        timeout=30)
    out = json.loads(r.body)
    assert out["how"] == "terminated" and out["content_length"] in (None,
                                                                     ""), out
    assert out["len"] == len(body)
    assert out["sha256"] == hashlib.sha256(body).hexdigest()


# Text compresses to dynamic Huffman blocks, whose code tables inflate to
# nothing: mod_deflate answers empty brigades while it reads them.
TEXT = b"".join(b"line %d of some text\n" % i for i in range(20000))


@pytest.mark.parametrize("path", ["/gz", "/gzstream"],
                         ids=["spooled", "stream"])
def test_gzip_upload_trickled_by_a_slow_client_is_read(httpd, path):
    """A valid gzip upload whose first 80 bytes come one TCP segment at a
    time (a slow link).  Each read gives mod_deflate a byte of the gzip
    header or Huffman tables, which inflate to nothing, so it answers an
    empty brigade.  Before, 16 empty reads in a row were taken for a
    broken filter: 400 and PYW0117 for a correct body (the app never ran
    when spooled, got OSError in Stream mode).  An empty read that took
    bytes from the client is progress."""
    gz = gzip.compress(TEXT)
    with rawhttp.Conn(httpd.port, timeout=20) as c:
        c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.send(rawhttp.Conn.build(
            "POST", path, [("Content-Encoding", "gzip"),
                           ("Content-Length", str(len(gz)))]))
        for i in range(80):
            c.send(gz[i:i + 1])
            time.sleep(0.01)
        c.send(gz[80:])
        r = c.read_response("POST")
    assert r.status == 200, (r, r.body[:200])
    out = json.loads(r.body)
    assert out["len"] == len(TEXT), out
    assert out["sha256"] == hashlib.sha256(TEXT).hexdigest()


@pytest.mark.parametrize("n", [1, 2, 7])
def test_stream_mode_inflated_body_read_in_small_pieces(httpd, n):
    """Stream mode: wsgi.input.read(1) asked Apache's filters for 1 byte,
    so mod_deflate inflated one compressed byte at a time and often had
    nothing to give; 16 such reads for one READ and the body was aborted
    (400 to the client, OSError to the app).  Apache now asks the filters
    for a block and keeps the surplus for the next READ."""
    gz = gzip.compress(TEXT)
    r = rawhttp.request(httpd.port, "POST", "/gzstream?n=%d" % n,
                        [("Content-Encoding", "gzip")], gz, timeout=120)
    assert r.status == 200, (r, r.body[:200])
    out = json.loads(r.body)
    assert out["len"] == len(TEXT), out
    assert out["sha256"] == hashlib.sha256(TEXT).hexdigest()


def test_http2_upload_with_a_length_is_not_spooled(httpd):
    """Only filters above the protocol count: HTTP/2's own do not."""
    body = body_of(300000)
    mark = httpd.log.mark()
    p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge",
                        "--data-binary", "@-", httpd.url("/raw")],
                       input=body, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert (out["len"], out["how"]) == (len(body), "content_length"), out
    assert httpd.log.find(r"PYW0%d\b" % SPOOLED, since=mark) == []


# -- the limit ------------------------------------------------------------
def send_too_much(httpd, path, body):
    """Send the start of a chunked body (no last-chunk: the client could
    go on for ever) and return the response, which must come anyway."""
    with rawhttp.Conn(httpd.port, timeout=20) as c:
        try:
            c.send(rawhttp.Conn.build("POST", path, [
                ("Transfer-Encoding", "chunked")],
                chunked(body)[:-len(b"0\r\n\r\n")]))
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = c.read_response("POST")
    assert r.ended != "timeout", "Apache waited for the rest of the body"
    return r


def test_body_over_the_limit_gets_413_and_one_log_line(httpd):
    mark = httpd.log.mark()
    r = send_too_much(httpd, "/small", body_of(2 * MB))
    assert r.status == 413
    assert r.header("Connection", "").lower() == "close"
    lines = httpd.log.wait_for(r"PYW0%d\b" % TOO_LARGE, since=mark)
    assert len(lines) == 1, lines
    assert "PyWorkerChunkedRequestLimit" in lines[0]
    assert str(MB) in lines[0]
    assert "group=chk" in lines[0] and "uri=/small" in lines[0]
    # Exactly the limit is fine.
    out = json.loads(post_chunked(httpd, "/small", body_of(MB)).body)
    assert out["len"] == MB


@pytest.mark.parametrize("path", ["/lrb", "/lrb0"])
def test_limit_request_body_still_applies_and_is_named(httpd, path):
    """/lrb0 also says PyWorkerChunkedRequestLimit 0: no limit of its own,
    as LimitRequestBody 0 means (it was "nothing": every chunked body
    but an empty one got 413)."""
    httpd.log.expect(r"AH0159\d")       # Apache's own line, if any
    mark = httpd.log.mark()
    r = send_too_much(httpd, path, body_of(300000))
    assert r.status == 413
    lines = httpd.log.wait_for(r"PYW0%d\b" % TOO_LARGE, since=mark)
    assert len(lines) == 1 and "LimitRequestBody 100000" in lines[0], lines
    out = json.loads(post_chunked(httpd, path, body_of(100000)).body)
    assert out["len"] == 100000


# -- Stream and Off -------------------------------------------------------
@pytest.mark.parametrize("size", [0, 300000, 5 * MB], ids=["0", "300K", "5M"])
def test_stream_mode_passes_the_body_on_without_content_length(httpd, size):
    body = body_of(size)
    mark = httpd.log.mark()
    r = post_chunked(httpd, "/stream", body)
    out = json.loads(r.body)
    assert out["how"] == "terminated"
    assert out["content_length"] in (None, "")
    assert out["input_terminated"] is True
    assert out["len"] == size
    assert out["sha256"] == hashlib.sha256(body).hexdigest()
    assert httpd.log.find(r"PYW0%d\b" % SPOOLED, since=mark) == []


def test_stream_mode_gives_the_app_the_body_as_it_comes(httpd):
    part = b"s" * 100000
    with rawhttp.Conn(httpd.port, timeout=20) as c:
        c.send(rawhttp.Conn.build("POST", "/stream", [
            ("Transfer-Encoding", "chunked")])
            + b"%x\r\n%s\r\n" % (len(part), part))
        time.sleep(1.0)
        c.send(b"%x\r\n%s\r\n0\r\n\r\n" % (len(part), part))
        r = c.read_response("POST")
    assert json.loads(r.body)["len"] == 2 * len(part)


def test_off_answers_411(httpd):
    mark = httpd.log.mark()
    r = post_chunked(httpd, "/off", b"hello")
    assert r.status == 411
    assert httpd.log.wait_for(r"PYW0105\b", since=mark)
    r = rawhttp.request(httpd.port, "POST", "/off", [], b"hello")
    assert r.status == 200 and json.loads(r.body)["len"] == 5


# -- failures leave nothing behind ------------------------------------------
def test_client_abort_mid_upload_leaves_no_file_and_daemon_unharmed(
        httpd, spool_dir):
    daemons = httpd.daemon_pids("chk")
    mark = httpd.log.mark()
    part = body_of(MB)
    s = socket.create_connection(("127.0.0.1", httpd.port), timeout=10)
    s.sendall(rawhttp.Conn.build("POST", "/raw", [
        ("Transfer-Encoding", "chunked")])
        + b"%x\r\n%s\r\n" % (len(part), part) + b"1000\r\nabc")
    deadline = time.monotonic() + 10
    while not spool_fds(httpd, spool_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert spool_fds(httpd, spool_dir), "the body was never spooled"
    s.close()
    deadline = time.monotonic() + 10
    while spool_fds(httpd, spool_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert spool_fds(httpd, spool_dir) == [], "spool file still open"
    assert os.listdir(spool_dir) == []
    assert httpd.log.wait_for(r"PYW0%d\b" % BODY_UNREADABLE, since=mark)
    # The application never ran, the daemon never saw the request.
    assert httpd.daemon_pids("chk") == daemons
    for i in range(5):
        body = body_of(100000 + i)
        out = json.loads(post_chunked(httpd, "/raw", body).body)
        assert out["sha256"] == hashlib.sha256(body).hexdigest()


def test_bad_chunk_gives_400_and_the_app_never_runs(httpd):
    r = rawhttp.request(httpd.port, "POST", "/raw",
                        [("Transfer-Encoding", "chunked")],
                        b"5\r\nhello\r\nzz\r\n", timeout=10)
    assert r.status == 400


def test_unusable_temp_dir_gives_500_and_pyw0151(fresh_apache):
    a = fresh_apache("PyWorkerDaemonProcess chk threads=2\n"
                     "PyWorkerScriptAlias /raw {apps}/chunked.wsgi "
                     "process-group=chk\n",
                     env={"TMPDIR": "/nonexistent/pyw-spool"},
                     ready=["/raw"])
    a.log.expect(codes=[151])
    mark = a.log.mark()
    r = post_chunked(a, "/raw", body_of(200000))
    assert r.status == 500
    lines = a.log.wait_for(r"PYW0151\b", since=mark)
    assert len(lines) == 1 and "/nonexistent/pyw-spool" in lines[0], lines
    # A body that fits in memory needs no file.
    out = json.loads(post_chunked(a, "/raw", body_of(1000)).body)
    assert out["len"] == 1000


# -- requests without a chunked body are unchanged --------------------------
@pytest.mark.parametrize("app", sorted(APPS))
def test_content_length_upload_unchanged(httpd, spool_dir, app):
    body = body_of(3 * MB)
    mark = httpd.log.mark()
    r = rawhttp.request(httpd.port, "POST", APPS[app] + "?via=read", [],
                        body, timeout=30)
    out = json.loads(r.body)
    assert out["len"] == len(body)
    assert out["sha256"] == hashlib.sha256(body).hexdigest()
    assert str(out["content_length"]) == str(len(body))
    assert httpd.log.find(r"PYW0%d\b" % SPOOLED, since=mark) == []


def test_content_length_upload_is_never_spooled(httpd, spool_dir):
    half = b"a" * (2 * MB)
    with rawhttp.Conn(httpd.port, timeout=20) as c:
        c.send(rawhttp.Conn.build("POST", "/raw", [
            ("Content-Length", str(2 * len(half)))]) + half)
        time.sleep(0.5)
        assert spool_fds(httpd, spool_dir) == []
        c.send(half)
        r = c.read_response("POST")
    assert json.loads(r.body)["len"] == 2 * len(half)


# -- configuration ----------------------------------------------------------
@pytest.mark.parametrize("line,word", [
    ("PyWorkerChunkedRequest Maybe", "Maybe"),
    ("PyWorkerChunkedRequestLimit lots", "lots"),
    ("PyWorkerChunkedRequestLimit -1", "-1")])
def test_configtest_names_a_bad_value(line, word):
    rc, out = configtest(line + "\n")
    assert rc != 0
    assert line.split()[0] in out and word in out, out


def test_configtest_accepts_the_values():
    rc, out = configtest("PyWorkerChunkedRequest stream\n"
                         "<Location /x>\n  PyWorkerChunkedRequest Off\n"
                         "  PyWorkerChunkedRequestLimit 512K\n</Location>\n"
                         "<Location /y>\n  PyWorkerChunkedRequest On\n"
                         "  PyWorkerChunkedRequestLimit 0\n</Location>\n")
    assert rc == 0, out

"""Responses: status and headers as the app set them, streaming, write(),
HEAD, keep-alive, chunked encoding, file_wrapper, and Apache's own output
side (mod_deflate, mod_headers, access log, HTTP/2) still working."""
import gzip
import hashlib
import json
import os
import re
import subprocess
import time
import uuid
from urllib.parse import quote

import pytest

from pyworker_t import codes, h2, h2frames, notes, rawhttp
from pyworker_t.data import fw_pattern

CONF = r"""
Protocols h2c http/1.1
PyWorkerDaemonProcess resp threads=4 display-name=pyw-resp
PyWorkerScriptAlias /hello {apps}/hello.wsgi process-group=resp
PyWorkerScriptAlias /stream {apps}/stream.wsgi process-group=resp
PyWorkerScriptAlias /errors {apps}/errors.wsgi process-group=resp
PyWorkerScriptAlias /env {apps}/environ.wsgi process-group=resp
PyWorkerScriptAlias /fw {apps}/filewrapper.wsgi process-group=resp
PyWorkerScriptAlias /respond {apps}/respond.wsgi process-group=resp
PyWorkerScriptAlias /counted {apps}/counted_stream.wsgi process-group=resp
PyWorkerScriptAlias /btw {apps}/body_then_work.wsgi process-group=resp
PyWorkerScriptAlias /deflate {apps}/respond.wsgi process-group=resp
<Location /deflate>
    AddOutputFilterByType DEFLATE text/plain
</Location>
<Location /hello>
    Header set X-Pyw-Test "set by mod_headers"
</Location>
# django-sendfile2's recipe for its mod_wsgi backend: /private/ is served
# by Apache, but only through an internal redirect (the request line a
# client sent never names it).
<IfModule !rewrite_module>
    LoadModule rewrite_module /usr/lib/apache2/modules/mod_rewrite.so
</IfModule>
RewriteEngine On
RewriteCond %{THE_REQUEST} ^[\S]+\ /private/
RewriteRule ^/private/ - [F]
Alias /private/ {htdocs}/private/
"""


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/hello"])


def get(httpd, path, method="GET", headers=None, body=None, **kw):
    return rawhttp.request(httpd.port, method, path, headers, body, **kw)


@pytest.mark.parametrize("status", ["201 Created", "404 Not Found",
                                    "299 Whatever Reason", "500 App Said So",
                                    "418 I'm a teapot"])
def test_status_line_is_the_apps(httpd, status):
    r = get(httpd, "/respond?status=" + quote(status) + "&body=x")
    code, reason = status.split(" ", 1)
    assert r.status == int(code)
    assert r.reason == reason
    assert r.body == b"x"


@pytest.mark.parametrize("code", ["299", "418", "599"])
def test_an_empty_reason_goes_out_as_it_is(httpd, code):
    """Before, Apache replaced the line with its own, and for a code it
    does not know that is "500 Internal Server Error"."""
    r = get(httpd, "/respond?status=%s%%20&body=x" % code)
    assert (r.status, r.reason, r.body) == (int(code), "", b"x")


def test_a_list_body_is_framed_with_its_length_every_time(httpd):
    """Without a Content-Length of the app's, Apache set one only when
    the daemon's END had arrived with the body: about one small response
    in seven went out chunked instead, and HEAD and GET differed under
    mod_deflate.  The last item of a list now goes with END."""
    with rawhttp.Conn(httpd.port, timeout=10) as c:
        framing = [c.request("GET", "/respond?body=abc&parts=%d" % n).framing
                   for n in (1, 3) for _ in range(20)]
    assert set(framing) == {"length"}, framing


def test_the_same_content_length_twice_is_sent_once(httpd):
    """Sent twice, an HTTP/2 client resets the stream."""
    q = "/respond?h=Content-Length:10&h=content-length:10&body=1234567890"
    r = get(httpd, q)
    assert r.body == b"1234567890"
    assert len(r.header_all("Content-Length")) == 1, r.headers
    p = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "-",
                        httpd.url(q)], capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"1234567890"


def test_headers_are_passed_in_order_and_repeated_ones_kept(httpd):
    q = "&".join("h=" + quote(h) for h in
                 ("X-One:first", "Set-Cookie:a=1; Path=/",
                  "Set-Cookie:b=2; Path=/", "Content-Type:text/x-pyw"))
    r = get(httpd, "/respond?" + q + "&body=ok")
    assert r.status == 200
    assert r.header("X-One") == "first"
    assert r.header_all("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]
    assert r.header("Content-Type").startswith("text/x-pyw")


def test_many_and_long_response_headers(httpd):
    q = "&".join("h=" + quote("X-H%02d:value %d" % (i, i)) for i in range(50))
    q += "&h=" + quote("X-Long:" + "v" * 6000)
    r = get(httpd, "/respond?" + q + "&body=ok")
    assert r.status == 200 and r.body == b"ok"
    assert r.header("X-H49") == "value 49"
    assert r.header("X-Long") == "v" * 6000


def test_latin1_header_value_reaches_client_as_bytes(httpd):
    r = get(httpd, "/respond?h=X-Latin:caf%E9&body=ok")
    assert r.status == 200
    assert r.header("X-Latin") == "caf\u00e9"


def test_body_without_content_length_is_delimited(httpd):
    # A short finite body may get a Content-Length from Apache's
    # content-length filter; either way it is framed and complete.
    r = get(httpd, "/respond?body=abc&repeat=1000&parts=7")
    assert r.status == 200
    assert r.framing in ("chunked", "length") and r.complete
    assert r.body == b"abc" * 1000


def test_streamed_body_without_content_length_is_chunked(httpd):
    r = get(httpd, "/stream?n=3&delay=0.2")
    assert r.status == 200
    assert r.framing == "chunked" and r.complete
    assert len(r.body.splitlines()) == 3


def test_body_with_content_length_is_sent_as_is(httpd):
    r = get(httpd, "/respond?body=abc&repeat=1000&parts=7&cl=1")
    assert r.framing == "length" and r.complete
    assert r.header("Content-Length") == "3000"
    assert r.body == b"abc" * 1000


def test_http10_without_content_length_ends_by_close(httpd):
    r = get(httpd, "/respond?body=abc&repeat=100&parts=3",
            version="HTTP/1.0")
    assert r.status == 200
    assert r.framing in ("close", "length")
    assert r.body == b"abc" * 100
    assert r.header("Transfer-Encoding") is None


def test_empty_bodies(httpd):
    r = get(httpd, "/respond?status=204%20No%20Content")
    assert r.status == 204 and r.body == b"" and r.complete
    r = get(httpd, "/respond?cl=1")
    assert r.status == 200 and r.body == b"" and r.complete
    assert r.header("Content-Length") == "0"


@pytest.mark.parametrize("cl", ["", "&cl=1"])
def test_each_chunk_reaches_client_before_next_is_produced(httpd, cl):
    arrivals = []

    def on_piece(resp, data):
        arrivals.append((time.time(), len(resp.body)))

    r = get(httpd, "/stream?n=5&delay=0.4" + cl, on_piece=on_piece,
            timeout=15)
    assert r.status == 200 and r.complete
    lines = r.body.decode().splitlines()
    produced = [float(l.split()[1]) for l in lines]
    assert len(produced) == 5
    # When the bytes of chunk i had all arrived:
    width = len(r.body) // 5
    got = [next(t for t, n in arrivals if n >= (i + 1) * width)
           for i in range(5)]
    for i in range(4):
        assert got[i] < produced[i + 1], \
            "chunk %d arrived %.3fs after chunk %d was produced" % (
                i, got[i] - produced[i + 1], i + 1)


def seconds_to_whole_body(httpd, path):
    """The response, and the seconds from the request until the client
    held the whole body its Content-Length announced (None: never)."""
    t0 = time.monotonic()
    whole = []

    def on_piece(resp, data):
        cl = resp.header("Content-Length")
        if not whole and cl is not None and len(resp.body) >= int(cl):
            whole.append(time.monotonic() - t0)

    r = get(httpd, path, on_piece=on_piece, timeout=15)
    return r, (whole[0] if whole else None)


def test_the_block_completing_content_length_is_not_held_until_the_end(
        httpd):
    """A generator yields its whole Content-Length, then works 2 s more
    before it ends.  The block that completed the Content-Length was held
    back to go out with the end of the response, so the client got it
    2 s late (PEP 3333: a server must not delay any block)."""
    r, whole = seconds_to_whole_body(httpd, "/btw?case=gen_tail&delay=2")
    assert (r.status, r.complete) == (200, True), r
    assert r.body == b"0123456789\n" * 3
    assert whole is not None and whole < 1.0, \
        "the last block arrived %.2f s after the request" % whole


def test_a_complete_body_reaches_the_client_before_close_runs(httpd):
    """An iterable with close() (Werkzeug's ClosingIterator, Django's
    HttpResponse) whose close() takes 2 s: nothing of the response, not
    even its status line, left before close() had returned."""
    token = uuid.uuid4().hex
    r, whole = seconds_to_whole_body(
        httpd, "/btw?case=slow_close&delay=2&token=" + token)
    assert (r.status, r.complete, r.body) == (200, True, b"0123456789\n")
    assert notes.wait(httpd, "btw-" + token, "close-start", 5)
    assert whole is not None and whole < 1.0, \
        "the body arrived %.2f s after the request" % whole


def test_write_of_the_whole_content_length_is_sent_at_once(httpd):
    """write() of the whole Content-Length, then 2 s of work before the
    application returns: write()'s bytes waited for the application to
    return (PEP 3333: they must go out while it proceeds)."""
    r, whole = seconds_to_whole_body(httpd,
                                     "/btw?case=write_then_work&delay=2")
    assert (r.status, r.complete, r.body) == (200, True, b"0123456789\n")
    assert whole is not None and whole < 1.0, \
        "write()'s bytes arrived %.2f s after the request" % whole


def test_a_raise_after_the_whole_content_length_keeps_the_200(httpd):
    """A generator that raises a moment after yielding its whole
    Content-Length: the client got a 500 (the headers were still held
    back with the last block); it gets the complete 200 it was sent, as
    under mod_wsgi, and the traceback goes to the log.  (A raise right
    after the last block can still find Apache holding that block, which
    then answers 500: pyw_forward_on_data.)"""
    httpd.log.expect(codes=[codes.APP_ABORTED])
    mark = httpd.log.mark()
    r = get(httpd, "/btw?case=raise_after_full&delay=0.5", timeout=15)
    assert (r.status, r.complete, r.body) == (200, True, b"0123456789\n")
    lines = httpd.log.wait_for("pyw-secret-raise_after_full", since=mark)
    assert lines and lines[0].code == codes.APP_ABORTED


def test_a_stream_past_its_content_length_sends_none_of_the_excess(httpd):
    """The block that completes a generator's Content-Length now goes
    out at once, so a block after it finds the client served: it is
    refused (PYW0323) and none of it follows the body on the wire."""
    httpd.log.expect(codes=[codes.BODY_OVERFLOW])
    mark = httpd.log.mark()
    with rawhttp.Conn(httpd.port, timeout=15) as c:
        r = c.request("GET", "/btw?case=past_content_length&delay=0.5")
        assert (r.status, r.complete, r.body) == \
            (200, True, b"0123456789\n"), r
        c.sock.settimeout(5)
        try:
            rest = c.buf + c.sock.recv(4096)    # Apache closes it
        except OSError:
            rest = c.buf
    assert b"pyw-secret" not in rest, rest
    assert httpd.log.wait_for(r"PYW0323", since=mark)


def test_write_callable_output_comes_first(httpd):
    r = get(httpd, "/errors?case=write_callable")
    assert r.status == 200 and r.complete
    assert r.body == b"part1,part2,part3"
    r = get(httpd, "/errors?case=write_then_gen")
    assert r.body == b"w1,g1,g2"


def test_head_has_headers_but_no_body(httpd):
    with rawhttp.Conn(httpd.port) as c:
        r = c.request("HEAD", "/hello")
        assert r.status == 200
        assert r.header("Content-Length") == "14"
        assert r.body == b""
        # Nothing was left on the wire: the next response parses cleanly.
        r2 = c.request("GET", "/hello")
        assert r2.status == 200 and r2.body == b"Hello, World!\n"


def test_head_of_a_streamed_body_answers_at_once_and_stops_the_app(httpd):
    """HEAD of a body streamed 1 KiB every 50 ms (400 chunks).  Before,
    its headers reached the client only after the application's last
    chunk, 20 s later (never for an endless stream: server-sent events,
    long polls), while Apache read every chunk from the daemon and
    dropped it: one HEAD held a daemon worker for the whole body, with no
    client to slow it down, so response-socket-timeout never applied.
    Now the headers go out once committed (EOS: HTTP/1's header filter
    drops a HEAD's FLUSH) and the daemon connection is closed, so the
    application is stopped at its next write and close() is called; the
    headers are those of the GET (no Content-Length for a stream)."""
    token = uuid.uuid4().hex
    path = "/counted?n=400&size=1024&sleep=0.05&token=" + token
    mark = httpd.log.mark()
    t0 = time.monotonic()
    with rawhttp.Conn(httpd.port, timeout=25) as c:
        r = c.request("HEAD", path)
        took = time.monotonic() - t0
        assert r.status == 200 and r.body == b""
        assert took < 3, "HEAD headers after %.1f s: the whole body " \
            "was produced first" % took
        assert r.header("Content-Length") is None, r.headers
        assert r.header("Content-Type") == "application/octet-stream"
        closed = notes.wait(httpd, "cs-" + token, "closed", 5)
        assert closed is not None, notes.read(httpd, "cs-" + token)[-3:]
        count, how = closed.split()[1:3]
        assert int(count) < 200 and how == "genexit", closed
        # The keep-alive connection still serves, nothing stray on it.
        r = c.request("GET", "/hello")
        assert r.status == 200 and r.body == b"Hello, World!\n"
    assert httpd.log.wait_for(r"\bPYW0124\b.*uri=/counted", since=mark)
    assert httpd.log.wait_for(r"\bPYW0326\b.*uri=/counted", since=mark)


@pytest.mark.parametrize("path", ["/stream?n=3&delay=0.05",
                                  "/stream?n=3&delay=0.05&cl=1",
                                  "/respond?body=x&repeat=200000&parts=4"])
def test_head_over_http2_has_no_data_frames(httpd, path):
    """HTTP/1's header filter drops every body brigade of a HEAD;
    mod_http2's dropped only the first, and a body of several pieces went
    out as DATA frames on the HEAD stream (curl: PROTOCOL_ERROR)."""
    frames = h2frames.stream_frames(httpd.port, "HEAD", path)
    assert frames and frames[0][0] == h2frames.HEADERS, frames
    assert frames[-1][1] & h2frames.END_STREAM, frames
    assert not [f for f in frames if f[0] == h2frames.DATA and f[2] > 0], \
        frames
    assert get(httpd, path).status == 200


def test_keepalive_connection_serves_many_requests(httpd):
    with rawhttp.Conn(httpd.port) as c:
        for i in range(30):
            path = ("/hello", "/env", "/stream?n=2&delay=0",
                    "/respond?body=k&repeat=5000")[i % 4]
            r = c.request("GET", path)
            assert r.status == 200 and r.complete, (i, path, r)
            assert (r.header("Connection") or "").lower() != "close"
            if path == "/env":
                e = json.loads(r.body)["environ"]
                assert e["REMOTE_PORT"] == str(c.local_port)


def test_mod_deflate_compresses_app_output(httpd):
    r = get(httpd, "/deflate?body=compress+me+&repeat=2000",
            headers={"Accept-Encoding": "gzip"})
    assert r.status == 200 and r.complete
    assert r.header("Content-Encoding") == "gzip"
    assert len(r.body) < 2000
    assert gzip.decompress(r.body) == b"compress me " * 2000


def test_mod_headers_sets_response_header(httpd):
    r = get(httpd, "/hello")
    assert r.header("X-Pyw-Test") == "set by mod_headers"


def test_access_log_line_is_written(httpd):
    token = "accesslog%d" % os.getpid()
    r = get(httpd, "/hello?" + token)
    assert r.status == 200
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [l for l in httpd.access_lines() if token in l]
        if lines:
            break
        time.sleep(0.1)
    assert lines, "no access log line for the request"
    assert re.search(r'"GET /hello\?%s HTTP/1.1" 200 14 ' % token, lines[0])


@pytest.mark.skipif(not h2.curl_has_http2(), reason="curl without HTTP/2")
def test_http2_cleartext_serves_app(httpd):
    def h2(path):
        p = subprocess.run(
            ["curl", "-sS", "--max-time", "15", "--http2-prior-knowledge",
             "-o", "-", "-w", "\n%{http_version} %{http_code}",
             httpd.url(path)], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, timeout=30)
        body, _, meta = p.stdout.rpartition(b"\n")
        return body, meta.decode(), p.stderr.decode()

    body, meta, err = h2("/hello")
    assert meta == "2 200", err
    assert body == b"Hello, World!\n"
    body, meta, _ = h2("/env")
    assert meta == "2 200"
    assert json.loads(body)["environ"]["SERVER_PROTOCOL"] == "HTTP/2.0"
    body, meta, _ = h2("/stream?n=3&delay=0.1")
    assert meta == "2 200" and len(body.splitlines()) == 3
    body, meta, _ = h2("/fw?kind=bytesio&size=1000000")
    assert meta == "2 200" and body == fw_pattern(1000000)


@pytest.mark.parametrize("kind", ["file", "bytesio", "custom"])
@pytest.mark.parametrize("cl", ["", "&cl=1"])
def test_file_wrapper_honours_position(httpd, kind, cl):
    size, offset = 300000, 12345
    token = "%s%d" % (kind, len(cl))
    r = get(httpd, "/fw?kind=%s&size=%d&offset=%d&token=%s%s"
            % (kind, size, offset, token, cl))
    assert r.status == 200 and r.complete
    assert r.body == fw_pattern(size)[offset:]
    if cl:
        assert r.header("Content-Length") == str(size - offset)
    if kind == "custom":
        marker = httpd.path("state", "fwclose-" + token)
        deadline = time.monotonic() + 5
        while not os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.path.exists(marker), "file-like close() not called"


def test_large_streamed_response_is_intact(httpd):
    r = get(httpd, "/fw?kind=bytesio&size=5000000", timeout=30)
    assert r.status == 200 and r.complete
    assert hashlib.sha256(r.body).digest() == \
        hashlib.sha256(fw_pattern(5000000)).digest()


def test_at_most_1000_response_headers(httpd):
    """Each response header costs Apache's header filter about 2 KB,
    however short: start_response refuses more than 1000 (Apache refuses
    them from the daemon too, t/test_untrusted_daemon.py)."""
    r = get(httpd, "/respond?h=X-N:1&hrep=999&body=ok")
    assert r.status == 200 and r.body == b"ok"
    assert len(r.header_all("X-N")) == 999     # and Content-Type: 1000
    httpd.log.expect(codes=[codes.APP_EXCEPTION])
    mark = httpd.log.mark()
    r = get(httpd, "/respond?h=X-N:1&hrep=1001&body=ok")
    assert r.status == 500
    assert httpd.log.wait_for(r"1002 headers, more than 1000", since=mark), \
        httpd.log.tail()


# ---- Range requests on bodies that are not files ----

@pytest.mark.parametrize("query", [
    "body=%7B%22balance%22%3A%20100%7D&cl=1",   # 16 bytes of JSON
    "body=b&repeat=1000&cl=1",
    "body=b&repeat=1000&parts=3",
    "body=b&repeat=200000&cl=1"],
    ids=["json-16", "1000", "1000-in-3-parts", "200000"])
def test_a_range_on_a_body_that_is_not_a_file_gets_the_whole_200(httpd,
                                                                 query):
    """`Range: bytes=0-4` on a body the application built (not a
    wsgi.file_wrapper file) got a 206 of 5 bytes when the body was small
    and its end came with it (a 16-byte JSON answer went out as
    `{"bal`), and a 200 when it was larger or slower: Apache's byterange
    filter ranges any 200 whose whole body is in its first brigade.  Such
    a body usually has no validator, so If-Range cannot keep a client
    from joining pieces of two different answers; mod_wsgi never ranges
    it.  Now it is the whole 200 at every size, without Accept-Ranges."""
    want = get(httpd, "/respond?" + query).body
    r = get(httpd, "/respond?" + query, headers={"Range": "bytes=0-4"})
    assert (r.status, r.body) == (200, want), (r.status, r.headers)
    assert r.header("Content-Range") is None
    assert r.header("Accept-Ranges") is None
    r = get(httpd, "/stream?n=2&delay=0", headers={"Range": "bytes=0-4"})
    assert r.status == 200 and len(r.body.splitlines()) == 2


# ---- a 200 with a local Location: an internal redirect (CGI's) ----

PRIVATE = b"the protected file\n"


def private_file(httpd, name="doc.txt"):
    d = httpd.path("htdocs", "private")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.write(PRIVATE)
    os.chmod(path, 0o644)
    return "/private/" + name


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_200_with_a_local_location_serves_that_url(httpd, method):
    """django-sendfile's (and django-sendfile2's) `mod_wsgi` backend: the
    view checks the user's rights and answers `200` with
    `Location: /private/doc.txt`; under mod_wsgi daemon mode, as for CGI
    (mod_cgid), Apache throws the application's body away and serves
    that URL instead, as a GET, so the client gets the file, which a
    client cannot ask for itself (403).  mod_pyworker passed the 200 on
    as it was: the client got the view's empty page with a Location
    header.  A POST's body, which the application did not read, is
    discarded: the keep-alive connection serves the next request."""
    target = private_file(httpd)
    assert get(httpd, target).status == 403
    mark = httpd.log.mark()
    body = b"a=1" if method == "POST" else None
    with rawhttp.Conn(httpd.port, timeout=10) as c:
        r = c.request(method, "/respond?h=Location:%s&body=app+body"
                      % target, body=body)
        assert (r.status, r.body) == (200, PRIVATE), (r.status, r.headers)
        assert r.header("Location") is None
        assert r.header("Content-Type") == "text/plain"
        assert r.header("Accept-Ranges") == "bytes"     # Apache's own
        r = c.request("GET", "/hello")
        assert (r.status, r.body) == (200, b"Hello, World!\n")
    assert httpd.log.wait_for(r"\bPYW0126\b.*uri=/respond", since=mark)
    r = get(httpd, "/respond?h=Location:%s" % target,
            headers={"Range": "bytes=4-12"})
    assert (r.status, r.body) == (206, PRIVATE[4:13])


def test_a_local_redirect_runs_the_target_as_a_get_with_its_query(httpd):
    """The target may be a WSGI URL: it runs as a GET with the
    Location's query string and no body (the POST's was not sent to it
    again), and Apache's REDIRECT_* variables, as under mod_wsgi."""
    r = get(httpd, "/respond?h=Location:/env/second%3Fx%3D1&body=ignored",
            "POST", {"Content-Type": "application/x-www-form-urlencoded"},
            b"a=1&b=2")
    assert r.status == 200 and r.body.startswith(b"{"), (r.status, r.body)
    out = json.loads(r.body)
    e = out["environ"]
    assert (e["REQUEST_METHOD"], e["PATH_INFO"], e["QUERY_STRING"]) == \
        ("GET", "/second", "x=1")
    assert e.get("CONTENT_LENGTH", "0") == "0" and out["body_len"] == 0
    assert e["REDIRECT_URL"] == "/respond"
    assert e["REDIRECT_STATUS"] == "200"


@pytest.mark.parametrize("query,status", [
    ("h=Location:http%3A//example.test/x", 200),
    ("h=Location:x/relative", 200),
    ("status=302%20Found&h=Location:/private/doc.txt", 302),
    ("status=201%20Created&h=Location:/private/doc.txt", 201)])
def test_other_locations_pass_through(httpd, query, status):
    """Only a 200 whose Location is a local path (it starts with `/`) is
    an internal redirect, as in mod_cgid and mod_wsgi."""
    private_file(httpd)
    r = get(httpd, "/respond?body=own+body&" + query)
    assert (r.status, r.body) == (status, b"own body")
    assert r.header("Location") is not None


def test_a_local_redirect_with_a_long_body_closes_the_daemon_connection(
        httpd):
    """An application body over 1 MiB is not worth reading to throw
    away: the daemon connection is closed instead (as for error
    override), and the client still gets the target."""
    target = private_file(httpd)
    mark = httpd.log.mark()
    r = get(httpd, "/respond?h=Location:%s&body=x&repeat=3000000" % target,
            timeout=20)
    assert (r.status, r.body) == (200, PRIVATE)
    assert httpd.log.wait_for(r"\bPYW0126\b.*connection closed.*"
                              r"uri=/respond", since=mark)

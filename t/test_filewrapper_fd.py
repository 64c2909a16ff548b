"""wsgi.file_wrapper over a real file: the daemon passes the open
descriptor to Apache (SCM_RIGHTS with a FILE frame) and Apache sends the
bytes through its own output path; PEP 3333's position and Content-Length
rules hold, and anything that is not a regular file is streamed as
before.  PYW0346/PYW0180 (debug) mark a body sent from a descriptor,
PYW0347 one that was streamed."""
import hashlib
import os
import subprocess
import time

import pytest

from pyworker_t import codes, h2, procs, rawhttp

CONF = """
Protocols h2c http/1.1
PyWorkerDaemonProcess fdf threads=4 display-name=pyw-fdf
PyWorkerScriptAlias /fd {apps}/fdfile.wsgi process-group=fdf
PyWorkerScriptAlias /fdsf {apps}/fdfile.wsgi process-group=fdf
PyWorkerScriptAlias /fdnon {apps}/fdfile.wsgi process-group=fdf
<Location /fdsf>
    EnableSendfile On
</Location>
"""

SIZE = 5200000
FILE_SENT = 346         # daemon, debug: body passed as a descriptor
FILE_STREAMED = 347     # daemon, debug: file_wrapper streamed, and why
APACHE_FILE = 180       # Apache, debug: file bucket from a descriptor


def fd_pattern(size):
    """Same formula as t/apps/fdfile.wsgi."""
    blocks = (hashlib.sha256(b"%d" % i).digest()
              for i in range(size // 32 + 1))
    return b"".join(blocks)[:size]


PATTERN = fd_pattern(SIZE)


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/fd?size=10"])


def get(httpd, path, method="GET", **kw):
    kw.setdefault("timeout", 30)
    return rawhttp.request(httpd.port, method, path, **kw)


def sha(b):
    return hashlib.sha256(b).hexdigest()


def logged(httpd, mark, code, count=1):
    return httpd.log.wait_for(r"\bPYW%04d\b" % code, since=mark,
                              timeout=5, count=count)


@pytest.mark.parametrize("path", ["/fd", "/fdsf"])
def test_real_file_arrives_intact_with_its_length(httpd, path):
    mark = httpd.log.mark()
    r = get(httpd, path)
    assert r.status == 200 and r.complete, r
    assert r.header("Content-Length") == str(SIZE)
    assert len(r.body) == SIZE and sha(r.body) == sha(PATTERN)
    assert logged(httpd, mark, FILE_SENT)
    line = logged(httpd, mark, APACHE_FILE)
    assert line, "Apache did not log a file body"
    want = "sendfile on" if path == "/fdsf" else "sendfile off"
    assert want in line[0]
    assert not httpd.log.find(r"\bPYW%04d\b" % FILE_STREAMED, since=mark)


@pytest.mark.parametrize("cl", ["", "&cl=auto"])
def test_only_the_rest_after_the_position_is_sent(httpd, cl):
    offset = 1234567
    r = get(httpd, "/fd?offset=%d%s" % (offset, cl))
    assert r.status == 200 and r.complete
    assert r.header("Content-Length") == str(SIZE - offset)
    assert sha(r.body) == sha(PATTERN[offset:])


def test_position_counts_pythons_read_ahead_buffer(httpd):
    # read(5000) through a BufferedReader moves the descriptor's offset
    # well past 6000; tell() still says 6000, and that is where it starts.
    r = get(httpd, "/fd?offset=1000&readfirst=5000&size=300000")
    assert r.status == 200 and r.complete
    assert r.body == fd_pattern(300000)[6000:]


@pytest.mark.parametrize("offset,cl", [(0, 1000), (777, 100), (0, 0),
                                       (SIZE - 10, 5)])
def test_smaller_content_length_bounds_the_body(httpd, offset, cl):
    with rawhttp.Conn(httpd.port, timeout=30) as c:
        r = c.request("GET", "/fd?offset=%d&cl=%d" % (offset, cl))
        assert r.status == 200 and r.complete
        assert r.header("Content-Length") == str(cl)
        assert r.body == PATTERN[offset:offset + cl]
        # The connection (client and daemon side) is clean afterwards.
        r = c.request("GET", "/fd?size=1000")
        assert r.status == 200 and r.body == fd_pattern(1000)


def test_content_length_beyond_the_file_is_a_short_body(httpd):
    # Streamed like any body that falls short: never looks complete.
    httpd.log.expect(codes=[codes.BODY_SHORT])
    r = get(httpd, "/fd?size=100000&cl=100010")
    assert r.status in (200, 500)
    if r.status == 200:
        assert not r.complete and r.ended in ("eof", "reset")


def test_empty_range_sends_just_the_end(httpd):
    with rawhttp.Conn(httpd.port, timeout=30) as c:
        r = c.request("GET", "/fd?size=5000&offset=5000")
        assert r.status == 200 and r.complete and r.body == b""
        assert r.header("Content-Length") == "0"
        r = c.request("GET", "/fd?size=5000&offset=9000&cl=0")
        assert r.status == 200 and r.complete and r.body == b""
        r = c.request("GET", "/fd?size=1000")
        assert r.body == fd_pattern(1000)


@pytest.mark.parametrize("kind", ["bytesio", "pipe", "raising", "hidden",
                                  "gz", "bz2", "xz"])
def test_non_files_are_streamed(httpd, kind):
    """gzip, bz2 and lzma files have the compressed file's fileno(): sent
    from it, the client got the compressed bytes."""
    # Its own URL: a line another test's /fd request logs late must not
    # count here.
    mark = httpd.log.mark()
    r = get(httpd, "/fdnon?kind=%s&offset=100" % kind)
    assert r.status == 200 and r.complete
    assert sha(r.body) == sha(PATTERN[100:])
    assert httpd.log.wait_for(r"\bPYW%04d\b.*uri=/fdnon(\?\S*)?\)" % FILE_STREAMED,
                              since=mark, timeout=5)
    assert not httpd.log.find(r"\bPYW%04d\b.*uri=/fdnon(\?\S*)?\)" % FILE_SENT,
                              since=mark)


@pytest.mark.parametrize("kind", ["bytesio", "pipe"])
def test_a_streamed_body_stops_at_its_content_length(httpd, kind):
    """As a file sent from its descriptor does (README, PEP 3333): it was
    a 500 for being longer than its Content-Length."""
    r = get(httpd, "/fdnon?kind=%s&size=1000&cl=5" % kind)
    assert (r.status, r.complete, r.body) == (200, True, PATTERN[:5]), r


def test_a_file_of_size_0_that_reads_more_is_streamed(httpd):
    r = get(httpd, "/fdnon?kind=proc")
    assert r.status == 200 and b"\nPid:" in r.body, r.body[:200]


def test_text_file_is_never_sent_raw(httpd):
    # Its read() gives str, which a WSGI body must not be: 500, as when
    # it is iterated.
    httpd.log.expect(codes=[codes.APP_EXCEPTION])
    r = get(httpd, "/fd?kind=text&size=1000")
    assert r.status == 500


def test_head_has_no_body_and_the_get_length(httpd):
    with rawhttp.Conn(httpd.port, timeout=30) as c:
        r = c.request("HEAD", "/fd")
        assert r.status == 200 and r.body == b""
        assert r.header("Content-Length") == str(SIZE)
        r = c.request("GET", "/fd?size=2000")
        assert r.status == 200 and r.body == fd_pattern(2000)


def test_range_request_on_a_file_body_is_answered_by_apache(httpd):
    # File and END arrive together, so Apache's byterange filter sees the
    # whole body, as for a static file.
    r = get(httpd, "/fd?size=100000&offset=5",
            headers={"Range": "bytes=10-19"})
    assert r.status == 206
    assert r.header("Content-Range") == "bytes 10-19/99995"
    assert r.body == fd_pattern(100000)[15:25]


def test_write_then_file_sends_both_in_order(httpd):
    r = get(httpd, "/fd?write=1&offset=4321&cl=%d" % SIZE)
    assert r.status == 200 and r.complete
    assert sha(r.body) == sha(PATTERN)


def test_file_deleted_after_open_still_serves(httpd):
    r = get(httpd, "/fd?unlink=1&size=1000000&offset=10")
    assert r.status == 200 and r.complete
    assert r.body == fd_pattern(1000000)[10:]
    left = [f for f in os.listdir(httpd.path("state")) if ".copy." in f]
    assert left == []


def fd_counts(httpd):
    pids = httpd.mpm_children() + httpd.daemon_pids("fdf")
    return {p: len(procs.fds(p)) for p in pids}


def no_more_fds(now, before):
    return set(now) == set(before) and all(now[p] <= before[p] for p in now)


def data_fds(httpd):
    """Descriptors of the app's data files still open anywhere."""
    out = []
    for p in httpd.mpm_children() + httpd.daemon_pids("fdf"):
        out += ["%d:%s" % (p, t) for t in procs.fds(p).values()
                if "fd-data-" in t]
    return out


def test_many_requests_on_one_connection_leak_no_descriptors(httpd):
    # Every 20th is the 5.2 MB file: too big for the socket buffers, so
    # the core output filter sets its bucket aside and finishes it later.
    sizes = [1, 1000, 70000, 300000]
    with rawhttp.Conn(httpd.port, timeout=30) as c:
        for i in range(5):
            assert c.request("GET", "/fd?size=1000").status == 200
        before = fd_counts(httpd)
        for i in range(200):
            size = SIZE if i % 20 == 7 else sizes[i % len(sizes)]
            offset = (i * 7919) % size
            q = "/fd?size=%d&offset=%d" % (size, offset)
            end = size
            if i % 3 == 0:
                end = offset + (size - offset) // 2
                q += "&cl=%d" % (end - offset)
            r = c.request("HEAD" if i % 10 == 9 else "GET", q)
            assert r.status == 200 and r.complete, (i, r)
            assert r.header("Content-Length") == str(end - offset)
            if i % 10 != 9:
                assert sha(r.body) == sha(fd_pattern(size)[offset:end]), i
        # No process holds more descriptors than before; fewer is fine:
        # a child may close an idle daemon connection of its cache (seen
        # once on Debian 13: 16 -> 15).
        deadline = time.monotonic() + 5
        while not no_more_fds(fd_counts(httpd), before) \
                and time.monotonic() < deadline:
            time.sleep(0.1)
        assert no_more_fds(fd_counts(httpd), before), (fd_counts(httpd),
                                                       before)
        # Nor from any earlier test of this module.
        assert data_fds(httpd) == []


@pytest.mark.skipif(not h2.curl_has_http2(), reason="curl without HTTP/2")
def test_http2_gets_the_file_too(httpd):
    p = subprocess.run(["curl", "-sS", "--max-time", "30",
                        "--http2-prior-knowledge", "-o", "-",
                        httpd.url("/fd?offset=99")],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=40)
    assert p.returncode == 0, p.stderr
    assert sha(p.stdout) == sha(PATTERN[99:])


# ---- Range requests over a file body (Apache's byterange filter) ----
#
# The FILE frame and END arrive in one read, so the brigade Apache passes
# is a file bucket of known length followed by EOS: the byterange filter
# answers the Range, and the content-length filter replaces the
# application's own Content-Length with the length of what is sent.  Such
# a 200 says "Accept-Ranges: bytes", as a static file does.

BIG = 20000000
BIG_PATTERN = fd_pattern(BIG)
BIG_PATH = "/fd?size=%d&validators=1" % BIG


def test_big_file_full_get_and_head(httpd):
    with rawhttp.Conn(httpd.port, timeout=60) as c:
        r = c.request("GET", BIG_PATH)
        assert r.status == 200 and r.complete
        assert r.header("Content-Length") == str(BIG)
        assert r.header("Accept-Ranges") == "bytes"
        assert sha(r.body) == sha(BIG_PATTERN)
        r = c.request("HEAD", BIG_PATH)
        assert r.status == 200 and r.body == b""
        assert r.header("Content-Length") == str(BIG)
        assert r.header("ETag") == '"fd-%d"' % BIG


@pytest.mark.parametrize("cl", ["", "&cl=auto"],
                         ids=["no-length", "app-length"])
@pytest.mark.parametrize("spec,first,last", [
    ("0-99", 0, 99), ("-100", BIG - 100, BIG - 1),
    ("1000000-", 1000000, BIG - 1), ("19999990-30000000", 19999990, BIG - 1)])
def test_single_range_of_a_big_file(httpd, spec, first, last, cl):
    r = get(httpd, BIG_PATH + cl, headers={"Range": "bytes=" + spec},
            timeout=60)
    assert r.status == 206 and r.complete
    assert r.header("Content-Range") == "bytes %d-%d/%d" % (first, last, BIG)
    assert r.header("Content-Length") == str(last - first + 1)
    assert sha(r.body) == sha(BIG_PATTERN[first:last + 1])


def parse_byteranges(r):
    ctype = r.header("Content-Type")
    assert ctype.startswith("multipart/byteranges; boundary="), ctype
    boundary = ctype.split("boundary=", 1)[1].encode()
    parts = []
    for chunk in r.body.split(b"--" + boundary)[1:-1]:
        head, _, data = chunk.partition(b"\r\n\r\n")
        rng = [line.split(b":", 1)[1].strip().decode()
               for line in head.split(b"\r\n")
               if line.lower().startswith(b"content-range:")]
        parts.append((rng[0], data[:-2]))      # CRLF before the boundary
    return parts


def test_multiple_ranges_are_multipart_byteranges(httpd):
    r = get(httpd, BIG_PATH, headers={"Range": "bytes=0-9,5000000-5000099,-7"},
            timeout=60)
    assert r.status == 206 and r.complete
    assert parse_byteranges(r) == [
        ("bytes 0-9/%d" % BIG, BIG_PATTERN[:10]),
        ("bytes 5000000-5000099/%d" % BIG, BIG_PATTERN[5000000:5000100]),
        ("bytes %d-%d/%d" % (BIG - 7, BIG - 1, BIG), BIG_PATTERN[-7:])]


def test_unsatisfiable_range_is_416(httpd):
    # As for a static file (httpd 2.4 sends no Content-Range with it).
    r = get(httpd, BIG_PATH, headers={"Range": "bytes=30000000-"})
    assert r.status == 416 and r.complete


def test_range_the_application_answers_itself_passes_through(httpd):
    # A 206 from the app (Zope, plone.namedfile) is not ranged again.
    r = get(httpd, BIG_PATH + "&partial=1&offset=1000&cl=500",
            headers={"Range": "bytes=1000-1499"})
    assert r.status == 206 and r.complete
    assert r.header("Content-Range") == "bytes 1000-1499/%d" % BIG
    assert r.body == BIG_PATTERN[1000:1500]
    assert r.header("Accept-Ranges") is None


def test_accept_ranges_of_the_application_wins(httpd):
    r = get(httpd, "/fd?size=1000&ar=none")
    assert r.status == 200 and r.header_all("Accept-Ranges") == ["none"]


@pytest.mark.parametrize("ar,status", [("none", 200), ("bytes", 206)])
def test_accept_ranges_none_of_the_application_turns_ranges_away(httpd, ar,
                                                                 status):
    """An application that says `Accept-Ranges: none` refuses ranges
    (RFC 9110 14.3), yet its file body got Apache's 206 with a
    Content-Range beside that `none`.  Now it gets the whole 200; one
    that says `bytes` is still ranged."""
    r = get(httpd, "/fd?size=1000&ar=" + ar, headers={"Range": "bytes=0-9"})
    assert r.status == status and r.complete, r.headers
    assert r.header_all("Accept-Ranges") == [ar]
    if status == 200:
        assert r.header("Content-Range") is None
        assert r.body == fd_pattern(1000)
    else:
        assert r.body == fd_pattern(1000)[:10]


@pytest.mark.parametrize("if_range,ranged", [
    ('"fd-%d"' % BIG, True), ('"other"', False),
    ("Mon, 01 Jan 2024 00:00:00 GMT", True),
    ("Tue, 02 Jan 2024 00:00:00 GMT", False)])
def test_if_range_uses_the_applications_validators(httpd, if_range, ranged):
    r = get(httpd, BIG_PATH, headers={"Range": "bytes=10-19",
                                      "If-Range": if_range}, timeout=60)
    assert r.complete
    if ranged:
        assert r.status == 206 and r.body == BIG_PATTERN[10:20]
    else:
        assert r.status == 200 and sha(r.body) == sha(BIG_PATTERN)


def test_range_after_write_is_whole_or_right(httpd):
    # write() sends DATA before the file: the first brigade has no EOS, so
    # the byterange filter steps aside and the whole body goes out (200).
    r = get(httpd, "/fd?size=300000&write=1&offset=1000&cl=300000",
            headers={"Range": "bytes=0-99"})
    assert r.complete
    want = fd_pattern(300000)
    assert (r.status, r.body) in ((200, want), (206, want[:100]))

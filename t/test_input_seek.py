"""wsgi.input is seekable: every byte read is kept (in memory up to 1 MiB,
beyond that in a file without a name in the daemon's TMPDIR), so an app
can go back and read again, as Zope does when it retries a request after
a ConflictError.  Each mode of t/apps/seek.wsgi is also run on an
io.BytesIO of the same body, and the answers must match.  The kept file
never outlives the request: no descriptor in the daemon, no file in the
directory, also when the client goes away mid-upload."""
import hashlib
import io
import json
import os
import socket
import threading
import time

import pytest

from pyworker_t import codes, procs, rawhttp
from pyworker_t.httpd import T_DIR

CONF = """
PyWorkerDaemonProcess seek threads=4 display-name=pyw-seek
PyWorkerScriptAlias /seek {apps}/seek.wsgi process-group=seek
PyWorkerScriptAlias /stream/seek {apps}/seek.wsgi process-group=seek
PyWorkerDaemonProcess seekbad threads=2 display-name=pyw-badtmp
PyWorkerScriptAlias /badtmp/seek {apps}/seek.wsgi process-group=seekbad
<Location /seek>
    SetEnv SEEK_TMPDIR {state}/seektmp
</Location>
<Location /stream>
    PyWorkerChunkedRequest Stream
    SetEnv SEEK_TMPDIR {state}/seektmp
</Location>
<Location /badtmp>
    SetEnv SEEK_TMPDIR {state}/no/such/dir
</Location>
LimitRequestBody 0
"""

MIB = 1 << 20


def _load_app():
    path = os.path.join(T_DIR, "apps", "seek.wsgi")
    ns = {"__file__": path, "__name__": "pyw_t_seek"}
    with open(path) as f:
        exec(compile(f.read(), path, "exec"), ns)
    return ns


MODES = _load_app()["MODES"]


def body_of(size, lines=False):
    """size bytes; with lines=True, lines of many lengths (some > 64 KiB)."""
    if not lines:
        return os.urandom(size)
    out, i = [], 0
    while sum(map(len, out)) < size:
        out.append(b"%d:" % i + b"x" * ((i * 7919) % 90000) + b"\n")
        i += 1
    return b"".join(out)[:size]


def chunked(body, sizes=(1, 7, 4096, 65536, 100, 100000)):
    out, i, k = [], 0, 0
    while i < len(body):
        n = sizes[k % len(sizes)]
        out.append(b"%x\r\n%s\r\n" % (len(body[i:i + n]), body[i:i + n]))
        i, k = i + n, k + 1
    return b"".join(out) + b"0\r\n\r\n"


def post(httpd, path, body, how="content-length", timeout=60):
    if how == "content-length":
        hdrs, data = [("Content-Length", str(len(body)))], body
    else:
        hdrs, data = [("Transfer-Encoding", "chunked")], chunked(body)
        if how == "stream":
            path = "/stream" + path
    r = rawhttp.request(httpd.port, "POST", path, hdrs, data,
                        timeout=timeout)
    assert r.status == 200 and r.complete, (r, r.body[:500])
    return json.loads(r.body)


def expected(mode, body, **q):
    """The same mode run on io.BytesIO: what a seekable file answers."""
    q = {k: str(v) for k, v in q.items()}
    return MODES[mode](io.BytesIO(body), q)


def query(mode, **q):
    return "/seek?" + "&".join(["mode=" + mode] + ["%s=%s" % kv
                                                   for kv in q.items()])


def check(httpd, mode, body, how="content-length", **q):
    out = post(httpd, query(mode, **q), body, how)
    cl = out.pop("content_length")
    assert cl == (None if how == "stream" else str(len(body)))
    assert out == expected(mode, body, **q)
    return out


def sha(b):
    return hashlib.sha256(b).hexdigest()


@pytest.fixture(scope="module")
def httpd(apache):
    a = apache(CONF, ready=["/seek?mode=reread", "/badtmp/seek?mode=reread"])
    os.makedirs(a.path("state", "seektmp"))
    os.chmod(a.path("state", "seektmp"), 0o777)
    return a


def tmpdir_files(httpd):
    return os.listdir(httpd.path("state", "seektmp"))


def kept_fds(pid):
    """The daemon's descriptors that are kept bodies in our TMPDIR."""
    return [t for t in procs.fds(pid).values() if "seektmp" in t]


def seek_daemon(httpd):
    pids = httpd.daemon_pids("seek")
    assert len(pids) == 1, pids
    return pids[0]


def wait_fds_back(pid, before, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = procs.fds(pid)
        if len(now) == len(before) and not kept_fds(pid):
            return now
        time.sleep(0.05)
    return procs.fds(pid)


SIZES = [0, 1, 65536, 5 * MIB, 100 * MIB]


@pytest.mark.parametrize("size", SIZES, ids=["0", "1", "64k", "5m", "100m"])
def test_read_all_then_seek_0_reads_the_same_bytes(httpd, size):
    body = body_of(size)
    out = check(httpd, "reread", body)
    assert out["sha1"] == out["sha2"] == sha(body)
    assert out["tell0"] == 0 and out["tell1"] == out["tell2"] == size
    assert out["seekable"] is True and out["seek"] == 0


@pytest.mark.parametrize("how", ["chunked", "stream"])
@pytest.mark.parametrize("size", SIZES[:4], ids=["0", "1", "64k", "5m"])
def test_chunked_bodies_are_seekable_too(httpd, size, how):
    body = body_of(size)
    out = check(httpd, "reread", body, how)
    assert out["sha2"] == sha(body)


@pytest.mark.parametrize("how,n", [("read_n", 1), ("read_n", 65536),
                                   ("read_n", 3 * MIB), ("readline", 0)])
def test_every_read_style_reads_again_after_seek_0(httpd, how, n):
    body = body_of(1000 if n == 1 else 5 * MIB, lines=True)
    out = check(httpd, "reread", body, how=how, n=n)
    assert out["sha2"] == sha(body)


@pytest.mark.parametrize("size,n", [(100, 10), (5 * MIB, 1000),
                                    (5 * MIB, 2 * MIB)])
def test_partial_read_then_seek_0(httpd, size, n):
    out = check(httpd, "partial", body_of(size), n=n)
    assert out["tell"] == n and out["len"] == size


@pytest.mark.parametrize("size,at", [(1000, 500), (3 * MIB, MIB + 7),
                                     (3 * MIB, 3 * MIB)])
def test_seek_to_the_middle_forward_and_back(httpd, size, at):
    body = body_of(size)
    out = check(httpd, "middle", body, at=at)
    assert out["sha_fwd"] == out["sha_back"] == sha(body[at:])
    assert out["tell"] == at


@pytest.mark.parametrize("size", [70000, 4 * MIB])
def test_readline_after_seek(httpd, size):
    body = body_of(size, lines=True)
    at = body.index(b"\n", size // 2) + 1
    out = check(httpd, "lines", body, at=at)
    assert out["same"] and out["n1"] >= 3


@pytest.mark.parametrize("how", ["content-length", "stream"])
@pytest.mark.parametrize("size,k", [(50, 100), (3 * MIB, 100),
                                    (3 * MIB, 2 * MIB)])
def test_seek_end_and_cur_and_past_the_end(httpd, size, k, how):
    # Without a Content-Length (stream) seek(0, 2) reads to the end.
    out = check(httpd, "ends", body_of(size), how, k=k)
    assert out["size"] == size
    assert out["errors"] == ["ValueError", "ValueError", "TypeError",
                             "TypeError"]


@pytest.mark.parametrize("size", [2000, 3 * MIB])
def test_zope_conflict_retry_reads_the_body_again(httpd, size):
    # A raw WSGI app doing what ZPublisher does: tell(), parse, seek back;
    # a ConflictError; stdin.seek(0) and the next attempt parses again.
    body = body_of(size)
    out = check(httpd, "zope", body)
    assert out["attempts"] == 3
    assert out["shas"] == [sha(body)] * 3 and out["body"] == sha(body)


@pytest.mark.parametrize("size", [10, 100000, 5 * MIB + 3])
def test_ofs_file_put_reads_backwards_from_the_end(httpd, size):
    out = check(httpd, "ofs", body_of(size))
    assert out["size"] == out["len"] == size


def _hold(httpd, body, secs, result):
    result.append(post(httpd, query("hold", secs=secs), body))


@pytest.mark.parametrize("size", [100000, 5 * MIB])
def test_kept_body_is_a_file_without_a_name_gone_after_the_request(httpd,
                                                                   size):
    pid = seek_daemon(httpd)
    before = procs.fds(pid)
    body = body_of(size)
    result = []
    t = threading.Thread(target=_hold, args=(httpd, body, 1.5, result))
    t.start()
    during, deadline = [], time.monotonic() + 10
    while t.is_alive() and time.monotonic() < deadline:
        during = kept_fds(pid) or during
        if during:
            break
        time.sleep(0.05)
    files_during = tmpdir_files(httpd)
    t.join(30)
    assert result and result[0]["sha"] == sha(body)
    if size > MIB:
        assert len(during) == 1 and during[0].endswith("(deleted)"), during
    else:
        assert during == [], "a body under 1 MiB is kept in memory"
    assert files_during == [] and tmpdir_files(httpd) == []
    after = wait_fds_back(pid, before)
    assert sorted(after) == sorted(before) and kept_fds(pid) == []


def test_client_gone_mid_upload_leaves_nothing(httpd):
    httpd.log.expect(r"AH\d+", codes=[(100, 199)])
    pid = seek_daemon(httpd)
    before = procs.fds(pid)
    s = socket.create_connection(("127.0.0.1", httpd.port), timeout=10)
    s.sendall(rawhttp.Conn.build("POST", "/seek?mode=abort", [
        ("Content-Length", str(50 * MIB))]) + os.urandom(8 * MIB))
    deadline = time.monotonic() + 10
    while not kept_fds(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert kept_fds(pid), "the upload never reached the kept file"
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
    s.close()
    after = wait_fds_back(pid, before)
    assert sorted(after) == sorted(before) and kept_fds(pid) == []
    assert tmpdir_files(httpd) == []
    body = body_of(3 * MIB)
    assert check(httpd, "reread", body)["sha2"] == sha(body)


@pytest.mark.parametrize("how", ["read", "readlines"])
def test_a_failed_read_loses_nothing_and_tell_agrees(fresh_apache, how):
    """The client sends 1000 of 100000 bytes and stalls.  After Apache's
    Timeout the app's read(65536) raises OSError, as it should; but the
    1000 bytes that came were lost: read() took them, the next pull
    failed and the partial result was dropped, while tell() said 1000.
    Now the failing read() raises and gives the bytes back (tell() 0): a
    short read would pass for the end of the body.  The next read()
    returns them, and the one after raises again.  readlines() too."""
    a = fresh_apache("Timeout 2\n"
                     "PyWorkerDaemonProcess seek threads=1\n"
                     "PyWorkerScriptAlias /seek {apps}/seek.wsgi "
                     "process-group=seek\n", ready=["/seek?mode=abort"])
    a.log.expect(r"AH\d+", codes=[codes.APACHE_REQUEST])
    note = "failed-%s-%d" % (how, os.getpid())
    with rawhttp.Conn(a.port, timeout=10) as c:
        c.send(rawhttp.Conn.build(
            "POST", "/seek?mode=abort&again=1&how=%s&note=%s" % (how, note),
            [("Content-Length", "100000")]) + (b"x" * 99 + b"\n") * 10)
        path, deadline = a.path("state", "seek-" + note), time.monotonic() + 8
        while not os.path.exists(path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert os.path.exists(path), "the app still waits for the body"
    with open(path) as f:
        out = json.load(f)
    assert out["error"] is not None and out["elapsed"] < 5, out
    assert (out["got"], out["tell"]) == (0, 0), out
    assert out["again"] == [1000, 1000] and out["then"] == out["error"], out
    r = rawhttp.request(a.port, "POST", "/seek?mode=abort", body=b"ok")
    assert r.status == 200 and json.loads(r.body)["got"] == 2


def test_body_that_cannot_be_kept_still_reads_but_cannot_go_back(httpd):
    # TMPDIR does not exist: reading is unaffected; going back raises
    # OSError (ENOENT) at seek(); a body under 1 MiB is kept in memory.
    body = body_of(3 * MIB)
    r = rawhttp.request(httpd.port, "POST", "/badtmp/seek?mode=abort",
                        body=body, timeout=30)
    assert r.status == 200 and json.loads(r.body)["got"] == len(body)
    httpd.log.expect(codes=[codes.APP_EXCEPTION])
    r = rawhttp.request(httpd.port, "POST", "/badtmp/seek?mode=reread",
                        body=body, timeout=30)
    assert r.status == 500
    assert httpd.log.wait_for(r"could not be kept \(No such file or "
                              r"directory\)")
    small = body_of(500000)
    r = rawhttp.request(httpd.port, "POST", "/badtmp/seek?mode=reread",
                        body=small, timeout=30)
    assert r.status == 200 and json.loads(r.body)["sha2"] == sha(small)


def test_input_kept_past_its_request_refuses_everything(httpd):
    with rawhttp.Conn(httpd.port, timeout=20) as c:
        assert c.request("POST", "/seek?mode=keep",
                         body=body_of(2 * MIB)).status == 200
        r = c.request("POST", "/seek?mode=stale", body=b"")
    assert r.status == 200
    out = json.loads(r.body)
    out.pop("content_length")
    assert out == {"seek": "OSError", "tell": "OSError", "read": "OSError",
                   "seekable": "OSError"}

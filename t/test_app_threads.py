"""An application's own threads using its request's write() and
wsgi.input.  Each frame goes out under the connection's write lock, so
concurrent write() calls, or a body read in one thread while another
writes, never interleave frames on the socket (Apache saw a broken
protocol, and the client frame bytes in its body); and the request does
not end while one of its write() calls is still sending (that thread
went on with the dead request: freed strings in its log lines, writes to
a closed descriptor that could have been another request's)."""
import json
import os
import time
import uuid

import pytest

from pyworker_t import codes, rawhttp

CONF = """
PyWorkerDaemonProcess tio threads=4 display-name=pyw-tio
PyWorkerDaemonProcess tio1 threads=1 display-name=pyw-tio1
PyWorkerScriptAlias /tio {apps}/threadio.wsgi process-group=tio
PyWorkerScriptAlias /tio1 {apps}/threadio.wsgi process-group=tio1
PyWorkerScriptAlias /hello1 {apps}/hello.wsgi process-group=tio1
"""

BROKEN = r"PYW0114|PYW0112|broke the protocol|Bad file descriptor"


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/hello1"])


def result(httpd, token, timeout=30):
    path = httpd.path("state", "threadio-" + token)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            time.sleep(0.1)
            with open(path) as f:
                return json.loads(f.readline())
        time.sleep(0.05)
    raise AssertionError("no result from the application's threads")


def slow_request(httpd, method, path, body=None, pause=1.0):
    """Send, let the daemon's writes fill the socket, then read it all."""
    c = rawhttp.Conn(httpd.port, timeout=60)
    c.send(c.build(method, path, body=body))
    time.sleep(pause)
    r = c.read_response()
    c.close()
    return r


def test_two_threads_writing_at_once(httpd):
    token = uuid.uuid4().hex
    mark = httpd.log.mark()
    r = slow_request(httpd, "GET", "/tio?case=two_writers&token=" + token)
    assert result(httpd, token) == {"a": "ok", "b": "ok"}
    assert r.status == 200 and r.complete
    assert (r.body.count(b"A"), r.body.count(b"B")) == (4 << 20, 4 << 20)
    assert len(r.body) == 8 << 20, "frame bytes in the client's body"
    assert not httpd.log.find(BROKEN, since=mark), httpd.log.tail()


def test_body_read_in_one_thread_while_another_writes(httpd):
    token = uuid.uuid4().hex
    mark = httpd.log.mark()
    body = b"i" * (2 << 20)
    r = slow_request(httpd, "POST",
                     "/tio?case=reader_and_writer&token=" + token, body=body)
    assert result(httpd, token) == {"read": len(body), "reader": "ok"}
    assert r.status == 200 and r.complete
    assert r.body == b"W" * (16 * 256 * 1024)
    assert not httpd.log.find(BROKEN, since=mark), httpd.log.tail()


def test_a_write_in_progress_when_the_request_ends(httpd):
    """threads=1: the worker's next requests get their own answers, and
    the thread's write after the end raises instead of reaching a dead
    request or a closed (maybe reused) descriptor."""
    httpd.log.expect(codes=[codes.PYTHON])
    mark = httpd.log.mark()
    for _ in range(3):
        token = uuid.uuid4().hex
        c = rawhttp.Conn(httpd.port, timeout=60)
        c.send(c.build("GET", "/tio1?case=writer_outlives_request&token="
                       + token))
        time.sleep(0.3)         # the app returned; its thread is writing
        r = c.read_response()
        c.close()
        assert r.status == 200
        got = result(httpd, token)
        assert got["end"] in ("RuntimeError", "OSError", "BrokenPipeError",
                              "ConnectionResetError"), got
        for _ in range(3):
            r2 = rawhttp.request(httpd.port, "GET", "/hello1")
            assert (r2.status, r2.body) == (200, b"Hello, World!\n")
    lost = httpd.log.find(r"PYW0326", since=mark)
    assert all("uri=/tio1?" in l or "uri=/tio1)" in l for l in lost), lost
    assert not httpd.log.find(BROKEN, since=mark), httpd.log.tail()

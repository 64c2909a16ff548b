"""response-socket-timeout (mod_wsgi's): a response that Apache cannot
pass on, because its client stopped reading, holds a daemon worker at
most that long; then the request is aborted, one line names it, and the
worker serves again."""
import socket
import time
import uuid

import pytest

from pyworker_t import notes, procs, rawhttp

CONF = """
PyWorkerDaemonProcess stuck threads=1 response-socket-timeout=2 \\
    display-name=pyw-stuck
PyWorkerScriptAlias /stuck/big {apps}/big.wsgi process-group=stuck
PyWorkerScriptAlias /stuck/hello {apps}/hello.wsgi process-group=stuck
PyWorkerDaemonProcess slowclient threads=2 response-socket-timeout=2 \\
    display-name=pyw-slowclient
PyWorkerScriptAlias /slow/stream {apps}/counted_stream.wsgi \\
    process-group=slowclient
"""


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/stuck/hello", "/slow/stream?n=1&size=1"])


def test_a_stalled_client_frees_the_worker_after_the_timeout(httpd):
    httpd.log.expect(r"stuck/big", r"AH\d+")
    mark = httpd.log.mark()
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(30)
    s.connect(("127.0.0.1", httpd.port))
    try:
        # 2 GB, made 1 MB at a time, that nobody reads: every buffer on
        # the way is full within a second.
        s.sendall(b"GET /stuck/big?size=2147483648 HTTP/1.0\r\n\r\n")
        t0 = time.monotonic()
        time.sleep(0.5)
        # The only worker is stuck writing; once response-socket-timeout
        # (2 s) has passed it must serve again.
        r = httpd.get("/stuck/hello", timeout=20)
        waited = time.monotonic() - t0
        assert r.status_code == 200
        assert 1.5 <= waited < 12, waited
        line = httpd.log.wait_for(r"\bPYW0326\b.*timed out.*"
                                  r"uri=/stuck/big\b", since=mark)
        assert line, httpd.log.tail()
        assert "stuck" in line[0]
    finally:
        s.close()


def test_a_daemon_that_gave_up_on_a_slow_client_is_not_called_dead(httpd):
    """The client stops reading a big streamed response for longer than
    response-socket-timeout (2 s), then reads on.  The daemon gives up
    writing (PYW0326, info) and the response is cut, as intended.  Before,
    Apache then logged an error (PYW0114) saying the daemon 'exited or was
    killed (the parent's line for that pid says how)': there was no such
    line, the daemon was alive and serving, and an admin went looking for
    a crash.  Now one info line (PYW0125) says the daemon gave up on a
    slow client, naming the group, the pid and the URI."""
    (pid,) = httpd.daemon_pids("slowclient")
    mark = httpd.log.mark()
    token = uuid.uuid4().hex
    s = socket.create_connection(("127.0.0.1", httpd.port), timeout=10)
    try:
        s.sendall(rawhttp.Conn.build(
            "GET", "/slow/stream?n=4000&size=65536&token=" + token))
        s.recv(100)
        closed = notes.wait(httpd, "cs-" + token, "closed", 8)
        assert closed, "the worker was held"
        assert closed.split()[2] == "genexit", closed
        time.sleep(1)
        got = 0
        while True:
            try:
                d = s.recv(1 << 20)
            except OSError:
                break
            if not d:
                break
            got += len(d)
    finally:
        s.close()
    assert got < 4000 * 65536
    assert httpd.log.wait_for(r"\bPYW0326\b.*uri=/slow/stream", since=mark)
    line = httpd.log.wait_for(r"\bPYW0125\b.*gave up on a slow client.*"
                              r"group=slowclient pid=%d uri=/slow/stream\b"
                              % pid, since=mark)
    assert line and "[pyworker:info]" in line[0], line
    time.sleep(0.5)
    assert procs.alive(pid) and httpd.daemon_pids("slowclient") == [pid]
    blamed = [l for l in httpd.log.find(r"uri=/slow/stream", since=mark)
              if "exited or was killed" in l or "PYW0114" in l]
    assert not blamed, blamed

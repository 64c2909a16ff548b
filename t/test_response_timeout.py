"""response-socket-timeout (mod_wsgi's): a response that Apache cannot
pass on, because its client stopped reading, holds a daemon worker at
most that long; then the request is aborted, one line names it, and the
worker serves again."""
import socket
import time

import pytest

CONF = """
PyWorkerDaemonProcess stuck threads=1 response-socket-timeout=2 \\
    display-name=pyw-stuck
PyWorkerScriptAlias /stuck/big {apps}/big.wsgi process-group=stuck
PyWorkerScriptAlias /stuck/hello {apps}/hello.wsgi process-group=stuck
"""


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/stuck/hello"])


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

"""The daemon's 1:1 worker threads: N requests run in parallel on N
threads, one request stays on one thread from call to close(), busy
workers make requests queue (never fail), and neither idle connections
nor blocked socket I/O hold a worker or the GIL."""
import http.client
import json
import os
import socket
import time

import pytest

from pyworker_t import codes, rawhttp
from pyworker_t.load import Load, parallel

CONF = """
PyWorkerDaemonProcess four threads=4 display-name=pyw-four
PyWorkerDaemonProcess eight threads=8 display-name=pyw-eight
PyWorkerDaemonProcess two threads=2 display-name=pyw-two
PyWorkerScriptAlias /four/slow {apps}/slow.wsgi process-group=four
PyWorkerScriptAlias /eight/sqlite {apps}/sqlite_thread.wsgi \\
    process-group=eight
PyWorkerScriptAlias /two/slow {apps}/slow.wsgi process-group=two
PyWorkerScriptAlias /two/hello {apps}/hello.wsgi process-group=two
PyWorkerScriptAlias /two/big {apps}/big.wsgi process-group=two
PyWorkerScriptAlias /two/echo {apps}/echo.wsgi process-group=two
PyWorkerScriptAlias /two/stream {apps}/stream.wsgi process-group=two
"""


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/four/slow?0", "/eight/sqlite",
                               "/two/hello"])


def fetch(httpd, path, timeout=15):
    c = http.client.HTTPConnection("127.0.0.1", httpd.port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def test_n_slow_requests_on_n_threads_finish_together(httpd):
    parallel([lambda: fetch(httpd, "/four/slow?0.01")] * 4)     # warm up
    t0 = time.monotonic()
    results = parallel([lambda: fetch(httpd, "/four/slow?1")] * 4)
    elapsed = time.monotonic() - t0
    assert all(not isinstance(r, Exception) and r[0] == 200
               for r in results), results
    assert elapsed < 1.9, "4 x 1 s on 4 threads took %.2fs" % elapsed
    answers = [json.loads(r[1]) for r in results]
    assert len({a["thread"] for a in answers}) == 4
    assert len({a["pid"] for a in answers}) == 1


def test_per_thread_sqlite_connection_reused_under_load(httpd):
    result = Load(httpd.port, "/eight/sqlite", total=200, concurrency=16,
                  timeout=20, deadline=120, keep_body=True).run()
    assert result.counts == {200: 200}, result.failures()[:10]
    answers = [json.loads(r.body) for r in result.records]
    threads = {a["thread"] for a in answers}
    assert 1 < len(threads) <= 8
    status, body = fetch(httpd, "/eight/sqlite?stats=1")
    assert status == 200, body[:300]
    stats = json.loads(body)
    assert stats["overlaps"] == 0, "a thread ran two requests at once"
    assert stats["thread_switches"] == 0, \
        "a request's call, iteration and close() ran on different threads"
    assert stats["connections"] <= 8
    # Every thread reused its connection: its hit counter only grows.
    assert max(a["hits"] for a in answers) > 1


def test_busy_workers_make_requests_queue_not_fail(httpd):
    t0 = time.monotonic()
    results = parallel([lambda: fetch(httpd, "/two/slow?0.5", 30)] * 8)
    elapsed = time.monotonic() - t0
    assert all(not isinstance(r, Exception) and r[0] == 200
               for r in results), results
    spans = sorted((json.loads(r[1])["start"], json.loads(r[1])["end"])
                   for r in results)
    for s, _ in spans:
        running = sum(1 for a, b in spans if a <= s < b)
        assert running <= 2, "more requests ran at once than threads=2"
    assert 1.9 <= elapsed < 8, elapsed


def test_idle_connections_do_not_hold_workers(httpd):
    # Many Apache threads each end up holding an idle daemon connection;
    # with only 2 workers every later request must still be served.
    for _ in range(3):
        results = parallel([lambda: fetch(httpd, "/two/hello", 10)] * 16)
        assert all(not isinstance(r, Exception) and r[0] == 200
                   for r in results), results
    idle = []
    try:
        for _ in range(20):
            c = http.client.HTTPConnection("127.0.0.1", httpd.port,
                                           timeout=10)
            c.request("GET", "/two/hello")
            assert c.getresponse().read() == b"Hello, World!\n"
            idle.append(c)                  # left open, idle
        t0 = time.monotonic()
        for _ in range(5):
            assert fetch(httpd, "/two/hello", 5)[0] == 200
        assert time.monotonic() - t0 < 3
    finally:
        for c in idle:
            c.close()


def _quick_hellos(httpd, n=5, limit=1.5):
    for _ in range(n):
        t0 = time.monotonic()
        status, body = fetch(httpd, "/two/hello", 10)
        assert status == 200
        assert time.monotonic() - t0 < limit, \
            "hello took %.2fs while another request was blocked" % (
                time.monotonic() - t0)


def test_blocked_response_write_holds_neither_gil_nor_other_workers(httpd):
    httpd.log.expect(r"AH\d+", codes=[codes.APACHE_REQUEST, codes.PYTHON])
    s = socket.create_connection(("127.0.0.1", httpd.port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        s.sendall(rawhttp.Conn.build("GET", "/two/big?size=50000000"))
        time.sleep(1.0)          # the daemon is now stuck writing to us
        _quick_hellos(httpd)
    finally:
        s.close()
    time.sleep(0.5)
    _quick_hellos(httpd)


def _worker_waiting_in_poll(pid):
    """1 if a thread of daemon pid other than its main thread sleeps in
    poll(): a worker waiting for room in its socket to Apache."""
    for tid in os.listdir("/proc/%d/task" % pid):
        if int(tid) != pid:
            with open("/proc/%d/task/%s/wchan" % (pid, tid)) as f:
                if f.read() == "poll_schedule_timeout.constprop.0":
                    return True
    return False


def test_stream_of_small_chunks_to_a_stalled_client_gives_up_the_gil(httpd):
    """Small chunks are written holding the GIL; the one that finds the
    socket full must let it go while it waits, and nothing is lost.
    HTTP/1.0, so the body is not chunked and reads back fast."""
    n, width = 250000, 32                   # 8 MB in 32-byte chunks
    (pid,) = httpd.daemon_pids("two")
    s = socket.create_connection(("127.0.0.1", httpd.port), timeout=60)
    try:
        s.sendall(b"GET /two/stream?n=%d&delay=0 HTTP/1.0\r\n\r\n" % n)
        deadline = time.monotonic() + 20
        while not _worker_waiting_in_poll(pid):
            assert time.monotonic() < deadline, "the stream never stalled"
            time.sleep(0.05)
        _quick_hellos(httpd)
        data = bytearray()
        while True:
            got = s.recv(1 << 20)
            if not got:
                break
            data += got
    finally:
        s.close()
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and len(body) == n * width
    lines = body.split(b"\n")
    assert lines[-1] == b""
    assert [int(x.split()[0]) for x in lines[:-1]] == list(range(n))
    _quick_hellos(httpd)


def test_waiting_for_request_body_holds_neither_gil_nor_other_workers(httpd):
    httpd.log.expect(r"AH\d+", codes=[codes.APACHE_REQUEST, codes.PYTHON])
    with rawhttp.Conn(httpd.port, timeout=20) as c:
        c.send(rawhttp.Conn.build("POST", "/two/echo", [
            ("Content-Length", "2000")]) + b"p" * 1000)
        time.sleep(1.0)          # the app is now waiting in read()
        _quick_hellos(httpd)
        c.send(b"p" * 1000)
        r = c.read_response()
        assert r.status == 200 and json.loads(r.body)["len"] == 2000

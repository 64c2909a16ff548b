"""Overload and the timeouts that bound a request.

A burst of 2000 client connections opened at once against one
daemon with 4 threads.  Every request completes with 200, or - with
queue-timeout set - with 503 and Retry-After; never a reset, an empty
reply, a truncated body or a hang.

Apache is sized for a few hundred concurrent requests (event MPM, 400
workers); the rest of the burst waits in Apache's listen backlog, and the
requests Apache has read wait on their daemon connections while the
daemon's 4 threads work through them.

Then request-timeout (504 within a second, or an aborted response),
socket-timeout (504), connect-timeout (503 + Retry-After) and the environ
keys the daemon's queue-timeout and script reloading rely on.
"""
import asyncio
import collections
import re
import time

import pytest

from pyworker_t import rawhttp
from pyworker_t.httpd import configtest

SIZING = """
ServerLimit 4
ThreadLimit 100
ThreadsPerChild 100
StartServers 4
MinSpareThreads 100
MaxSpareThreads 400
MaxRequestWorkers 400
ListenBacklog 4096
Timeout 60
"""

CONF = SIZING + """
PyWorkerDaemonProcess burst threads=4 display-name=pyw-burst
PyWorkerScriptAlias /burst {apps}/slow.wsgi process-group=burst
"""

QUEUED_CONF = SIZING + """
PyWorkerDaemonProcess queued threads=4 queue-timeout=1 \\
    display-name=pyw-queued
PyWorkerScriptAlias /queued {apps}/slow.wsgi process-group=queued
"""

BURST = 2000
# Apache logs AH00484 / AH10159 (error) when its workers run out: that is
# the point.
BUSY = r"AH00484|AH03490|AH10159"


class Tally:
    """Exact counts for one burst."""

    def __init__(self, records, elapsed):
        self.records = records
        self.elapsed = elapsed
        self.sent = sum(1 for r in records if r["sent"])
        self.answered = sum(1 for r in records if r["status"] is not None)
        self.status = collections.Counter(r["status"] for r in records
                                          if r["status"] is not None)
        self.errors = collections.Counter(r["error"] for r in records
                                          if r["error"])

    def __repr__(self):
        return ("<burst of %d: sent=%d answered=%d status=%s errors=%s "
                "in %.1fs>" % (len(self.records), self.sent, self.answered,
                               dict(self.status), dict(self.errors),
                               self.elapsed))


def parse(data):
    """(status, headers, error) of one complete HTTP/1.1 response read up
    to EOF; error names what is wrong with it."""
    if not data:
        return None, {}, "empty reply"
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return None, {}, "truncated head"
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if not m:
        return None, {}, "bad status line"
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    cl = headers.get("content-length")
    if "chunked" in headers.get("transfer-encoding", ""):
        if not body.endswith(b"0\r\n\r\n"):
            return int(m.group(1)), headers, "chunked body without end"
    elif cl is None or int(cl) != len(body):
        return int(m.group(1)), headers, "body length %d, Content-Length " \
            "%s" % (len(body), cl)
    return int(m.group(1)), headers, None


async def one(port, path, timeout):
    rec = {"sent": False, "status": None, "error": None, "retry": None}
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
           % path).encode()
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port), timeout)
    except Exception as e:
        rec["error"] = "connect: " + type(e).__name__
        return rec
    try:
        writer.write(req)
        await writer.drain()
        rec["sent"] = True
        data = await asyncio.wait_for(reader.read(), timeout)
        status, headers, err = parse(data)
        if err:
            rec["error"] = err
        else:
            rec["status"] = status
            rec["retry"] = headers.get("retry-after")
    except asyncio.TimeoutError:
        rec["error"] = "timeout (hang)"
    except Exception as e:
        rec["error"] = type(e).__name__
    finally:
        writer.close()
    return rec


def burst(port, path, n=BURST, timeout=45.0):
    """Open n connections at once, one request each; every record."""
    async def run():
        return await asyncio.gather(*(one(port, path, timeout)
                                      for _ in range(n)))
    t0 = time.monotonic()
    records = asyncio.run(asyncio.wait_for(run(), timeout + 10))
    return Tally(records, time.monotonic() - t0)


def test_burst_of_2000_connections_all_answered_200(apache):
    a = apache(CONF, ready=["/burst?0"])
    a.log.expect(BUSY)
    # 10 ms of work each: 2000 requests need >= 5 s of the 4 threads.
    t = burst(a.port, "/burst?0.01")
    print(t)
    assert t.sent == BURST and not t.errors, t
    assert t.answered == BURST and t.status == {200: BURST}, t


def test_burst_with_queue_timeout_gets_200_or_503_with_retry_after(
        fresh_apache):
    rc, out = configtest(QUEUED_CONF)
    assert rc == 0, out
    a = fresh_apache(QUEUED_CONF, ready=["/queued?0"])
    a.log.expect(BUSY, r"queue.timeout")
    # 50 ms each: 4 threads answer 80 a second, so with 400 requests in
    # Apache most wait longer than the 1 s queue-timeout.
    t = burst(a.port, "/queued?0.05")
    print(t)
    assert t.sent == BURST and not t.errors, t
    assert t.answered == BURST, t
    assert set(t.status) <= {200, 503}, t
    assert t.status[200] > 0 and t.status[503] > 0, t
    assert t.status[200] + t.status[503] == BURST
    retry = collections.Counter(r["retry"] for r in t.records
                                if r["status"] == 503)
    assert retry == {"1": t.status[503]}, retry
    assert all(r["retry"] is None for r in t.records
               if r["status"] == 200)


# ---- the timeouts that bound a request on the Apache side ----------------

TIMEOUT_CONF = """
PyWorkerDaemonProcess reqto threads=2 request-timeout=2 \\
    display-name=pyw-reqto
PyWorkerDaemonProcess sockto threads=2 socket-timeout=1 \\
    display-name=pyw-sockto
PyWorkerDaemonProcess envg threads=1 display-name=pyw-envg
PyWorkerScriptAlias /reqto/slow {apps}/slow.wsgi process-group=reqto
PyWorkerScriptAlias /reqto/stream {apps}/stream.wsgi process-group=reqto
PyWorkerScriptAlias /sockto/slow {apps}/slow.wsgi process-group=sockto
PyWorkerScriptAlias /env {apps}/environ.wsgi process-group=envg
PyWorkerScriptAlias /noreload {apps}/environ.wsgi process-group=envg
<Location /noreload>
    PyWorkerScriptReloading Off
</Location>
"""

REQUEST_TIMEOUT = 141
DAEMON_REQUEST_TIMEOUT = 246
DAEMON_CONN_LOST = 326      # info: Apache went away mid-response
SOCKET_TIMEOUT = 113
NO_BACKEND = 110


def needs_options(conf):
    """The options are implemented: a configtest that refuses them is a
    failure, not a reason to skip."""
    rc, out = configtest(conf)
    assert rc == 0, out


@pytest.fixture(scope="module")
def timeouts(apache):
    needs_options(TIMEOUT_CONF)
    return apache(TIMEOUT_CONF, ready=["/reqto/slow?0", "/sockto/slow?0",
                                       "/env"])


def timed_get(a, path, timeout=20):
    t0 = time.monotonic()
    r = rawhttp.request(a.port, "GET", path, timeout=timeout)
    return r, time.monotonic() - t0


def test_request_timeout_gives_504_within_a_second_and_one_line(timeouts):
    a = timeouts
    (pid,) = a.daemon_pids("reqto")
    # The daemon reports its side (stacks, its replacement) itself.
    a.log.expect(r"group=reqto\b")
    mark = a.log.mark()
    r, took = timed_get(a, "/reqto/slow?10")
    assert r.status == 504 and r.complete, r
    # Deadlines are kept in whole milliseconds from Apache's request time.
    assert 1.99 <= took < 3.0, took
    lines = a.log.wait_for(r"\bPYW%04d\b" % REQUEST_TIMEOUT, since=mark)
    assert len(lines) == 1, a.log.text(mark)
    assert "request-timeout of 2 s passed" in lines[0]
    assert "(group=reqto pid=%d uri=/reqto/slow?10)" % pid in lines[0]
    # The daemon's own line lands a tick later: wait, so that it is not
    # charged to the next test.
    assert a.log.wait_for(r"\bPYW%04d\b" % DAEMON_REQUEST_TIMEOUT,
                          since=mark), a.log.text(mark)


def test_request_timeout_after_headers_aborts_the_response(timeouts):
    a = timeouts
    a.log.expect(r"group=reqto\b")
    mark = a.log.mark()
    r, took = timed_get(a, "/reqto/stream?n=40&delay=0.25")
    assert r.status == 200 and r.body, r
    assert not r.complete and r.ended in ("eof", "reset"), r
    assert took < 3.0, took
    lines = a.log.wait_for(r"\bPYW%04d\b" % REQUEST_TIMEOUT, since=mark)
    assert len(lines) == 1 and "aborted" in lines[0], a.log.text(mark)
    # The daemon ends the request either way: its watchdog reports it
    # overdue, or its next write finds the connection Apache cut first.
    assert a.log.wait_for(r"\bPYW0(%d|%d)\b.*uri=/reqto/stream\b"
                          % (DAEMON_REQUEST_TIMEOUT, DAEMON_CONN_LOST),
                          since=mark), a.log.text(mark)


def test_socket_timeout_gives_504(timeouts):
    a = timeouts
    a.log.expect(codes=[SOCKET_TIMEOUT])
    r, took = timed_get(a, "/sockto/slow?3")
    assert r.status == 504 and r.complete, r
    assert 1.0 <= took < 2.0, took
    assert a.get("/sockto/slow?0").status_code == 200


def test_environ_has_request_start_and_script_reloading(timeouts):
    a = timeouts
    before = int(time.time() * 1e6)
    env = a.get("/env").json()["environ"]
    after = int(time.time() * 1e6)
    start = int(env["mod_pyworker.request_start"])
    assert before - 1e6 <= start <= after, (before, start, after)
    assert env["mod_pyworker.script_reloading"] == "1"
    env = a.get("/noreload").json()["environ"]
    assert env["mod_pyworker.script_reloading"] == "0"


def test_unreachable_daemon_gives_503_with_retry_after_at_connect_timeout(
        fresh_apache):
    conf = """
PyWorkerDaemonProcess never threads=1 connect-timeout=1 \\
    home=/nonexistent-pyw-home
PyWorkerScriptAlias /never {apps}/hello.wsgi process-group=never
"""
    needs_options(conf)
    a = fresh_apache(conf, wait_daemons=False)
    # Its daemon cannot start (no home): the parent retries it, and the
    # connection waits in the backlog until connect-timeout, or less once
    # a second start failed (t/test_start_failing.py).
    a.log.expect(r"group=never\b", codes=[NO_BACKEND])
    r, took = timed_get(a, "/never")
    assert r.status == 503 and r.complete, r
    assert r.header("Retry-After") == "1", r.headers
    assert took < 2.0, took
    assert a.log.wait_for(r"\bPYW%04d\b.*(connect-timeout|keep failing "
                          r"to start)" % NO_BACKEND)
    # By now the parent has seen the start fail: the 503's log line says
    # so, rather than "still starting or cannot keep up".
    assert a.log.wait_for(r"\bPYW0023\b.*group=never\b")
    r, _ = timed_get(a, "/never")
    assert r.status == 503, r
    assert a.log.wait_for(r"\bPYW%04d\b: no daemon running; last start "
                          r"failed \(.*254.*\) \d+ s ago" % NO_BACKEND)

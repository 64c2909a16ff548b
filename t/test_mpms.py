"""mod_pyworker under Apache's other MPMs.  Debian hosts that run mod_php
use prefork (one single-threaded child per connection, each with its own
connections to the daemons); some run worker.  The rest of the suite runs
under event; this module checks the main paths under worker and prefork:
bodies both ways, streaming, file_wrapper, a crashed daemon, many children
against few daemon threads, mod_proxy, the status page, a graceful restart
under load (nothing lost), and a stop that leaves no daemon behind (the
harness checks that after each Apache)."""
import hashlib
import json
import os
import signal
import time

import pytest

from pyworker_t import codes, procs, rawhttp
from pyworker_t.load import Load, parallel
from pyworker_t.proxy import load_proxy

CONF = load_proxy() + """
PyWorkerDaemonProcess m threads=4 display-name=pyw-mpm-m script={apps}/hello.wsgi
PyWorkerDaemonProcess few processes=2 threads=2 display-name=pyw-mpm-few
PyWorkerDaemonProcess crashy threads=2 display-name=pyw-mpm-crashy
PyWorkerScriptAlias /hello {apps}/hello.wsgi process-group=m
PyWorkerScriptAlias /echo {apps}/echo.wsgi process-group=m
PyWorkerScriptAlias /stream {apps}/stream.wsgi process-group=m
PyWorkerScriptAlias /fw {apps}/filewrapper.wsgi process-group=m
PyWorkerScriptAlias /few {apps}/slow.wsgi process-group=few
PyWorkerScriptAlias /crash {apps}/crash.wsgi process-group=crashy
ProxyPass /proxied pyworker://m/
<Location /pyworker-status>
    SetHandler pyworker-status
</Location>
"""


@pytest.fixture(scope="module", params=["worker", "prefork"])
def httpd(apache, request):
    return apache(CONF, mpm=request.param, name="mpms-" + request.param,
                  ready=["/hello", "/few?0", "/crash"])


def test_bodies_both_ways(httpd):
    body = os.urandom(3 << 20)
    r = rawhttp.request(httpd.port, "POST", "/echo",
                        [("Content-Length", str(len(body)))], body)
    assert r.status == 200
    assert json.loads(r.body)["sha256"] == hashlib.sha256(body).hexdigest()
    part = body[:300000]
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(part[i:i + 65536]),
                                          part[i:i + 65536])
                       for i in range(0, len(part), 65536)) + b"0\r\n\r\n"
    r = rawhttp.request(httpd.port, "POST", "/echo",
                        [("Transfer-Encoding", "chunked")], chunked)
    assert json.loads(r.body)["len"] == 300000
    r = rawhttp.request(httpd.port, "GET", "/fw?kind=file&size=2000000&cl=1")
    assert r.status == 200 and len(r.body) == 2000000


def test_streamed_pieces_arrive_as_made(httpd):
    with rawhttp.Conn(httpd.port, timeout=10) as c:
        c.send(c.build("GET", "/stream?n=3&delay=0.4"))
        t0 = time.monotonic()
        first = c.sock.recv(65536)
        assert b"200 OK" in first and time.monotonic() - t0 < 0.35


def test_a_crash_is_one_502_and_the_group_recovers(httpd):
    httpd.log.expect(codes=[codes.DAEMON_DIED, codes.BACKEND_CLOSED])
    (pid,) = httpd.daemon_pids("crashy")
    r = rawhttp.request(httpd.port, "GET", "/crash?how=kill")
    assert r.status == 502
    httpd.wait_daemons("crashy", exclude={pid})
    statuses = [rawhttp.request(httpd.port, "GET", "/crash").status
                for _ in range(20)]
    assert statuses == [200] * 20


def test_many_children_share_few_daemon_threads(httpd):
    """16 requests of 0.5 s at once against 2 x 2 threads: all answered,
    in about four rounds; the daemons hold one connection per child at
    most, not one per request."""
    t0 = time.monotonic()
    out = parallel([lambda: rawhttp.request(httpd.port, "GET", "/few?0.5",
                                            timeout=30).status
                    for _ in range(16)])
    took = time.monotonic() - t0
    assert out == [200] * 16
    assert took < 8, took
    for pid in httpd.daemon_pids("few"):
        assert len(os.listdir("/proc/%d/fd" % pid)) < 200


def test_mod_proxy_and_the_status_page(httpd):
    r = rawhttp.request(httpd.port, "GET", "/proxied/x")
    assert (r.status, r.body) == (200, b"Hello, World!\n")
    st = json.loads(rawhttp.request(httpd.port, "GET",
                                    "/pyworker-status?json").body)
    assert {g["name"] for g in st["groups"]} == {"m", "few", "crashy"}


def test_graceful_restart_under_load_loses_nothing(httpd):
    load = Load(httpd.port, "/few?0.05", total=1000000, concurrency=4,
                timeout=30, deadline=6).start()
    time.sleep(1)
    old = set(httpd.daemon_pids("few"))
    os.kill(httpd.pid, signal.SIGUSR1)
    res = load.join()
    assert res.records
    assert res.counts == {200: len(res.records)}, res.failures()[:5]
    assert procs.wait_gone({p: None for p in old}, 20) == {}
    assert len(httpd.wait_daemons("few", exclude=old)) == 2

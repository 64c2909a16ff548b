"""Recycling without a gap (issue 5): maximum-requests, restart-interval,
memory-limit, inactivity-timeout and cpu-time-limit replace a daemon
while a bounded load runs.  The replacement starts first and the old
daemon serves until it is ready, so every request is answered 200 and
none is lost; the parent logs each step with group, pid and cause.
Also: startup-timeout (killed, retried with back-off) and the SIGKILL
that ends a retired daemon which outlives its graceful budget."""
import json
import os
import re
import signal
import threading
import time

import pytest

from pyworker_t import procs
from pyworker_t.httpd import configtest
from pyworker_t.load import Load

# Process manager codes (README "Log codes", src/apache/pyw_slots*.c).
REPLACING = 30          # info: replacement started, old one still serves
REPLACED = 31           # info: replacement ready, old one gets SIGTERM
RETIRED_EXIT = 32       # info: a retired daemon exited
RETIRED_KILL = 33       # warn: retired daemon outlived its budget: SIGKILL
STARTUP_TIMEOUT = 34    # warn: not ready within startup-timeout: SIGKILL
START_FAILED = 23       # error: failed to start; restarted with back-off
# Daemon codes (src/daemon/pyw_dlogno.h): which limit asked for it.
MAX_REQUESTS, RESTART_INTERVAL, INACTIVITY = 241, 242, 243
MEMORY_LIMIT, CPU_LIMIT = 244, 245

CONF = """
PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess maxreq processes=2 threads=4 maximum-requests=50 \\
    display-name=pyw-maxreq
PyWorkerDaemonProcess interval threads=4 restart-interval=2 \\
    display-name=pyw-interval
PyWorkerDaemonProcess memory threads=4 memory-limit=60M \\
    display-name=pyw-memory
PyWorkerDaemonProcess idle threads=2 inactivity-timeout=2 \\
    display-name=pyw-idle
PyWorkerDaemonProcess cpu threads=2 cpu-time-limit=1 display-name=pyw-cpu
PyWorkerScriptAlias /maxreq {apps}/recycle.wsgi process-group=maxreq
PyWorkerScriptAlias /interval {apps}/recycle.wsgi process-group=interval
PyWorkerScriptAlias /memory {apps}/recycle.wsgi process-group=memory
PyWorkerScriptAlias /idle {apps}/recycle.wsgi process-group=idle
PyWorkerScriptAlias /cpu {apps}/recycle.wsgi process-group=cpu
"""


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/maxreq", "/interval", "/memory", "/idle",
                               "/cpu"])


def code_lines(httpd, code, group, since):
    return [l for l in httpd.log.lines(since)
            if l.code == code and re.search(r"\(group=%s\b" % group, l)]


def run_load(httpd, path, seconds, total=100000, concurrency=4):
    """Continuous bounded load: every request is recorded with its
    status; returns (result, pids that answered)."""
    res = Load(httpd.port, path, total=total, concurrency=concurrency,
               timeout=30, deadline=seconds, keep_body=True).run()
    pids = [json.loads(r.body)["pid"] for r in res.records
            if r.status == 200]
    return res, pids


def assert_nothing_failed_or_lost(res):
    assert res.records, "no request was sent"
    assert res.counts == {200: len(res.records)}, res.failures()[:10]
    # Indexes are handed out in order: a gap would be a lost request.
    assert sorted(r.index for r in res.records) == \
        list(range(len(res.records))), "requests lost"


def settled(httpd, group, timeout=30):
    """Once the load stops, replacements finish: wait until the group
    runs exactly its configured number of daemons; return them."""
    want = httpd.groups[group]["processes"]
    deadline = time.monotonic() + timeout
    while True:
        pids = httpd.daemon_pids(group)
        if len(pids) == want or time.monotonic() > deadline:
            return pids
        time.sleep(0.1)


def assert_replaced(httpd, group, since, old_pids, daemon_code):
    """Replacement lines for the group, the daemon naming the limit, and
    a full set of daemons none of which is an old one."""
    assert code_lines(httpd, daemon_code, group, since), \
        "the daemon did not name the limit:\n" + httpd.log.text(since)
    assert code_lines(httpd, REPLACING, group, since)
    assert httpd.log.wait_for(r"\bPYW%04d\b.*\(group=%s\b"
                              % (REPLACED, group), since=since)
    new = settled(httpd, group)
    assert len(new) == httpd.groups[group]["processes"], new
    assert not set(new) & set(old_pids), (new, old_pids)


def test_maximum_requests_recycles_without_failing_a_request(httpd):
    mark = httpd.log.mark()
    old = httpd.daemon_pids("maxreq")
    res, pids = run_load(httpd, "/maxreq?sleep=0.005", seconds=4)
    assert_nothing_failed_or_lost(res)
    assert len(res.records) > 200, res
    # Hundreds of requests, 2 processes, 50 each: new processes appear (a
    # daemon notices the limit on its watchdog tick, so it may serve
    # some more while its replacement starts).
    assert len(set(pids)) >= 3, sorted(set(pids))
    assert_replaced(httpd, "maxreq", mark, old, MAX_REQUESTS)
    # Every retired daemon exits (at info: not a crash).
    assert httpd.log.wait_for(r"\bPYW%04d\b.*\(group=maxreq\b"
                              % RETIRED_EXIT, since=mark, count=4)


@pytest.mark.parametrize("maxreq", [1, 3])
def test_daemons_replaced_in_quick_succession_fail_no_request(fresh_apache,
                                                              maxreq):
    """One thread, a tiny maximum-requests, ten clients: each retiring
    daemon handed its whole queue back, so a request went from daemon to
    daemon until Apache gave up after five (503, PYW0142): about 30 % of
    the requests with maximum-requests=1.  A request now moves once."""
    a = fresh_apache("""
PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess quick threads=1 maximum-requests=%d
PyWorkerScriptAlias /quick {apps}/recycle.wsgi process-group=quick
""" % maxreq, ready=["/quick"])
    mark = a.log.mark()
    res = Load(a.port, "/quick?sleep=0.05", total=150, concurrency=10,
               timeout=30, deadline=90,
               headers={"Connection": "close"}).run()
    assert res.counts == {200: 150}, (res, a.log.find(r"PYW0142", mark))
    assert not a.log.find(r"\bPYW0142\b", mark)


def test_replacement_is_ready_before_the_old_daemon_is_stopped(httpd):
    """Overlap: for each replaced pid, 'replacing' (new one forked) comes
    before 'replaced' (new one ready, old one told to stop)."""
    mark = httpd.log.mark()
    res, _ = run_load(httpd, "/maxreq", seconds=30, total=120)
    assert_nothing_failed_or_lost(res)
    # 120 requests, 2 processes, 50 each: at least one replacement.
    replaced = httpd.log.wait_for(r"\bPYW%04d\b.*\(group=maxreq\b"
                                  % REPLACED, since=mark)
    assert replaced, "no daemon replaced:\n" + httpd.log.text(mark)
    lines = httpd.log.lines()
    for line in replaced:
        pid = re.search(r"pid=(\d+)\)", line).group(1)
        before = [l for l in lines[:lines.index(line)]
                  if l.code == REPLACING and "pid=%s)" % pid in l]
        assert before, "pid %s stopped without a replacement first" % pid


def test_restart_interval_recycles_under_load(httpd):
    mark = httpd.log.mark()
    old = httpd.daemon_pids("interval")
    res, pids = run_load(httpd, "/interval?sleep=0.01", seconds=5)
    assert_nothing_failed_or_lost(res)
    assert len(set(pids)) >= 2, "no new process in 5 s with a 2 s interval"
    assert_replaced(httpd, "interval", mark, old, RESTART_INTERVAL)


def test_memory_limit_recycles_a_growing_daemon(httpd):
    mark = httpd.log.mark()
    old = httpd.daemon_pids("memory")
    # Each request keeps 1 MB: about 60 requests reach the limit.
    res, pids = run_load(httpd, "/memory?alloc=1&sleep=0.01", seconds=30,
                         total=200)
    assert_nothing_failed_or_lost(res)
    assert len(set(pids)) >= 2, "the daemon was never replaced"
    assert_replaced(httpd, "memory", mark, old, MEMORY_LIMIT)
    for pid in httpd.daemon_pids("memory"):
        rss_kb = procs.status_field(pid, "VmRSS") or 0
        assert rss_kb < 200 * 1024, (pid, rss_kb)


def test_cpu_time_limit_recycles_a_busy_daemon(httpd):
    mark = httpd.log.mark()
    old = httpd.daemon_pids("cpu")
    res, pids = run_load(httpd, "/cpu?burn=0.05", seconds=30, total=80,
                         concurrency=2)
    assert_nothing_failed_or_lost(res)
    assert len(set(pids)) >= 2, "the daemon was never replaced"
    assert_replaced(httpd, "cpu", mark, old, CPU_LIMIT)


def test_inactivity_timeout_replaces_an_idle_daemon(httpd):
    mark = httpd.log.mark()
    r = httpd.get("/idle")
    assert r.status_code == 200
    first = r.json()["pid"]
    new = httpd.wait_daemons("idle", exclude={first}, timeout=10)
    assert new, "daemon not replaced after 2 s without requests"
    assert code_lines(httpd, INACTIVITY, "idle", mark)
    assert procs.wait_gone({first: None}, 10) == {}
    r = httpd.get("/idle")
    assert r.status_code == 200 and r.json()["pid"] != first


def test_lifecycle_options_parse_with_units():
    rc, out = configtest("""
PyWorkerDaemonProcess all maximum-requests=1000 restart-interval=3600 \\
    inactivity-timeout=300 request-timeout=60 deadlock-timeout=120 \\
    queue-timeout=1.5 connect-timeout=500ms socket-timeout=30 \\
    startup-timeout=20 graceful-timeout=30 shutdown-timeout=10 \\
    eviction-timeout=5 listen-backlog=256 memory-limit=512M \\
    cpu-time-limit=600
PyWorkerScriptReloading Off
""")
    assert rc == 0, out


@pytest.mark.parametrize("option,words", [
    ("memory-limit=12X", ["memory-limit"]),
    ("listen-backlog=0", ["listen-backlog", "range"]),
    ("graceful-timeout=-1", ["graceful-timeout"]),
    ("maximum-requests=lots", ["maximum-requests"]),
    ("response-socket-timeout=soon", ["response-socket-timeout"]),
    ("socket-rotation=Off", ["socket-rotation", "not supported"]),
])
def test_bad_lifecycle_option_fails_configtest_naming_it(option, words):
    rc, out = configtest("PyWorkerDaemonProcess bad %s\n" % option)
    assert rc != 0
    for w in words:
        assert w in out, out


def test_listen_backlog_reaches_the_group_socket(fresh_apache):
    a = fresh_apache("""
PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess bl threads=1 listen-backlog=37 display-name=pyw-bl
PyWorkerScriptAlias /bl {apps}/hello.wsgi process-group=bl
""", ready=["/bl"])
    import subprocess
    try:
        out = subprocess.run(["ss", "-xlnH"], stdout=subprocess.PIPE,
                             timeout=10).stdout.decode()
    except FileNotFoundError:
        pytest.skip("no ss(8)")
    mine = [l for l in out.splitlines() if a.path("run") in l]
    assert mine, out
    # ss -l: Send-Q of a listening socket is its backlog.
    assert mine[0].split()[3] == "37", mine


def test_startup_timeout_kills_and_retries_with_backoff(fresh_apache):
    a = fresh_apache("""
PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess slow threads=1 startup-timeout=1 display-name=pyw-slow
PyWorkerImportScript {apps}/recycle_slow_start.py process-group=slow
PyWorkerScriptAlias /slow {apps}/hello.wsgi process-group=slow
PyWorkerDaemonProcess fine threads=1 display-name=pyw-fine
PyWorkerScriptAlias /fine {apps}/hello.wsgi process-group=fine
""", ready=["/fine"], wait_daemons=False)
    a.log.expect(r"\(group=slow\b", codes=[START_FAILED])
    killed = a.log.wait_for(r"\bPYW%04d\b.*\(group=slow\b" % STARTUP_TIMEOUT,
                            timeout=15, count=3)
    assert len(killed) >= 3, a.log.tail()
    pids = [re.search(r"pid=(\d+)\)", l).group(1) for l in killed]
    assert len(set(pids)) == len(pids), "the same process killed twice"
    failed = a.log.find(r"\bPYW%04d\b.*startup-timeout.*\(group=slow\b"
                        % START_FAILED)
    assert failed, a.log.tail()
    # Back-off: the delays grow (1 s, 2 s, ...), the CPU is not spun.
    delays = [int(d) for d in re.findall(r"restarting it in (\d+) ms",
                                         " ".join(failed))]
    assert delays == sorted(delays) and delays[-1] >= 2000, delays
    assert a.get("/fine").status_code == 200


def test_retired_daemon_outliving_its_budget_gets_sigkill(fresh_apache):
    a = fresh_apache("""
PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess stuck threads=2 graceful-timeout=2 \\
    shutdown-timeout=1 display-name=pyw-stuck
PyWorkerScriptAlias /stuck {apps}/recycle.wsgi process-group=stuck
""", ready=["/stuck"])
    (old,) = a.daemon_pids("stuck")
    mark = a.log.mark()
    # A request in flight keeps the old daemon draining; the request
    # side's lines about it failing are expected.
    a.log.expect(r"\bpid=%d\b" % old, codes=[(100, 199), (200, 299)])
    hung = {}
    t = threading.Thread(target=lambda: hung.update(
        r=a.get("/stuck?sleep=30", timeout=40)))
    t.start()
    time.sleep(0.5)
    os.kill(old, signal.SIGUSR2)            # rolling restart of the group
    assert a.log.wait_for(r"\bPYW%04d\b.*\(group=stuck pid=%d\)"
                          % (REPLACED, old), since=mark, timeout=10)
    os.kill(old, signal.SIGSTOP)            # it cannot exit by itself now
    assert procs.wait_stopped(old)
    t0 = time.monotonic()
    killed = a.log.wait_for(r"\bPYW%04d\b.*\(group=stuck pid=%d\)"
                            % (RETIRED_KILL, old), since=mark, timeout=15)
    assert killed, a.log.text(mark)
    # graceful 2 + shutdown 1 + margin 2 s after SIGTERM, not much later.
    assert time.monotonic() - t0 < 7
    exited = a.log.wait_for(r"\bPYW%04d\b.*SIGKILL.*\(group=stuck pid=%d\)"
                            % (RETIRED_EXIT, old), since=mark, timeout=5)
    assert exited and exited[0].level == "info", exited
    t.join(45)
    assert a.get("/stuck").status_code == 200

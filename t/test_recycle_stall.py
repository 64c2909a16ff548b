"""Replacing a daemon never stalls requests (issue 11), whatever asks
for the replacement: the old daemon serves until its successor is
ready, even when the application takes a second to import.

Each test starts its own Apache with one group of ONE process whose
application takes IMPORT_SECONDS to import (preloaded, so a new daemon
is ready only once it is loaded), drives steady load from CLIENTS
client threads until a new daemon has answered, and asserts that no
request failed or got lost and that the slowest one took less than
MAX_STALL.  A daemon stopped before its successor is ready leaves no
process to answer for the whole import: the slowest request then takes
about IMPORT_SECONDS (1.03-1.2 s measured with that bug, against under
0.1 s with the overlap), so half the import time tells the two apart
with room for a loaded 2-core machine on either side.

PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess slow processes=1 threads=6 <the trigger's option> \\
    display-name=pyw-slow
PyWorkerImportScript {apps}/slow_start.wsgi process-group=slow
PyWorkerScriptAlias /slow {apps}/slow_start.wsgi process-group=slow
"""
import os
import re
import signal
import threading
import time

from pyworker_t import codes
from pyworker_t.load import Load

IMPORT_SECONDS = 1.0        # t/apps/slow_start.wsgi sleeps that long
MAX_STALL = IMPORT_SECONDS / 2
CLIENTS = 4
MAX_REQUESTS = 100000       # the load's bounds: count ...
WAIT_NEW = 20.0             # ... and seconds until a new daemon answers
WARMUP = 0.5                # load before an outside trigger
AFTER = 0.5                 # load after the new daemon first answered

# Process manager codes (README "Log codes", src/apache/pyw_slots*.c).
REPLACING = 30              # a replacement was forked; the old one serves
REPLACED = 31               # the replacement is ready; old one: SIGTERM
KEPT = 40                   # graceful restart: an old daemon keeps serving
# Daemon codes (src/daemon/pyw_dlogno.h, src/python/pyw_script_reload.c):
# the cause each daemon names.
MAX_REQUESTS_REACHED, RESTART_INTERVAL, INACTIVITY = 241, 242, 243
MEMORY_LIMIT, CPU_LIMIT, REQUEST_TIMEOUT = 244, 245, 246
ROLLING_SIGNAL, SCRIPT_CHANGED = 250, 333
APACHE_REQUEST_TIMEOUT = 141    # the 504 of the stuck request

SNIPPET = """
PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess slow processes=1 threads=6 %s \\
    display-name=pyw-slow
PyWorkerImportScript {apps}/slow_start.wsgi process-group=slow
PyWorkerScriptAlias /slow {apps}/slow_start.wsgi process-group=slow
"""


def slow_group(fresh_apache, options, extra=""):
    return fresh_apache(SNIPPET % options + extra, ready=["/slow"])


class Run:
    """What one load across a replacement saw."""

    def __init__(self, res, started, old, new, new_at, mark, access_at,
                 path):
        self.res, self.started, self.mark = res, started, mark
        self.access_at = access_at      # the access log's size at the start
        self.path = path
        self.old, self.new, self.new_at = old, new, new_at

    def __repr__(self):
        return "<Run %r old=%s new=%s after %.2f s>" % (
            self.res, self.old, self.new,
            (self.new_at or self.started) - self.started)


def across_replacement(httpd, path="/slow", trigger=None, headers=None,
                       mark=None, old=None):
    """Steady load until a daemon other than `old` (by default the first
    to answer) has answered, then AFTER seconds more; `trigger` runs
    WARMUP seconds into it."""
    mark = httpd.log.mark() if mark is None else mark
    access_at = os.path.getsize(httpd.access_log)
    load = Load(httpd.port, path, total=MAX_REQUESTS, concurrency=CLIENTS,
                timeout=30, deadline=WAIT_NEW + WARMUP + AFTER,
                headers=headers, keep_body=True).start()
    started = time.monotonic()
    if trigger is not None:
        time.sleep(WARMUP)
        trigger()
    first = new = new_at = None
    seen = 0
    while new is None and time.monotonic() < started + WAIT_NEW:
        time.sleep(0.02)
        records = load.records()
        for r in records[seen:]:
            if r.status != 200:
                continue
            first = first or int(r.body)
            if int(r.body) != (old or first):
                new, new_at = int(r.body), r.end
                break
        seen = len(records)
    if new is not None:
        time.sleep(AFTER)
    load.stop()
    return Run(load.join(), started, old or first, new, new_at, mark,
               access_at, path)


def duration(r):
    return r.end - r.start


def apache_durations(httpd, run):
    """Seconds each request of the run spent inside Apache (the access
    log's %D), from reading it to the end of its response.  Its own path
    tells the run's lines from the start-up request's, whose line can
    come after the run began."""
    with open(httpd.access_log) as f:
        f.seek(run.access_at)
        return [int(line.split()[-1]) / 1e6 for line in f
                if '"GET %s ' % run.path in line]


def assert_no_stall(httpd, run, started_code=REPLACING, clock="client"):
    """Every request answered 200, none lost, none slower than MAX_STALL;
    the old daemon was told to stop only once its successor was ready.
    clock="apache" times each request inside Apache (%D) instead of at
    the client: a graceful restart of Apache itself leaves a gap before
    the new generation's children accept, which is Apache's own."""
    res = run.res
    assert res.records, "no request was sent"
    assert run.new is not None, "no new daemon answered within %.0f s: " \
        "%r\n%s" % (WAIT_NEW, run, httpd.log.text(run.mark))
    assert res.counts == {200: len(res.records)}, res.failures()[:10]
    assert sorted(r.index for r in res.records) == \
        list(range(len(res.records))), "requests lost"
    times = [duration(r) for r in res.records]
    if clock == "apache":
        times = apache_durations(httpd, run)
        # (the last responses' lines may still be on their way)
        assert len(times) >= len(res.records) - CLIENTS, \
            (len(times), len(res.records))
    slowest = ["%.3f" % t for t in sorted(times)[-5:]]
    print("%r; slowest (%s clock): %s" % (run, clock, slowest))
    assert max(times) < MAX_STALL, \
        "a request waited %s s for a replacement (%d requests; slowest " \
        "%s, %s clock)" % (slowest[-1], len(times), slowest, clock)
    # The load ran through the successor's whole start (else the bound
    # above proves nothing).
    assert run.new_at - run.started > IMPORT_SECONDS * 0.75, run
    # The log says the same: started, then ready and only then stopped.
    pid = r"\(group=slow pid=%d\)" % run.old
    started = httpd.log.find(r"\bPYW%04d\b.*%s" % (started_code, pid))
    stopped = httpd.log.wait_for(r"\bPYW%04d\b.*%s" % (REPLACED, pid),
                                 since=run.mark)
    assert started and stopped, httpd.log.text(run.mark)
    lines = httpd.log.lines()
    assert lines.index(started[0]) < lines.index(stopped[0])


def assert_cause(httpd, run, code):
    """The old daemon named what made it ask for a replacement."""
    assert httpd.log.find(r"\bPYW%04d\b.*\(group=slow pid=%d\b"
                          % (code, run.old), since=run.mark), \
        httpd.log.text(run.mark)


def test_maximum_requests_replacement_does_not_stall(fresh_apache):
    httpd = slow_group(fresh_apache, "maximum-requests=40")
    run = across_replacement(httpd)
    assert_no_stall(httpd, run)
    assert_cause(httpd, run, MAX_REQUESTS_REACHED)


def test_restart_interval_replacement_does_not_stall(fresh_apache):
    httpd = slow_group(fresh_apache, "restart-interval=2")
    run = across_replacement(httpd)
    assert_no_stall(httpd, run)
    assert_cause(httpd, run, RESTART_INTERVAL)


def test_inactivity_timeout_replacement_does_not_stall(fresh_apache):
    """The load can only start once the idle daemon asked: requests that
    arrive while its successor imports are the ones at risk."""
    httpd = slow_group(fresh_apache, "inactivity-timeout=1")
    mark = httpd.log.mark()
    assert httpd.get("/slow").status_code == 200    # starts the count
    asked = httpd.log.wait_for(r"\bPYW%04d\b.*\(group=slow\b" % REPLACING,
                               since=mark, timeout=10)
    assert asked, httpd.log.text(mark)
    old = int(re.search(r"\bpid=(\d+)\)", asked[0]).group(1))
    run = across_replacement(httpd, mark=mark, old=old)
    assert_no_stall(httpd, run)
    assert_cause(httpd, run, INACTIVITY)


def test_memory_limit_replacement_does_not_stall(fresh_apache):
    # The first 120 requests keep 1 MB each: the limit is passed after
    # about 40-60 of them; the memory the load can take stays bounded.
    httpd = slow_group(fresh_apache, "memory-limit=60M")
    run = across_replacement(
        httpd, path=lambda i: "/slow?alloc=1" if i < 120 else "/slow")
    assert_no_stall(httpd, run)
    assert_cause(httpd, run, MEMORY_LIMIT)


def test_cpu_time_limit_replacement_does_not_stall(fresh_apache):
    # The first 200 requests spend 10 ms of CPU each: 2 s at most.
    httpd = slow_group(fresh_apache, "cpu-time-limit=1")
    run = across_replacement(
        httpd, path=lambda i: "/slow?burn=0.01" if i < 200 else "/slow")
    assert_no_stall(httpd, run)
    assert_cause(httpd, run, CPU_LIMIT)


def test_request_timeout_replacement_does_not_stall(fresh_apache):
    """One request stuck past request-timeout gets 504 and makes its
    daemon ask for a replacement; the others must not notice."""
    httpd = slow_group(fresh_apache, "request-timeout=1 graceful-timeout=1 "
                       "shutdown-timeout=1")
    (old,) = httpd.daemon_pids("slow")
    # The stuck request's lines: the 504, the daemon's stacks, and the
    # retired daemon giving up on it after graceful-timeout.
    httpd.log.expect(r"\bpid=%d\b" % old, codes=[APACHE_REQUEST_TIMEOUT,
                                                 codes.DAEMON_DIED])
    stuck = {}

    def get_stuck():
        stuck["r"] = httpd.get("/slow?sleep=30", timeout=30)

    thread = threading.Thread(target=get_stuck, daemon=True)
    run = across_replacement(httpd, trigger=thread.start, old=old)
    thread.join(30)
    assert stuck["r"].status_code == 504, stuck
    assert_no_stall(httpd, run)
    assert_cause(httpd, run, REQUEST_TIMEOUT)


def test_touched_script_replacement_does_not_stall(fresh_apache):
    httpd = slow_group(fresh_apache, "",
                       extra="PyWorkerScriptReloading On\n")
    script = httpd.path("apps", "slow_start.wsgi")

    def touch():
        st = os.stat(script)
        os.utime(script, ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10**9))

    run = across_replacement(httpd, trigger=touch)
    assert_no_stall(httpd, run)
    assert_cause(httpd, run, SCRIPT_CHANGED)


def test_sigusr2_rolling_restart_does_not_stall(fresh_apache):
    httpd = slow_group(fresh_apache, "")
    (old,) = httpd.daemon_pids("slow")
    run = across_replacement(httpd, old=old,
                             trigger=lambda: os.kill(old, signal.SIGUSR2))
    assert_no_stall(httpd, run)
    assert_cause(httpd, run, ROLLING_SIGNAL)


def test_apache_graceful_restart_does_not_stall(fresh_apache):
    """Connection: close - Apache's own children close idle keep-alive
    connections when a graceful restart retires them (a static file
    shows the same race); that is not what this test is about.  Timed
    inside Apache: after a graceful restart mpm_event forks the new
    generation's children only once it reaps an old one or after a
    second, and until then nobody accepts (seen on a loaded machine:
    every client waited 1.02 s, children created 1.01 s after AH00489,
    while no request took more than 15 ms inside Apache)."""
    httpd = slow_group(fresh_apache, "")
    (old,) = httpd.daemon_pids("slow")
    run = across_replacement(httpd,
                             trigger=lambda: os.kill(httpd.pid,
                                                     signal.SIGUSR1),
                             headers={"Connection": "close"}, old=old,
                             path="/slow?graceful")
    assert httpd.log.find(r"AH00489", since=run.mark)
    assert_no_stall(httpd, run, started_code=KEPT, clock="apache")
    assert re.search(r"Apache restarted gracefully", httpd.log.find(
        r"\bPYW%04d\b.*pid=%d\)" % (REPLACED, old), since=run.mark)[0])

"""Deploys without a gap (issue 5): `apachectl graceful`, a touched WSGI
script, and a rolling restart of one group (SIGUSR2 to any of its
daemons), each under continuous load: zero failed and zero lost
requests, a request longer than the restart finishes normally, new
requests are not stalled, the group socket keeps its path.  Also: a
graceful restart that shrinks or drops groups, a hard restart that
does not block, and a stop that ends stuck daemons after
shutdown-timeout.  SIGTERM or SIGUSR1 sent to a daemon by hand replaces
it the same way, without a gap."""
import glob
import os
import re
import signal
import threading
import time

import pytest
import requests

from pyworker_t import procs
from pyworker_t.load import Load

# Process manager codes (README "Log codes").
REPLACING, REPLACED, RETIRED_EXIT = 30, 31, 32
ROLLING_START, ROLLING_STEP, ROLLING_DONE, ROLLING_AGAIN = 35, 36, 37, 38
HANDED_OVER, KEPT, DROPPED = 39, 40, 41
SCRIPT_CHANGED = 333        # daemon: a WSGI script changed on disk
OLD_EXITED = 46             # a daemon being replaced exited first
SIGNAL_REPLACE = 257        # daemon, info: SIGTERM/SIGUSR1 from pid N

# Small requests stalled longer than this during a restart fail the test.
# Issue 5 asks for 100 ms; this 2-core machine runs other test suites at
# the same time, hence the slack.
MAX_STALL = 0.35

CONF = """
PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess web processes=2 threads=4 display-name=pyw-web
PyWorkerDaemonProcess touch processes=2 threads=4 display-name=pyw-touch
PyWorkerDaemonProcess roll processes=2 threads=4 display-name=pyw-roll
PyWorkerScriptAlias /web {apps}/deploy.wsgi process-group=web
PyWorkerScriptAlias /touch {apps}/deploy_touch.wsgi process-group=touch
PyWorkerScriptAlias /roll {apps}/deploy.wsgi process-group=roll
"""


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/web", "/touch", "/roll"])


def socket_of(httpd, group):
    (path,) = [p for p in glob.glob(httpd.path("run", "pyws*"))
               if p.endswith(".%s.sock" % group)]
    return path, os.stat(path).st_ino


def code_lines(httpd, code, group, since):
    return [l for l in httpd.log.lines(since)
            if l.code == code and re.search(r"\(group=%s\b" % group, l)]


def load(httpd, path, seconds, keepalive=True):
    """Four clients sending small requests for `seconds`.  Across an
    Apache restart use keepalive=False: Apache's own children close idle
    keep-alive connections when they stop, and a client that sent its
    next request at that moment sees the connection close (a static file
    shows the same; HTTP clients retry such idempotent requests)."""
    headers = {} if keepalive else {"Connection": "close"}
    return Load(httpd.port, path, total=1000000, concurrency=4, timeout=30,
                deadline=seconds, keep_body=True, headers=headers).start()


def assert_nothing_failed_or_lost(res):
    assert res.records, "no request was sent"
    assert res.counts == {200: len(res.records)}, res.failures()[:10]
    assert sorted(r.index for r in res.records) == \
        list(range(len(res.records))), "requests lost"


def background_get(httpd, path, timeout):
    """A request on its own thread whose failure is expected: returns the
    thread; the outcome (response or exception) goes to its .result."""
    def run():
        try:
            t.result = httpd.get(path, timeout=timeout)
        except Exception as e:          # the connection may be cut
            t.result = e
    t = threading.Thread(target=run, daemon=True)
    t.result = None
    t.start()
    return t


def max_stall(res, t0, t1):
    """Longest small request that was running between t0 and t1."""
    during = [r.end - r.start for r in res.records
              if r.end >= t0 and r.start <= t1]
    assert during, "no request ran during the restart"
    return max(during)


def test_graceful_restart_under_load_has_no_gap(httpd):
    sock_before = socket_of(httpd, "web")
    old = set(httpd.daemon_pids("web"))
    mark = httpd.log.mark()
    small = load(httpd, "/web", seconds=6, keepalive=False)
    long = {}
    t = threading.Thread(target=lambda: long.update(
        r=httpd.get("/web?sleep=3", timeout=30)))
    time.sleep(1.5)
    t.start()
    time.sleep(0.5)                 # the long request is running
    t0 = time.monotonic()
    os.kill(httpd.pid, signal.SIGUSR1)
    new = httpd.wait_daemons("web", exclude=old, timeout=20)
    t1 = time.monotonic()
    res = small.join()
    t.join(30)
    assert_nothing_failed_or_lost(res)
    assert long["r"].status_code == 200, long["r"].text[:300]
    assert long["r"].text.split()[1] in {str(p) for p in old}
    stall = max_stall(res, t0, t1 + 1)
    assert stall < MAX_STALL, "a request waited %.3f s" % stall
    assert len(new) == 2 and not set(new) & old
    assert socket_of(httpd, "web") == sock_before, "socket was recreated"
    assert [l for l in httpd.log.lines(mark) if l.code == HANDED_OVER]
    assert len(code_lines(httpd, KEPT, "web", mark)) == 2
    gone = procs.wait_gone({p: None for p in old}, 20)
    assert not gone, "old daemons still alive: %s" % gone
    # The old daemon with the long request exits after finishing it.
    exits = httpd.log.wait_for(r"\bPYW%04d\b.*\(group=web\b" % RETIRED_EXIT,
                               since=mark, count=2)
    assert len(exits) >= 2 and all(l.level == "info" for l in exits)


def test_graceful_restart_does_not_block_the_parent(httpd):
    """The old generation is handed over, not waited for: the restart
    completes while a long request still runs in an old daemon."""
    mark = httpd.log.mark()
    long = {}
    t = threading.Thread(target=lambda: long.update(
        r=httpd.get("/web?sleep=4", timeout=30)))
    t.start()
    time.sleep(0.5)
    t0 = time.monotonic()
    os.kill(httpd.pid, signal.SIGUSR1)
    assert httpd.log.wait_for(r"AH00489", since=mark, timeout=10)
    took = time.monotonic() - t0
    assert took < 2, "restart took %.1f s" % took
    assert httpd.get("/web").status_code == 200
    t.join(30)
    assert long["r"].status_code == 200


def test_touched_script_rolls_new_code_in_under_load(httpd):
    path = httpd.path("apps", "deploy_touch.wsgi")
    old = set(httpd.daemon_pids("touch"))
    mark = httpd.log.mark()
    traffic = load(httpd, "/touch", seconds=5)
    time.sleep(1)
    with open(path) as f:
        src = f.read()
    tmp = path + ".new"
    with open(tmp, "w") as f:
        f.write(src.replace('VERSION = "v1"', 'VERSION = "v2"'))
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)            # as a deploy tool would
    res = traffic.join()
    assert_nothing_failed_or_lost(res)
    versions = [r.body.split()[0] for r in res.records]
    assert versions[-1] == b"v2", versions[-20:]
    assert code_lines(httpd, ROLLING_START, "touch", mark)
    new = httpd.wait_daemons("touch", exclude=old, timeout=20)
    assert len(new) == 2
    for _ in range(10):
        assert httpd.get("/touch").text.startswith("v2")


def test_sigusr2_replaces_the_group_one_process_at_a_time(httpd):
    old = httpd.daemon_pids("roll")
    other = set(httpd.daemon_pids("web"))
    mark = httpd.log.mark()
    traffic = load(httpd, "/roll", seconds=5)
    time.sleep(1)
    # Both daemons ask: one rolling restart, the second request coalesced.
    os.kill(old[0], signal.SIGUSR2)
    os.kill(old[1], signal.SIGUSR2)
    new = httpd.wait_daemons("roll", exclude=set(old), timeout=20)
    res = traffic.join()
    assert_nothing_failed_or_lost(res)
    assert len(new) == 2
    assert httpd.log.wait_for(r"\bPYW%04d\b.*\(group=roll\b" % ROLLING_DONE,
                              since=mark)
    lines = [l for l in httpd.log.lines(mark) if "(group=roll" in l]
    assert len([l for l in lines if l.code == ROLLING_START]) == 1, lines
    assert len([l for l in lines if l.code == ROLLING_STEP]) == 2, lines
    # One at a time: the second replacement starts only once the first
    # replacement is ready (its predecessor told to stop).
    order = [l.code for l in lines if l.code in (REPLACING, REPLACED)]
    assert order == [REPLACING, REPLACED, REPLACING, REPLACED], lines
    # Another group is not touched.
    assert set(httpd.daemon_pids("web")) == other


def test_graceful_with_fewer_processes_and_a_group_removed(fresh_apache):
    a = fresh_apache("""
PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess keep processes=2 threads=2 display-name=pyw-keep
PyWorkerDaemonProcess gone threads=2 display-name=pyw-gone
PyWorkerScriptAlias /keep {apps}/deploy.wsgi process-group=keep
PyWorkerScriptAlias /gone {apps}/deploy.wsgi process-group=gone
""", ready=["/keep", "/gone"])
    keep, gone = a.daemon_pids("keep"), a.daemon_pids("gone")
    gone_sock = glob.glob(a.path("run", "pyws*.gone.sock"))
    assert gone_sock
    mark = a.log.mark()
    a.snippet = """
PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess keep processes=1 threads=2 display-name=pyw-keep
PyWorkerScriptAlias /keep {apps}/deploy.wsgi process-group=keep
"""
    a.write_conf()
    a.groups = {"keep": {"processes": 1, "display": "pyw-keep"}}
    traffic = load(a, "/keep", seconds=3, keepalive=False)
    time.sleep(0.5)
    os.kill(a.pid, signal.SIGUSR1)
    res = traffic.join()
    assert_nothing_failed_or_lost(res)
    assert procs.wait_gone({p: None for p in keep + gone}, 20) == {}
    assert len(a.wait_daemons("keep", exclude=set(keep))) == 1
    dropped = code_lines(a, DROPPED, "gone", mark) + \
        code_lines(a, DROPPED, "keep", mark)
    assert len(dropped) == 2, a.log.text(mark)
    assert not os.path.exists(gone_sock[0])
    assert a.get("/gone").status_code == 404


def test_hard_restart_does_not_wait_for_daemons(fresh_apache):
    a = fresh_apache("""
PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess hard threads=2 shutdown-timeout=1 \\
    display-name=pyw-hard
PyWorkerScriptAlias /hard {apps}/deploy.wsgi process-group=hard
""", ready=["/hard"])
    old = a.daemon_pids("hard")
    # Apache kills its own children on SIGHUP: the long request dies
    # with them; lines about it are expected.
    a.log.expect(r"\bpid=%d\b" % old[0], codes=[(100, 199)])
    background_get(a, "/hard?sleep=20", timeout=30)
    time.sleep(0.5)
    mark = a.log.mark()
    t0 = time.monotonic()
    os.kill(a.pid, signal.SIGHUP)
    assert a.log.wait_for(r"AH00489", since=mark, timeout=15)
    assert time.monotonic() - t0 < 5
    assert len(a.wait_daemons("hard", exclude=set(old), timeout=20)) == 1
    assert a.get("/hard").status_code == 200


@pytest.mark.parametrize("how", ["restart", "stop"])
def test_a_queued_request_does_not_hold_up_a_hard_restart(fresh_apache,
                                                           how):
    """One request runs, one waits for the group's only thread; then a
    hard restart (SIGHUP) or a stop.  The stopping daemon gave the queued
    one back (GOODBYE) and the Apache child sent it again, to a socket no
    daemon serves until the restart is over, which waited for that child:
    about 10 s, then AH00046 and SIGKILL.  Now the daemon's GOODBYE says
    it stops with Apache: 503 at once (PYW0119)."""
    a = fresh_apache("""
PyWorkerDaemonProcess q1 threads=1 display-name=pyw-q1
PyWorkerScriptAlias /q1 {apps}/slow.wsgi process-group=q1
""", ready=["/q1?0"])
    a.log.expect(r"group=q1", codes=[(100, 299)])
    running = background_get(a, "/q1?2", timeout=30)
    time.sleep(0.5)
    queued = background_get(a, "/q1?0", timeout=30)
    time.sleep(0.5)
    mark = a.log.mark()
    t0 = time.monotonic()
    if how == "restart":
        os.kill(a.pid, signal.SIGHUP)
        assert a.log.wait_for(r"AH00489", since=mark, timeout=30)
    else:
        a.stop()
        a.stop_errors = []      # the requests cut short may be logged
    took = time.monotonic() - t0
    running.join(30)
    queued.join(30)
    assert not a.log.find(r"AH00046", since=mark), a.log.text(mark)
    assert took < 6, took
    # 503, unless the stopping child closed the client's connection first
    if not isinstance(queued.result, Exception):
        assert queued.result.status_code == 503, queued.result
        assert a.log.find(r"PYW0119.*stopped with Apache .* before running",
                          since=mark)


def test_stop_kills_stuck_daemons_after_shutdown_timeout(fresh_apache):
    a = fresh_apache("""
PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess stop threads=2 shutdown-timeout=1 \\
    display-name=pyw-stop
PyWorkerScriptAlias /stop {apps}/deploy.wsgi process-group=stop
""", ready=["/stop"])
    (pid,) = a.daemon_pids("stop")
    background_get(a, "/stop?sleep=30", timeout=40)
    time.sleep(0.5)
    os.kill(pid, signal.SIGSTOP)        # cannot stop by itself
    assert procs.wait_stopped(pid)
    t0 = time.monotonic()
    a.stop()
    assert time.monotonic() - t0 < 6
    assert a.leftovers == [], "daemons outlived Apache"
    assert not procs.alive(pid)
    a.stop_errors = []          # the request cut short may be logged


def test_script_reloading_off_ignores_a_touched_script(fresh_apache):
    a = fresh_apache("""
PyWorkerSocketPrefix {run}/pyws
PyWorkerScriptReloading Off
PyWorkerDaemonProcess frozen threads=2 display-name=pyw-frozen
PyWorkerScriptAlias /frozen {apps}/deploy_touch.wsgi process-group=frozen
""", ready=["/frozen"])
    (pid,) = a.daemon_pids("frozen")
    assert a.get("/frozen").text == "v1 %d" % pid
    path = a.path("apps", "deploy_touch.wsgi")
    with open(path) as f:
        src = f.read()
    with open(path, "w") as f:
        f.write(src.replace('VERSION = "v1"', 'VERSION = "v2"'))
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        assert a.get("/frozen").text == "v1 %d" % pid
        time.sleep(0.2)
    assert a.daemon_pids("frozen") == [pid]
    assert not a.log.find(r"\bPYW%04d\b" % ROLLING_START)


SLOW = """
PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess slow processes=1 threads=4 display-name=pyw-slow
PyWorkerImportScript {apps}/slow_start.wsgi process-group=slow
PyWorkerScriptAlias /slow {apps}/slow_start.wsgi process-group=slow
"""
SLOW_IMPORT = 1.0           # t/apps/slow_start.wsgi takes that to import


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGUSR1],
                         ids=["SIGTERM", "SIGUSR1"])
def test_sigterm_or_sigusr1_by_hand_replaces_the_daemon_without_a_gap(
        fresh_apache, sig):
    """`kill <daemon pid>` and `kill -USR1 <daemon pid>` (mod_wsgi's
    graceful restart of one daemon, which deploy scripts send) replace
    the daemon as maximum-requests does: the successor starts and is
    ready before the old one drains, no request fails or waits.

    Was: SIGUSR1 was ignored (PYW0203, at info); SIGTERM stopped the
    daemon at once and the parent started the next one only after it
    exited, logging the clean stop as an error (PYW0022 "died (exit
    status 0)"): with processes=1 and an application that takes a second
    to import, every request meanwhile waited that second.  Now the
    daemon says who asked (PYW0257, at info, the sender's pid) and asks
    the parent for a successor; the parent's own stop signals, and
    prefork's SIGTERM to its process group, still mean a stop."""
    httpd = fresh_apache(SLOW, ready=["/slow"])
    (old,) = httpd.daemon_pids("slow")
    mark = httpd.log.mark()
    traffic = Load(httpd.port, "/slow?sleep=0.01", total=100000,
                   concurrency=4, timeout=30, deadline=4,
                   keep_body=True).start()
    time.sleep(1.0)
    os.kill(old, sig)
    res = traffic.join()
    assert_nothing_failed_or_lost(res)
    pids = {int(r.body) for r in res.records}
    assert old in pids and len(pids) == 2, pids     # the new one served too
    slowest = max(r.end - r.start for r in res.records)
    assert slowest < SLOW_IMPORT / 2, "a request waited %.2f s for the " \
        "daemon that replaces one sent %s" % (slowest, sig.name)
    asked = httpd.log.find(r"\bPYW%04d\b.*%s from pid %d\b.*\(group=slow "
                           r"pid=%d\)" % (SIGNAL_REPLACE, sig.name,
                                          os.getpid(), old), since=mark)
    assert asked and asked[0].level == "info", httpd.log.text(mark)
    # Started, ready, and only then stopped; then it exited as retired.
    assert httpd.log.wait_for(r"\bPYW%04d\b.*\(group=slow pid=%d\)"
                              % (RETIRED_EXIT, old), since=mark)
    order = [l.code for l in httpd.log.lines(mark)
             if "(group=slow pid=%d)" % old in l
             and l.code in (REPLACING, REPLACED, RETIRED_EXIT)]
    assert order == [REPLACING, REPLACED, RETIRED_EXIT], \
        httpd.log.text(mark)
    assert not [l for l in httpd.log.lines(mark) if l.severe], \
        httpd.log.text(mark)


def test_a_second_sigterm_by_hand_stops_the_daemon_at_once(fresh_apache):
    """A SIGTERM by hand waits for the daemon's successor; a second one
    does not (kill still ends a daemon whose successor cannot start):
    the daemon stops gracefully now, before its successor is ready, and
    the parent notes that at info (PYW0046), not as a death."""
    httpd = fresh_apache(SLOW, ready=["/slow"])
    (old,) = httpd.daemon_pids("slow")
    mark = httpd.log.mark()
    os.kill(old, signal.SIGTERM)
    assert httpd.log.wait_for(r"\bPYW%04d\b.*pid=%d\)"
                              % (REPLACING, old), since=mark, timeout=10)
    t0 = time.monotonic()
    os.kill(old, signal.SIGTERM)
    assert procs.wait_gone({old: None}, 10) == {}
    assert time.monotonic() - t0 < SLOW_IMPORT, "the second SIGTERM " \
        "waited for the successor"
    again = httpd.log.find(r"\bPYW%04d\b.*SIGTERM from pid %d, again"
                           % (SIGNAL_REPLACE, os.getpid()), since=mark)
    assert again, httpd.log.text(mark)
    exited = httpd.log.wait_for(r"\bPYW%04d\b.*pid=%d\)"
                                % (OLD_EXITED, old), since=mark)
    assert exited and exited[0].level == "info", httpd.log.text(mark)
    assert len(httpd.wait_daemons("slow", exclude={old}, timeout=20)) == 1
    assert httpd.get("/slow").status_code == 200


EVICTION = """
PyWorkerDaemonProcess ev processes=1 threads=4 display-name=pyw-ev \\
    graceful-timeout=1 eviction-timeout=10
PyWorkerScriptAlias /slow {apps}/slow.wsgi process-group=ev
"""


def test_a_daemon_replaced_for_sigusr1_drains_with_eviction_timeout(
        fresh_apache):
    """The parent retires a daemon that asked for a successor (SIGUSR1 by
    hand) with PYW_RETIRE_SIGNAL and counts eviction-timeout for it, as
    mod_wsgi does for SIGUSR1; the daemon counted graceful-timeout (1 s)
    and cut a 4 s request in flight (PYW0204, 502)."""
    a = fresh_apache(EVICTION, ready=["/slow?0"])
    (old,) = a.daemon_pids("ev")
    mark = a.log.mark()
    out = {}

    def slow():
        out["r"] = requests.get(a.url("/slow?4"), timeout=30)
    t = threading.Thread(target=slow)
    t.start()
    time.sleep(0.5)
    os.kill(old, signal.SIGUSR1)
    t.join(30)
    line = a.log.wait_for(r"\bPYW0202\b.*pid=%d\)" % old, since=mark,
                          timeout=10)
    assert line and "eviction-timeout" in line[0], a.log.text(mark)
    assert out["r"].status_code == 200, a.log.text(mark)


SELF_SIGNAL = """
PyWorkerDaemonProcess sk processes=1 threads=2 display-name=pyw-sk
PyWorkerScriptAlias /sk {apps}/self_signal.wsgi process-group=sk
"""


@pytest.mark.parametrize("sig", ["SIGTERM", "SIGINT"])
def test_a_signal_the_application_sends_itself_replaces_the_daemon(
        fresh_apache, sig):
    """os.kill(os.getpid(), SIGINT) is mod_wsgi's documented way for code
    to restart its own daemon (its source-code monitor); SIGTERM is as
    common.  The daemon stopped with no successor started first, and the
    parent logged the clean exit as a death at error level (PYW0022);
    SIGINT was even taken for Apache's own stop.  Now either is a
    replacement without a gap, as a signal sent by hand is."""
    a = fresh_apache(SELF_SIGNAL, ready=["/sk"])
    (old,) = a.daemon_pids("sk")
    mark = a.log.mark()
    assert a.get("/sk?" + sig).status_code == 200
    assert a.wait_daemons("sk", exclude={old}, timeout=20)
    assert a.get("/sk").status_code == 200
    assert a.log.wait_for(r"\bPYW0257\b: %s from pid %d.*pid=%d\)"
                          % (sig, old, old), since=mark)
    time.sleep(0.5)
    text = a.log.text(mark)
    assert "Apache is stopping" not in text, text
    assert not [l for l in a.log.lines(mark) if l.severe], text


def test_sigint_by_hand_replaces_the_daemon_as_sigterm_does(fresh_apache):
    """kill -INT <daemon pid> by an operator (mod_wsgi's daemons take
    SIGINT as SIGTERM) was taken for Apache's own stop: requests in
    flight got shutdown-timeout only, no successor was started first, and
    the parent logged a death (PYW0022).  Only Apache's parent and the
    daemon's keeper send the SIGINT that means Apache stops."""
    a = fresh_apache(SELF_SIGNAL, ready=["/sk"])
    (old,) = a.daemon_pids("sk")
    mark = a.log.mark()
    os.kill(old, signal.SIGINT)
    assert a.wait_daemons("sk", exclude={old}, timeout=20)
    assert a.get("/sk").status_code == 200
    assert a.log.wait_for(r"\bPYW0257\b: SIGINT from pid", since=mark)
    time.sleep(0.5)
    text = a.log.text(mark)
    assert "Apache is stopping" not in text, text
    assert not [l for l in a.log.lines(mark) if l.severe], text

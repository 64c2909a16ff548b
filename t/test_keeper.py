"""A daemon's keeper (pyw_keeper.c): Apache's parent reaps a small root
process that waits for the daemon, never the daemon itself.  Every MPM
shuts all of Apache down when a child exits with status 15, and a
tenant's code can end its daemon with any status: before the keeper,
libc's _exit(15) through ctypes, or exec of a program that exits 15,
stopped every site on the host (os._exit(15) alone was caught, by a
Python guard).  Now the status only reaches the error log.
"""
import os
import re
import resource
import signal

import pytest

from pyworker_t import codes, procs
from pyworker_t.jsonapp import answer, get, serving

CONF = """
PyWorkerDaemonProcess ends threads=2 display-name=pyw-ends \\
    shutdown-timeout=3
PyWorkerScriptAlias /ends {apps}/exits.wsgi process-group=ends
PyWorkerDaemonProcess orphaned threads=2 shutdown-timeout=3
PyWorkerScriptAlias /orphaned {apps}/exits.wsgi process-group=orphaned
PyWorkerDaemonProcess killed threads=2
PyWorkerScriptAlias /killed {apps}/exits.wsgi process-group=killed
PyWorkerDaemonProcess late threads=2
PyWorkerScriptAlias /late {apps}/exits.wsgi process-group=late
PyWorkerDaemonProcess bystander threads=2 display-name=pyw-bystander
PyWorkerScriptAlias /bystander {apps}/exits.wsgi process-group=bystander
"""

IS_ROOT = os.geteuid() == 0


# Each test ends the daemons of a group of its own: quick deaths back off.
@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/ends", "/bystander", "/orphaned",
                               "/killed", "/late"])


def died_lines(httpd, pid, since):
    """The parent's PYW0022 line for daemon pid (waited for)."""
    return httpd.log.wait_for(r"\bPYW%04d\b.*pid=%d\)"
                              % (codes.DAEMON_DIED, pid), since=since)


@pytest.mark.parametrize("how,status", [("libc", 15), ("exec", 15),
                                        ("os", 15), ("libc", 7)])
def test_an_exit_status_of_the_apps_choice_leaves_apache_up(httpd, how,
                                                           status):
    """15 is APEXIT_CHILDFATAL; 7 (APEXIT_CHILDSICK) makes the MPM slow
    its own forks.  Either is the daemon's own end, logged as such."""
    pid = answer(httpd, "/ends")["pid"]
    other = answer(httpd, "/bystander")["pid"]
    httpd.log.expect(r"\bpid=%d\b" % pid, codes=[codes.DAEMON_DIED,
                                                  codes.BACKEND_CLOSED, 28])
    mark = httpd.log.mark()
    r = get(httpd, "/ends?how=%s&status=%d" % (how, status))
    assert r.status == 502, r
    died = died_lines(httpd, pid, mark)
    # exec: the parent may see the other program before it exits, and
    # kill it (PYW0028).
    ends = ["(exit status %d)" % status] + (["killed by signal 9"]
                                            if how == "exec" else [])
    assert died and any(e in died[0] for e in ends), died
    assert serving(httpd, "ends", pid)["pid"] != pid
    assert httpd.proc.poll() is None, "Apache exited:\n" + httpd.log.tail()
    assert not httpd.log.find(r"AH00102|Fatal error", since=mark)
    # The other group's daemon was never touched.
    assert answer(httpd, "/bystander")["pid"] == other


def test_the_keeper_is_apaches_child_and_holds_nothing(httpd):
    me = answer(httpd, "/ends")
    keeper = me["ppid"]
    assert keeper != httpd.pid
    assert procs.stat(keeper)[0] == httpd.pid
    assert procs.comm(keeper) == "pyw-keeper"
    assert procs.cmdline(keeper) == "pyworker: keeper"
    assert keeper in httpd.keepers()
    assert me["pid"] in httpd.daemon_pids("ends")
    # Apache's listeners, logs, other groups' sockets and pipes: closed.
    held = procs.fds(keeper)
    extra = {fd: t for fd, t in held.items() if fd > 2}
    assert len(extra) == 1 and list(extra.values())[0].startswith("pipe:"), \
        held
    assert not [t for t in held.values() if t.startswith("socket:")], held
    if IS_ROOT:
        assert procs.status_field(keeper, "Uid").split()[:2] == ["0", "0"]
    # A copy of the parent that touches almost nothing of its own.
    with open("/proc/%d/smaps_rollup" % keeper) as f:
        rollup = dict(re.findall(r"^(\w+):\s+(\d+) kB", f.read(), re.M))
    print("keeper %d: Rss %s kB, Pss %s kB, Private_Dirty %s kB"
          % (keeper, rollup["Rss"], rollup["Pss"], rollup["Private_Dirty"]))
    assert int(rollup["Private_Dirty"]) < 2048, rollup


@pytest.mark.skipif(not IS_ROOT, reason="daemons switch user only as root")
def test_the_tenant_cannot_signal_its_keeper(httpd):
    me = answer(httpd, "/ends?how=kill_parent")
    assert me["kill"] == "EPERM", me
    assert procs.alive(me["ppid"])


def test_a_killed_keeper_stops_its_daemon_which_is_replaced(httpd):
    me = answer(httpd, "/orphaned")
    pid, keeper = me["pid"], me["ppid"]
    httpd.log.expect(r"\bpid=%d\b" % pid, codes=[codes.DAEMON_DIED])
    mark = httpd.log.mark()
    os.kill(keeper, signal.SIGKILL)
    died = died_lines(httpd, pid, mark)
    assert died and "its keeper process ended before it" in died[0], died
    # Its parent-death signal is Apache's stop: it ends on its own.
    assert not procs.wait_gone({pid: None}, 10), \
        "the daemon outlived its keeper"
    assert serving(httpd, "orphaned", pid)["pid"] != pid


def test_a_signal_that_ends_a_daemon_is_reported_exactly(httpd):
    """Through the keeper's report: a signal, not an exit status."""
    pid = answer(httpd, "/killed")["pid"]
    httpd.log.expect(r"\bpid=%d\b" % pid, codes=[codes.DAEMON_DIED])
    mark = httpd.log.mark()
    os.kill(pid, signal.SIGKILL)
    died = died_lines(httpd, pid, mark)
    assert died and "killed by signal 9 (Killed)" in died[0], died
    assert serving(httpd, "killed", pid)["pid"] != pid


def test_a_ready_daemon_whose_ready_was_not_read_yet_died_serving(httpd):
    """A daemon said READY, then died while the parent (and its waker)
    were stopped.  It had been serving: it died (PYW0022), it did not
    fail to start (PYW0023, backed off).  A busy parent may reap the
    keeper before it reads the READY (a CI run saw it); the parent reads
    a dead daemon's pipe for it (pyw_slots_death.c), but this test cannot
    force that order: here the READY is read first."""
    first = answer(httpd, "/late")["pid"]
    httpd.log.expect(codes=[codes.DAEMON_DIED])
    mark = httpd.log.mark()
    os.kill(first, signal.SIGKILL)
    started = httpd.log.wait_for(r"\bPYW0021\b.*group=late pid=", since=mark)
    assert started, httpd.log.text(mark)
    new = int(re.search(r"pid=(\d+)\)", started[-1]).group(1))
    os.kill(httpd.pid, signal.SIGSTOP)
    wakers = [p for p in procs.children(httpd.pid)
              if procs.comm(p) == "pyw-waker"]
    for p in wakers:
        os.kill(p, signal.SIGSTOP)
    try:
        assert wakers, "no waker while a daemon starts"
        assert httpd.log.wait_for(r"\bPYW0240\b.*pid=%d\)" % new,
                                  since=mark, timeout=20)
        os.kill(new, signal.SIGKILL)
        assert not procs.wait_gone({new: None}, 10)
        os.kill(httpd.pid, signal.SIGCONT)
        assert httpd.log.wait_for(r"\bPYW002[23]\b.*pid=%d\)" % new,
                                  since=mark)
    finally:
        os.kill(httpd.pid, signal.SIGCONT)
        for p in wakers:
            if procs.alive(p):
                os.kill(p, signal.SIGCONT)
    died = httpd.log.wait_for(r"\bPYW002[23]\b.*pid=%d\)" % new,
                              since=mark)
    assert died and "PYW0022" in died[0], died
    assert serving(httpd, "late", new)["pid"] not in (first, new)


def test_the_parent_raises_its_open_files_limit_for_every_process(
        fresh_apache):
    """Each daemon costs the parent two descriptors (its status pipe and
    its keeper's report pipe), twice while it is replaced: 300 processes
    need more than the soft limit of 1024 holds."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < 4096:
        pytest.skip("a hard open files limit of %d" % hard)
    a = fresh_apache("""
PyWorkerDaemonProcess many processes=300 threads=1 start=on-demand
PyWorkerScriptAlias /many {apps}/exits.wsgi process-group=many
""", wait_daemons=False, prefix=["prlimit", "--nofile=1024:%s"
             % ("unlimited" if hard == resource.RLIM_INFINITY else hard)])
    raised = a.log.find(r"\bPYW0054\b.*from 1024 to (\d+)")
    assert raised, a.log.text()
    assert int(re.search(r"to (\d+)", raised[0]).group(1)) >= 1024 + 1200
    with open("/proc/%d/limits" % a.pid) as f:
        soft = int(re.search(r"Max open files\s+(\d+)", f.read()).group(1))
    assert soft >= 1024 + 1200, soft

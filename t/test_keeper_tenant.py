"""The keeper (pyw_keeper.c) and the process tree around a daemon,
attacked from the tenant's side (apps/keeper_ops.wsgi): orphans, clone
with CLONE_PARENT, exit statuses, exec of another program, the waker.
Apache must stay up, other groups untouched, and the log name the
daemon.  (From a bug hunt: the tests of sections 1-5 failed before their
fixes.)
"""
import os
import signal
import sys
import time

import pytest

from pyworker_t import codes, procs
from pyworker_t.jsonapp import answer, get, serving

IS_ROOT = os.geteuid() == 0

CONF = """
PyWorkerDaemonProcess evil threads=2 display-name=pyw-evil \\
    shutdown-timeout=2
PyWorkerScriptAlias /evil {apps}/keeper_ops.wsgi process-group=evil
PyWorkerDaemonProcess gone threads=2 display-name=pyw-gone \\
    shutdown-timeout=2 connect-timeout=3
PyWorkerScriptAlias /gone {apps}/keeper_ops.wsgi process-group=gone
PyWorkerDaemonProcess zomb threads=2 display-name=pyw-zomb \\
    shutdown-timeout=2
PyWorkerScriptAlias /zomb {apps}/keeper_ops.wsgi process-group=zomb
PyWorkerDaemonProcess lazy threads=2 start=on-demand %(lazy_user)s
PyWorkerScriptAlias /lazy {apps}/keeper_ops.wsgi process-group=lazy
PyWorkerDaemonProcess lazy2 threads=2 start=on-demand %(lazy_user)s
PyWorkerScriptAlias /lazy2 {apps}/keeper_ops.wsgi process-group=lazy2
PyWorkerDaemonProcess lazyctl threads=2 start=on-demand %(lazy_user)s
PyWorkerScriptAlias /lazyctl {apps}/keeper_ops.wsgi \\
    process-group=lazyctl
PyWorkerDaemonProcess dies threads=1 display-name=pyw-dies
PyWorkerScriptAlias /dies {apps}/keeper_ops.wsgi process-group=dies
PyWorkerDaemonProcess bystander threads=2 display-name=pyw-bystander
PyWorkerScriptAlias /bystander {apps}/keeper_ops.wsgi \\
    process-group=bystander
""" % {"lazy_user": "user=pywtest1" if IS_ROOT else ""}

# Apache as its container's PID 1 (the official httpd image runs
# `httpd-foreground`, which execs httpd): every orphan on the machine is
# reparented to it and reaped by the MPM.  A child subreaper gets the
# orphans of its descendants just as PID 1 does, and keeps Apache's pid
# and /proc for the harness.
AS_PID1 = [sys.executable, "-c",
           "import ctypes, os, sys; "
           "ctypes.CDLL(None).prctl(36, 1, 0, 0, 0); "   # CHILD_SUBREAPER
           "os.execv(sys.argv[1], sys.argv[1:])"]

PID1_CONF = """
PyWorkerDaemonProcess evil threads=2 display-name=pyw-evil \\
    shutdown-timeout=2
PyWorkerScriptAlias /evil {apps}/keeper_ops.wsgi process-group=evil
PyWorkerDaemonProcess bystander threads=2 display-name=pyw-bystander
PyWorkerScriptAlias /bystander {apps}/keeper_ops.wsgi \\
    process-group=bystander
"""


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/evil", "/gone", "/zomb", "/bystander",
                                "/dies"],
                  wait_daemons=False)


def apache_fatal(httpd, since):
    return httpd.log.find(r"AH00050|AH00102|Fatal error", since=since)


# ---- 1. Apache as PID 1: a tenant's orphan is Apache's child ------------

def test_pid1_an_orphan_exiting_15_does_not_stop_apache(fresh_apache):
    """A double-forked, setsid orphan of the tenant's daemon is reparented
    to Apache when Apache is PID 1 (a container) and the MPM reaps it:
    its exit status 15 (APEXIT_CHILDFATAL) stopped all of Apache
    ("AH00050: Child N returned a Fatal error... Apache is exiting!"),
    what the keeper exists to prevent.  The keeper should be the child
    subreaper of its daemon's tree (PR_SET_CHILD_SUBREAPER) and reap
    everything in it, never leaving it to its own parent."""
    a = fresh_apache(PID1_CONF, prefix=AS_PID1,
                     ready=["/evil", "/bystander"])
    other = answer(a, "/bystander")["pid"]
    mark = a.log.mark()
    a.log.expect(r"AH00050|AH00102|Fatal error")    # so the test can fail
    me = answer(a, "/evil?do=orphan&n=15&s=1")      # on the assert below
    orphan = me["orphan"]
    deadline = time.monotonic() + 10
    while procs.alive(orphan) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)
    assert a.proc.poll() is None and not apache_fatal(a, mark), \
        "a tenant's orphan stopped Apache:\n" + a.log.text(mark)
    assert answer(a, "/bystander")["pid"] == other


def test_pid1_a_clone_parent_sibling_outliving_the_daemon(fresh_apache):
    """clone(CLONE_PARENT) from the daemon makes a child of the keeper,
    which waits only for the daemon's pid: when the daemon ends, the
    keeper exits and leaves that child to Apache (PID 1, or a
    subreaper), where its exit 15 stops Apache."""
    a = fresh_apache(PID1_CONF, prefix=AS_PID1,
                     ready=["/evil", "/bystander"])
    mark = a.log.mark()
    a.log.expect(r"AH00050|AH00102|Fatal error",
                 codes=[codes.DAEMON_DIED, codes.BACKEND_CLOSED])
    me = answer(a, "/evil?do=clone_parent&n=15&s=2")
    assert me["child_ppid"] == me["ppid"], me      # the keeper's child
    # The daemon ends (exit 0, a clean end): its keeper goes with it.
    answer(a, "/evil?do=exit&n=0")
    deadline = time.monotonic() + 10
    while procs.alive(me["child"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)
    assert a.proc.poll() is None and not apache_fatal(a, mark), \
        "the tenant's CLONE_PARENT child stopped Apache:\n" + a.log.text(mark)


# ---- 2. exit 254 after READY --------------------------------------------

def test_exit_254_after_ready_is_a_death_not_a_failed_start(httpd):
    """254 is PYW_DAEMON_EXIT_STARTUP_FAILED, but a tenant's app may exit
    with it after its daemon said READY and served.  The parent logged
    "failed to start (exit status 254); restarting it in 1000 ms"
    (PYW0023, a start-up failure on the status page, a back-off that
    grows to 30 s) for a daemon that was serving; an exit 7 or 15 at
    the same point is PYW0022, "died", restarted at once."""
    pid = answer(httpd, "/evil")["pid"]
    httpd.log.expect(r"\bpid=%d\b" % pid, codes=[codes.DAEMON_DIED,
                                                  codes.DAEMON_START_FAILED,
                                                  codes.BACKEND_CLOSED])
    mark = httpd.log.mark()
    answer(httpd, "/evil?do=exit&n=254")
    died = httpd.log.wait_for(r"\bPYW002[23]\b.*pid=%d\)" % pid, since=mark)
    assert died, httpd.log.text(mark)
    assert "PYW0022" in died[0] and "failed to start" not in died[0] \
        and " in 1000 ms" not in died[0], died
    serving(httpd, "evil", pid)


# ---- 3. a daemon that became another program -----------------------------

def test_a_daemon_that_execd_another_program_is_replaced(httpd):
    """The app execs a program that keeps running (here `sleep`): the
    daemon's pid lives on, so its keeper waits.  The group's socket and
    the status pipe are close-on-exec, so the pipe reaches its end while
    the process runs another program: the parent kills it (PYW0028) and
    starts a daemon.  (Before, every request waited connect-timeout for
    a 503 that blamed start-up or load, until Apache was restarted.)"""
    pid = answer(httpd, "/gone")["pid"]
    httpd.log.expect(r"\bpid=%d\b" % pid, codes=[28, codes.DAEMON_DIED,
                                                  codes.BACKEND_CLOSED])
    mark = httpd.log.mark()
    answer(httpd, "/gone?do=exec_sleep")
    try:
        killed = httpd.log.wait_for(r"\bPYW0028\b.*pid=%d\)" % pid,
                                    since=mark)
        assert killed and "(/usr/bin/sleep)" in killed[0], \
            httpd.log.text(mark)
        died = httpd.log.wait_for(r"\bPYW0022\b.*pid=%d\)" % pid,
                                  since=mark)
        assert died and "killed by signal 9" in died[0], died
        assert serving(httpd, "gone", pid)["pid"] != pid
    finally:
        if procs.alive(pid) and procs.comm(pid) == "sleep":
            os.kill(pid, signal.SIGKILL)


# ---- 4. zombies under the keeper ----------------------------------------

def test_the_keeper_leaves_no_zombies(httpd):
    """clone(CLONE_PARENT) makes a child of the root keeper, which waits
    only for the daemon's pid: each such child that ends stays a zombie
    under the keeper (a process entry each, not counted to anyone's
    limit but the tenant's uid) for as long as the daemon lives.  The
    keeper should reap every child it gets."""
    me = answer(httpd, "/zomb?do=clone_parent&n=0&s=0")
    keeper = me["ppid"]
    for _ in range(5):
        answer(httpd, "/zomb?do=clone_parent&n=0&s=0")
    time.sleep(1)
    zombies = [p for p in procs.children(keeper)
               if (procs.status_field(p, "State") or "").startswith("Z")]
    assert not zombies, "zombies under keeper %d: %s" % (keeper, zombies)


# ---- 5. the waker, out of reach of a daemon that runs as Apache's User --

@pytest.mark.skipif(not IS_ROOT, reason="daemons switch user only as root")
def test_a_tenant_cannot_stall_the_waker_of_every_group(httpd):
    """A daemon without user= runs as Apache's User, as the waker does,
    a child of Apache's parent with its signals at their defaults: the
    tenant finds it in /proc and keeps SIGSTOPping it (and each new one).
    Other tenants' on-demand groups then started only at the monitor
    hook, up to 10 s per request (503 with a connect-timeout under 10 s;
    the waker polls dormant sockets); READY bytes, startup-timeout and
    SIGKILL deadlines wait for the monitor hook too.  The waker should be out of the
    tenant's reach (as the keeper is: another uid, or the parent
    replaces a waker that does not wake)."""
    # Control: the same kind of group starts at once with the waker.
    t0 = time.monotonic()
    r = get(httpd, "/lazyctl", timeout=30)
    assert r.status == 200 and time.monotonic() - t0 < 5, r
    me = answer(httpd, "/evil?do=stall_waker&s=40")
    try:
        assert me["stopped"] == [], me      # the waker stays root
        took = {}
        for group in ("lazy", "lazy2"):
            t0 = time.monotonic()
            r = get(httpd, "/" + group, timeout=30)
            took[group] = (r.status, round(time.monotonic() - t0, 1))
        assert all(st == 200 and t < 5 for st, t in took.values()), \
            "on-demand groups (status, seconds) with the waker stopped " \
            "by another tenant: %s" % took
    finally:
        answer(httpd, "/evil?do=unstall")
        for w in procs.children(httpd.pid):
            if procs.comm(w) == "pyw-waker":
                os.kill(w, signal.SIGCONT)


# ---- what turned out fine: kept as regressions --------------------------

@pytest.mark.skipif(not IS_ROOT, reason="daemons switch user only as root")
def test_the_tenant_cannot_reach_its_keeper(httpd):
    me = answer(httpd, "/evil?do=probe")
    for what in ("kill0", "mem", "environ", "fd", "maps", "ptrace"):
        assert me[what] in ("EPERM", "EACCES"), me
    assert procs.alive(me["ppid"])


def test_clone_parent_twice_is_still_the_keepers_child(httpd):
    me = answer(httpd, "/evil?do=clone_parent2&n=0&s=1")
    assert me["child_ppid"] == me["ppid"] != httpd.pid, me


@pytest.mark.parametrize("status", [0, 1, 7, 15, 128, 255])
def test_exit_statuses_after_ready(httpd, status):
    """One death after another: the back-off grows, and a request may
    wait past connect-timeout meanwhile (503, PYW0110)."""
    httpd.log.expect(r"\bPYW0110\b.*group=evil\b")
    pid = answer(httpd, "/evil")["pid"]
    other = answer(httpd, "/bystander")["pid"]
    httpd.log.expect(r"\bpid=%d\b" % pid, codes=[codes.DAEMON_DIED,
                                                  codes.DAEMON_START_FAILED,
                                                  codes.BACKEND_CLOSED])
    mark = httpd.log.mark()
    answer(httpd, "/evil?do=exit&n=%d" % status)
    line = httpd.log.wait_for(r"\bPYW002[234]\b.*pid=%d\)" % pid, since=mark)
    assert line and "exit status %d" % status in line[0], line
    serving(httpd, "evil", pid, timeout=40)
    assert httpd.proc.poll() is None and not apache_fatal(httpd, mark)
    assert answer(httpd, "/bystander")["pid"] == other


def test_the_parents_descriptors_do_not_grow_with_deaths(httpd):
    def fds():
        return len(os.listdir("/proc/%d/fd" % httpd.pid))
    httpd.log.expect(r"group=dies\b", codes=[codes.DAEMON_DIED,
                                              codes.DAEMON_START_FAILED])
    answer(httpd, "/dies")
    before = fds()
    for _ in range(30):
        (pid,) = httpd.wait_daemons("dies", timeout=10)
        mark = httpd.log.mark()
        os.kill(pid, signal.SIGKILL)
        assert httpd.log.wait_for(r"\bPYW0021\b.*group=dies pid=(?!%d\))"
                                  % pid, since=mark)
    time.sleep(1)
    assert fds() <= before, (before, fds())

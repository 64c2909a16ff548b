"""The Apache parent's side of the keepers (pyw_keeper.c): descriptors,
zombies, orphans and the pids it logs across daemon lifecycles, restarts
and stops under every MPM."""
import os
import re
import signal
import time

import pytest

from pyworker_t import codes, procs
from pyworker_t.jsonapp import answer, get

STATUS = """
<Location /pyworker-status>
    SetHandler pyworker-status
</Location>
"""


def parent_fds(httpd):
    """The parent's descriptors, as {fd: target}."""
    return procs.fds(httpd.pid)


def pipes(fdmap):
    return sorted(fd for fd, t in fdmap.items() if t.startswith("pipe:"))


def tree(pid):
    """[(pid, ppid, state, comm)] of pid's descendants."""
    out = []
    for p in procs.descendants(pid):
        st = procs._read("/proc/%d/stat" % p) or ""
        state = st[st.rfind(")") + 2:].split()[0] if st else "?"
        out.append((p, (procs.stat(p) or (0,))[0], state, procs.comm(p)))
    return out


def zombies(pid):
    return [t for t in tree(pid) if t[2] == "Z"]


def settle(httpd, group, n, exclude=(), timeout=30):
    pids = httpd.wait_daemons(group, count=n, exclude=exclude,
                              timeout=timeout)
    assert len(pids) >= n, (group, pids, httpd.log.tail())
    return pids


def ready_pids(httpd, group, since, n, timeout=30):
    """Pids of the first n PYW0048 (ready) lines of group since mark."""
    lines = httpd.log.wait_for(r"\bPYW0048\b.*group=%s pid=" % group,
                               since=since, timeout=timeout, count=n)
    assert len(lines) >= n, httpd.log.text(since)
    return [int(re.search(r"pid=(\d+)\)", l).group(1)) for l in lines]


def wait_fds(httpd, want, timeout=10):
    """Wait until the parent holds at most `want` descriptors."""
    deadline = time.monotonic() + timeout
    while True:
        now = parent_fds(httpd)
        if len(now) <= want or time.monotonic() > deadline:
            return now
        time.sleep(0.2)


DEATHS = """
PyWorkerDaemonProcess die processes=10 threads=1 display-name=pyw-reap-die
PyWorkerScriptAlias /die {apps}/exits.wsgi process-group=die
"""


def test_fds_and_zombies_across_30_daemon_deaths(fresh_apache):
    a = fresh_apache(DEATHS, ready=["/die"])
    a.log.expect(codes=[codes.DAEMON_DIED])
    pids = ready_pids(a, "die", 0, 10)
    time.sleep(1)
    before = parent_fds(a)
    for rnd in range(3):
        mark = a.log.mark()
        for p in pids:
            os.kill(p, signal.SIGKILL)
        pids = ready_pids(a, "die", mark, 10)
    time.sleep(2)
    after = parent_fds(a)
    print("before", len(before), "after", len(after))
    assert len(after) <= len(before), (sorted(before.items()),
                                       sorted(after.items()))
    assert not zombies(a.pid), tree(a.pid)
    assert len(a.keepers()) == 10, tree(a.pid)


RESTARTS = """
PyWorkerDaemonProcess gr processes=2 threads=1 display-name=pyw-reap-gr \\
    shutdown-timeout=2 graceful-timeout=2
PyWorkerScriptAlias /gr {apps}/exits.wsgi process-group=gr
""" + STATUS


def _hard_restart(a):
    mark = a.log.mark()
    os.kill(a.pid, signal.SIGHUP)
    assert a.log.wait_for(r"AH00489|resuming normal operations",
                          since=mark, timeout=20)
    return mark


def _graceful(a):
    mark = a.log.mark()
    a.graceful()
    return mark


@pytest.mark.parametrize("restart,times", [(_graceful, 10),
                                           (_hard_restart, 5)],
                         ids=["graceful", "hard"])
def test_fds_and_zombies_across_restarts(fresh_apache, restart, times):
    a = fresh_apache(RESTARTS, ready=["/gr"])
    ready_pids(a, "gr", 0, 2)
    time.sleep(1)
    before = parent_fds(a)
    for i in range(times):
        ready_pids(a, "gr", restart(a), 2)
    # the old ones retire (graceful-timeout + shutdown-timeout at most)
    deadline = time.monotonic() + 15
    while len(a.keepers()) > 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)
    after = parent_fds(a)
    print("before", len(before), "after", len(after))
    assert len(a.keepers()) == 2, tree(a.pid)
    assert not zombies(a.pid), tree(a.pid)
    assert len(after) <= len(before), (sorted(before.items()),
                                       sorted(after.items()))


def _rewrite(a, snippet, module=True):
    """Point a's httpd.conf at another snippet (and maybe no module)."""
    a.snippet = snippet
    text = a.write_conf()
    if not module:
        text = re.sub(r"^LoadModule pyworker_module .*$", "", text,
                      flags=re.M)
        text = re.sub(r"^(LogLevel .*) pyworker:\S+", r"\1", text,
                      flags=re.M)
        with open(a.conf_path, "w") as f:
            f.write(text)
    return text


def _graceful_to(a, snippet, module=True):
    _rewrite(a, snippet, module)
    mark = a.log.mark()
    os.kill(a.pid, signal.SIGUSR1)
    assert a.log.wait_for(r"AH00489|resuming normal operations",
                          since=mark, timeout=20), a.log.text(mark)
    return mark


def _daemons_under(pid):
    return [p for p, pp, st, comm in tree(pid)
            if comm not in ("pyw-keeper", "pyw-waker")
            and pp != pid]


def test_graceful_into_a_config_without_the_group(fresh_apache):
    a = fresh_apache(RESTARTS, ready=["/gr"])
    old = ready_pids(a, "gr", 0, 2)
    keepers = a.keepers()
    start = {p: procs.stat(p)[1] for p in old + keepers}
    mark = _graceful_to(a, "Alias /x {htdocs}\n")
    gone = procs.wait_gone(start, 10)
    print(a.log.text(mark))
    assert not gone, (gone, tree(a.pid))
    assert not zombies(a.pid), tree(a.pid)
    assert not a.keepers(), tree(a.pid)


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_graceful_into_a_config_without_the_module_then_a_prompt_stop(
        fresh_apache, mpm):
    """Handed over as the MPM's "extra" processes, the keepers of a
    module that the new configuration no longer loads: the daemons serve
    until Apache stops (as documented), and that stop is prompt.  The
    MPM's SIGTERM to a keeper is passed to its daemon as "Apache stops";
    a keeper that ignored it held the stop ~9 s, then AH00046 (SIGKILL).
    (httpd's core logs AH00546 for every extra process that exits: it
    never saw it start.)"""
    a = fresh_apache(RESTARTS, ready=["/gr"], mpm=mpm)
    old = ready_pids(a, "gr", 0, 2)
    start = {p: procs.stat(p)[1] for p in old}
    _graceful_to(a, "Alias /x {htdocs}\n", module=False)
    assert procs.wait_gone(start, 2), "they serve on"
    t0 = time.monotonic()
    a.stop(timeout=30)
    took = time.monotonic() - t0
    stop_errors, a.stop_errors = a.stop_errors, []
    assert took < 5, (took, stop_errors)
    assert not [l for l in stop_errors if "AH00546" not in l], stop_errors
    assert procs.wait_gone(start, 5) == {}, tree(1)


STOPS = """
PyWorkerDaemonProcess st processes=2 threads=2 display-name=pyw-reap-st \\
    shutdown-timeout=2 graceful-timeout=2
PyWorkerScriptAlias /st {apps}/exits.wsgi process-group=st
PyWorkerDaemonProcess st2 threads=1 display-name=pyw-reap-st2 \\
    shutdown-timeout=2 graceful-timeout=2
PyWorkerScriptAlias /st2 {apps}/exits.wsgi process-group=st2
"""


@pytest.mark.parametrize("how", ["TERM", "WINCH", "KILL"])
@pytest.mark.parametrize("mpm", ["event", "worker", "prefork"])
def test_stop_leaves_no_orphan_or_zombie(fresh_apache, mpm, how):
    a = fresh_apache(STOPS, ready=["/st", "/st2"], mpm=mpm)
    ready_pids(a, "st", 0, 2)
    ready_pids(a, "st2", 0, 1)
    # Apache's own children outlive a SIGKILLed parent: not ours.
    everyone = {p: procs.stat(p)[1] for p in procs.descendants(a.pid)
                if procs.stat(p) and procs.comm(p) != "apache2"}
    mpm_children = {p: procs.stat(p)[1] for p in procs.children(a.pid)
                    if procs.stat(p) and procs.comm(p) == "apache2"}
    t0 = time.monotonic()
    os.kill(a.pid, getattr(signal, "SIG" + how))
    a.proc.wait(30)
    took = time.monotonic() - t0
    left = procs.wait_gone(everyone, 8)
    info = [(p, procs.comm(p), procs.stat(p)) for p in left]
    for p, s in list(left.items()) + list(mpm_children.items()):
        if procs.alive(p, s):
            os.kill(p, signal.SIGKILL)
    severe = [l for l in a.log.lines() if " [core:error]" in l
              or "pyworker:error" in l or "pyworker:warn" in l]
    print(mpm, how, "parent exited after %.2f s" % took, info, severe)
    assert not left, info
    assert took < 6, took
    assert not severe, severe


PIDS = """
PyWorkerDaemonProcess pd processes=2 threads=2 display-name=pyw-reap-pd \\
    shutdown-timeout=2 graceful-timeout=2 maximum-requests=4
PyWorkerScriptAlias /pd {apps}/exits.wsgi process-group=pd
""" + STATUS

PARENT_CODES = (21, 22, 23, 24, 30, 31, 32, 40, 41, 46, 48)


def daemon_self_pids(httpd):
    """Pids the daemons logged themselves with ([pid N:...] of PYW0200)."""
    return {int(m) for l in httpd.log.find(r"\bPYW0200\b")
            for m in re.findall(r"\[pid (\d+):", l)}


def parent_named_pids(httpd):
    out = {}
    for l in httpd.log.lines():
        m = re.search(r"\bPYW00(\d\d)\b.*\bpid=(\d+)\)", l)
        if m and int(m.group(1)) in PARENT_CODES:
            out.setdefault(int(m.group(2)), l)
        m = re.search(r"by pid (\d+)", l)
        if m:
            out.setdefault(int(m.group(1)), l)
    return out


def check_pids(a, keepers_seen):
    page = answer(a, "/pyworker-status?json")
    listed = {p["pid"] for g in page["groups"] for p in g["processes"]
              if p["pid"]}
    errs = {p["last_error"]["pid"] for g in page["groups"]
            for p in g["processes"] if p["last_error"]}
    kids = set(a.daemon_pids("pd"))
    keepers_seen.update(a.keepers())
    assert listed and not listed & keepers_seen, (listed, keepers_seen)
    assert not errs & keepers_seen, (errs, keepers_seen)
    return listed, kids


def test_logged_and_listed_pids_are_the_daemons(fresh_apache):
    a = fresh_apache(PIDS, ready=["/pd"])
    a.log.expect(codes=[codes.DAEMON_DIED, codes.BACKEND_CLOSED])
    ready_pids(a, "pd", 0, 2)
    keepers = set()
    check_pids(a, keepers)
    # recycle (maximum-requests)
    mark = a.log.mark()
    for i in range(8):
        get(a, "/pd")
    fresh = ready_pids(a, "pd", mark, 1)
    check_pids(a, keepers)
    # a death
    mark = a.log.mark()
    victim = fresh[0]
    os.kill(victim, signal.SIGKILL)
    ready_pids(a, "pd", mark, 1)
    check_pids(a, keepers)
    # graceful and hard restarts
    for sig in (signal.SIGUSR1, signal.SIGHUP, signal.SIGUSR1):
        mark = a.log.mark()
        os.kill(a.pid, sig)
        assert a.log.wait_for(r"AH00489", since=mark, timeout=20)
        ready_pids(a, "pd", mark, 2)
        check_pids(a, keepers)
        time.sleep(0.5)
    time.sleep(5)
    check_pids(a, keepers)
    a.stop()
    daemons = daemon_self_pids(a)
    named = parent_named_pids(a)
    wrong = {p: l for p, l in named.items() if p not in daemons}
    assert not wrong, wrong


def many_groups(n):
    return "".join("""
PyWorkerDaemonProcess m%d threads=1 display-name=pyw-reap-m%d
PyWorkerScriptAlias /m%d {apps}/hello.wsgi process-group=m%d
""" % (i, i, i, i) for i in range(n))


def ready_ms(a, since):
    return [int(x) for x in re.findall(r"PYW0048: daemon process \d+ ready "
                                       r"after (\d+) ms",
                                       a.log.text(since))]


def _ts(line):
    m = re.match(r"\[\w+ \w+ \d+ (\d+):(\d+):([\d.]+) \d+\]", line)
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def ready_lag_ms(a, since):
    """{pid: ms from the daemon's READY (PYW0240) to the parent's
    PYW0048}."""
    told, seen = {}, {}
    for l in a.log.lines(since):
        m = re.search(r"\bPYW0240\b.*pid=(\d+)\)", l)
        if m:
            told[int(m.group(1))] = _ts(l)
        m = re.search(r"\bPYW0048\b.*pid=(\d+)\)", l)
        if m:
            seen[int(m.group(1))] = _ts(l)
    return {p: round((seen[p] - told[p]) * 1000) for p in seen if p in told}


def test_twenty_groups_start_at_once(fresh_apache):
    """Timing probe (prints): start-up latency (PYW0048) and the lag from a
    daemon's READY to the parent's notice with 20 groups."""
    a = fresh_apache(many_groups(20), ready=["/m0"])
    ready_pids(a, r"m\d+", 0, 20)
    ms = ready_ms(a, 0)
    # the daemons' own start line vs the parent's ready line
    print("start:", sorted(ms))
    mark = a.log.mark()
    os.kill(a.pid, signal.SIGUSR1)
    ready_pids(a, r"m\d+", mark, 20)
    ms2 = ready_ms(a, mark)
    print("graceful:", sorted(ms2))
    print("lag start:", sorted(ready_lag_ms(a, 0).values()))
    st = [_ts(l) for l in a.log.find(r"\bPYW0021\b")][:20]
    print("start forks span %.0f ms" % ((max(st) - min(st)) * 1000))
    for i in range(2):
        time.sleep(3)
        mark = a.log.mark()
        os.kill(a.pid, signal.SIGUSR1)
        ready_pids(a, r"m\d+", mark, 20)
        print("lag graceful %d:" % i, sorted(ready_lag_ms(a, mark).values()))
        st = [_ts(l) for l in a.log.find(r"\bPYW0021\b", since=mark)]
        span = (max(st) - min(st)) * 1000
        print("forks span %.0f ms" % span)
        # the parent forks each keeper and blocks for its report
        assert span < 5000, span
    print("lag graceful:", sorted(ready_lag_ms(a, mark).values()))


CYCLES = """
PyWorkerDaemonProcess od processes=2 threads=1 display-name=pyw-reap-od \\
    start=on-demand idle-timeout=1 shutdown-timeout=2 graceful-timeout=2
PyWorkerScriptAlias /od {apps}/exits.wsgi process-group=od
PyWorkerDaemonProcess rr processes=3 threads=1 display-name=pyw-reap-rr \\
    shutdown-timeout=2 graceful-timeout=2 maximum-requests=2
PyWorkerScriptAlias /rr {apps}/exits.wsgi process-group=rr
"""


def test_fds_across_on_demand_idle_rolling_and_recycling(fresh_apache):
    a = fresh_apache(CYCLES, ready=["/rr"], wait_daemons=False)
    ready_pids(a, "rr", 0, 3)
    time.sleep(1)
    base = parent_fds(a)
    print("base", len(base), sorted(base.items()))
    for i in range(5):
        # on-demand start, then idle stop
        mark = a.log.mark()
        assert get(a, "/od").status == 200
        assert a.log.wait_for(r"\bPYW0052\b", since=mark, timeout=15), \
            a.log.text(mark)
        assert a.log.wait_for(r"\bPYW0032\b.*group=od", since=mark,
                              timeout=15)
        # rolling restart of rr
        mark = a.log.mark()
        os.kill(a.daemon_pids("rr")[0], signal.SIGUSR2)
        assert a.log.wait_for(r"\bPYW0037\b", since=mark, timeout=30), \
            a.log.text(mark)
        # recycling of rr
        for j in range(6):
            get(a, "/rr")
        time.sleep(1)
    deadline = time.monotonic() + 15
    while (len(a.keepers()) > 3 or len(a.daemon_pids("od"))) and \
            time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2)
    after = parent_fds(a)
    print("after", len(after), sorted(after.items()))
    assert not zombies(a.pid), tree(a.pid)
    assert len(after) <= len(base), (sorted(base.items()),
                                     sorted(after.items()))


def test_apache_killed_while_daemons_start_leaves_no_orphan(fresh_apache):
    """SIGKILL of Apache's parent while its daemons are being forked: each
    keeper dies at once (its parent-death signal).  A daemon whose keeper
    died before its exec must not take init for its parent (getppid()
    after the exec did, so its own parent-death signal was never armed
    and it ran on, orphaned, for good): the spec names its keeper."""
    survivors = {}
    for attempt in range(4):
        a = fresh_apache(many_groups(20), wait_daemons=False)
        a.log.expect(r".")
        try:
            assert a.log.wait_for(r"AH00489", timeout=20)
            ready_pids(a, r"m\d+", 0, 20)
            before = set(a.keepers())
            os.kill(a.pid, signal.SIGUSR1)
            deadline = time.monotonic() + 20
            while len(set(a.keepers()) - before) < 8 and \
                    time.monotonic() < deadline:
                pass
            os.kill(a.pid, signal.SIGKILL)
            a.proc.wait(10)
            time.sleep(0.5)
            named = {int(p) for p in re.findall(
                r"\bPYW0021\b.*pid=(\d+)\)", a.log.text())}
            cands = {p: procs.stat(p)[1] for p in named if procs.stat(p)}
            left = procs.wait_gone(cands, 10)
            survivors = {p: (procs.comm(p), procs.stat(p),
                             a.log.find(r"pid=%d\)" % p)[-1:])
                         for p in left}
        finally:
            for p in list(survivors):
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
        if survivors:
            break
    assert not survivors, "orphaned daemons (attempt %d): %s" % (
        attempt + 1, survivors)

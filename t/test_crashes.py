"""Daemon deaths under load, counted exactly.

A daemon killed with SIGKILL, or ended by an application's os._exit(),
fails exactly the requests it was running (502 before the response
started, an aborted - visibly incomplete - response after), nothing else:
requests it had accepted but not started are sent again by Apache (the
daemon closed the connection with the REQUEST unread), new requests wait
in the group's listen backlog for the restarted daemon, and idle cached
connections to the dead daemon are discarded, never used.  A daemon
stopped with SIGTERM fails nothing at all.

t/apps/track.wsgi leaves <id>.<pid>.start / .end files, so the test knows
which requests were running in the dead daemon.  Responses are read over
raw sockets (pyworker_t.rawhttp), one connection per request, so a
truncated response can never pass for a complete one.
"""
import collections
import os
import signal
import threading
import time

import pytest

from pyworker_t import codes, procs, rawhttp
from pyworker_t.load import Load

CONF = """
PyWorkerDaemonProcess pair processes=2 threads=4 display-name=pyw-pair
PyWorkerDaemonProcess single threads=4 display-name=pyw-single
PyWorkerDaemonProcess idle threads=4 display-name=pyw-idle
PyWorkerDaemonProcess lone threads=4 display-name=pyw-lone
PyWorkerDaemonProcess forky threads=2 display-name=pyw-forky \
    socket-timeout=20
PyWorkerScriptAlias /pair {apps}/track.wsgi process-group=pair
PyWorkerScriptAlias /single {apps}/track.wsgi process-group=single
PyWorkerScriptAlias /idle {apps}/hello.wsgi process-group=idle
PyWorkerScriptAlias /lone {apps}/hello.wsgi process-group=lone
PyWorkerScriptAlias /forky {apps}/crash.wsgi process-group=forky
"""

THREADS = 4
PIECE = 64
# The parent's restart line; the children's 502 and abort lines.
DEATH_CODES = [codes.DAEMON_DIED, codes.BACKEND_CLOSED,
               codes.BACKEND_CLOSED_MIDWAY]


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/pair?id=warm&ms=0",
                               "/single?id=warm&ms=0", "/idle", "/lone"])


def expected_body(rid, n):
    return b"".join(("%s:%d:" % (rid, i)).encode().ljust(PIECE - 1, b".")
                    + b"\n" for i in range(n))


class Rec:
    __slots__ = ("rid", "start", "end", "kind", "resp")

    def __repr__(self):
        return "<%s %s %.3f-%.3f %r>" % (self.rid, self.kind, self.start,
                                         self.end, self.resp)


def classify(resp, body):
    """ok | aborted (200, visibly incomplete) | BAD (looks complete, wrong
    body) | empty | <status>"""
    if resp.status is None:
        return "empty:" + str(resp.ended)
    if resp.status == 200:
        if not resp.complete:
            return "aborted"
        return "ok" if resp.body == body else "BAD"
    if not resp.complete:
        return "incomplete-%d" % resp.status
    return resp.status


class RawLoad:
    """`total` requests from `concurrency` threads, a new connection for
    each; spec(i) -> (path, rid, expected body)."""

    def __init__(self, port, spec, total, concurrency, timeout=20.0):
        self.port, self.spec, self.total = port, spec, total
        self.concurrency, self.timeout = concurrency, timeout
        self.records = []
        self.lock = threading.Lock()
        self.next = 0
        self.threads = []

    def _take(self):
        with self.lock:
            if self.next >= self.total:
                return None
            self.next += 1
            return self.next - 1

    def _worker(self):
        while True:
            i = self._take()
            if i is None:
                return
            path, rid, body = self.spec(i)
            rec = Rec()
            rec.rid, rec.start, rec.resp = rid, time.monotonic(), None
            try:
                rec.resp = rawhttp.request(self.port, "GET", path,
                                           timeout=self.timeout)
                rec.kind = classify(rec.resp, body)
            except OSError as e:
                rec.kind = "exc:" + type(e).__name__
            rec.end = time.monotonic()
            with self.lock:
                self.records.append(rec)

    def start(self):
        for _ in range(self.concurrency):
            t = threading.Thread(target=self._worker, daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def join(self, timeout=90):
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(max(0.1, deadline - time.monotonic()))
        with self.lock:
            return sorted(self.records, key=lambda r: r.start)


def traces(httpd, prefix):
    """{pid: (started ids, ended ids)} from track.wsgi's files."""
    d = httpd.path("state", "track")
    out = collections.defaultdict(lambda: (set(), set()))
    for name in os.listdir(d) if os.path.isdir(d) else []:
        rid, pid, what = name.rsplit(".", 2)
        if rid.startswith(prefix):
            out[int(pid)][0 if what == "start" else 1].add(rid)
    return out


def track_spec(group, prefix, ms, chunks):
    def spec(i):
        rid = "%s%d" % (prefix, i)
        framing = "chunked" if i % 2 else "length"
        path = "/%s?id=%s&ms=%d&chunks=%d&framing=%s" % (
            group, rid, ms, chunks, framing)
        return path, rid, expected_body(rid, chunks)
    return spec


def check_death(httpd, records, prefix, dead_pid, died_at, total):
    """The exact accounting shared by the SIGKILL and os._exit tests;
    returns the numbers for the report."""
    kinds = collections.Counter(r.kind for r in records)
    assert len(records) == total, kinds
    assert set(kinds) <= {"ok", "aborted", 502}, (kinds, [
        r for r in records if r.kind not in ("ok", "aborted", 502)])
    failed = {r.rid for r in records if r.kind != "ok"}
    started, ended = traces(httpd, prefix)[dead_pid]
    running = started - ended
    # Every request the dead daemon was running failed, visibly ...
    assert running <= failed, (running - failed, kinds)
    # ... and nothing else but what its threads had in hand.
    assert len(failed) <= THREADS, (sorted(failed), kinds)
    late = [r for r in records if r.kind != "ok" and r.start > died_at]
    assert not late, late
    # An aborted response always started in the dead daemon.
    aborted = {r.rid for r in records if r.kind == "aborted"}
    assert aborted <= started, aborted - started
    return {"requests": total, "by_kind": dict(kinds),
            "running_at_death": len(running),
            "failed_not_yet_started": len(failed - started)}


def first_ok_after(records, t):
    ok = [r.end for r in records if r.start >= t and r.kind == "ok"]
    return min(ok) - t if ok else None


def test_sigkill_under_load_fails_exactly_the_requests_it_was_running(
        httpd):
    pids = httpd.daemon_pids("pair")
    total = 240
    load = RawLoad(httpd.port, track_spec("pair", "k", 120, 3), total,
                   concurrency=16).start()
    time.sleep(1.2)
    # The busier of the two (the kernel need not spread connections).
    busy = traces(httpd, "k")
    victim = max(pids, key=lambda p: len(busy[p][0] - busy[p][1]))
    httpd.log.expect(r"\bpid=%d\b" % victim, codes=DEATH_CODES)
    died_at = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    records = load.join()
    numbers = check_death(httpd, records, "k", victim, died_at, total)
    print("SIGKILL under load:", numbers)
    assert numbers["running_at_death"] >= 1, numbers
    after = [r for r in records if r.start > died_at]
    assert after and all(r.kind == "ok" for r in after)
    assert len(httpd.wait_daemons("pair", exclude={victim})) == 2


def test_os_exit_under_load_fails_exactly_the_requests_it_was_running(
        httpd):
    (victim,) = httpd.daemon_pids("single")
    httpd.log.expect(r"\bpid=%d\b" % victim, codes=DEATH_CODES)
    total = 120
    load = RawLoad(httpd.port, track_spec("single", "x", 300, 3), total,
                   concurrency=8).start()
    time.sleep(1.0)
    r = rawhttp.request(httpd.port, "GET", "/single?id=exit1&exit=1&ms=0",
                        timeout=20)
    died_at = time.monotonic()
    assert r.status == 502 and r.complete, r
    records = load.join()
    numbers = check_death(httpd, records, "x", victim, died_at, total)
    # The exiting request itself was one of the four threads.
    assert numbers["by_kind"].get("ok", 0) >= total - (THREADS - 1)
    back = first_ok_after(records, died_at)
    numbers["first_200_after_exit_s"] = back
    print("os._exit under load:", numbers)
    # This daemon ran for less than 10 s: the parent restarts it after a
    # 1 s back-off (see the last test for a prompt restart).
    assert back is not None and back < 4.0, numbers
    assert len(httpd.wait_daemons("single", exclude={victim})) == 1


def warm_idle(httpd, n=200, concurrency=32):
    """Leave idle cached connections to the idle group in every child."""
    res = Load(httpd.port, "/idle", total=n, concurrency=concurrency).run()
    assert res.counts == {200: n}, res


def test_idle_cached_connections_to_a_killed_daemon_are_never_used(httpd):
    warm_idle(httpd)
    (victim,) = httpd.daemon_pids("idle")
    httpd.log.expect(r"\bpid=%d\b" % victim, codes=[codes.DAEMON_DIED])
    mark = httpd.log.mark()
    killed_at = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    # At once: these wait for the restarted daemon in the listen backlog.
    res = Load(httpd.port, "/idle", total=200, concurrency=32,
               timeout=20).run()
    assert res.counts == {200: 200}, res
    back = min(r.end for r in res.records) - killed_at
    print("idle cache after SIGKILL: %s, first answer %.3f s after the "
          "kill" % (res, back))
    (new,) = httpd.wait_daemons("idle", exclude={victim})
    assert new != victim
    discarded = httpd.log.find(r"\bPYW0131\b.*pid=%d\)" % victim, mark)
    assert discarded, "no idle connection was discarded"
    assert not httpd.log.find(r"\bPYW011[14]\b", mark)


def test_a_child_the_application_forks_holds_no_connection(httpd):
    """The child kept the daemon's connections to Apache: after the
    daemon was killed Apache saw no end of them, and requests sent on
    them waited for socket-timeout (504) while the restarted daemon
    idled."""
    warm = [rawhttp.request(httpd.port, "GET", "/forky") for _ in range(8)]
    assert all(r.status == 200 for r in warm)
    (victim,) = httpd.daemon_pids("forky")
    child = int(rawhttp.request(httpd.port, "GET", "/forky?how=fork").body)
    try:
        # The child closes them in its first instants (a pthread_atfork
        # handler), which may come after its parent has answered.
        deadline = time.monotonic() + 3
        while True:
            sockets = [t for t in procs.fds(child).values()
                       if t.startswith("socket:")]
            if sockets == [] or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert sockets == [], sockets
        httpd.log.expect(r"\bpid=%d\b" % victim, codes=[codes.DAEMON_DIED])
        os.kill(victim, signal.SIGKILL)
        res = Load(httpd.port, "/forky", total=40, concurrency=8,
                   timeout=30).run()
        assert res.counts == {200: 40}, res
        assert max(r.end - r.start for r in res.records) < 5, res
        # Its keeper ended it with its daemon (pyw_keeper.c).
        assert procs.wait_gone({child: None}, 5) == {}
    finally:
        if procs.alive(child):
            os.kill(child, signal.SIGKILL)


@pytest.mark.parametrize("group", ["pair", "single"])
def test_sigterm_of_a_daemon_under_load_fails_nothing(httpd, group):
    victim = httpd.daemon_pids(group)[0]
    # An outside SIGTERM asks for a successor first, then the daemon
    # drains (README, "Deploys, restarts and signals"): no death logged.
    total = 200
    load = RawLoad(httpd.port, track_spec(group, "t%s" % group, 60, 2),
                   total, concurrency=12).start()
    time.sleep(1.0)
    os.kill(victim, signal.SIGTERM)
    records = load.join()
    kinds = collections.Counter(r.kind for r in records)
    print("SIGTERM of a %s daemon under load: %s" % (group, dict(kinds)))
    assert kinds == {"ok": total}, [r for r in records if r.kind != "ok"]
    assert len(httpd.wait_daemons(group, exclude={victim})) == \
        httpd.groups[group]["processes"]


def uptime(pid):
    """Seconds since pid started."""
    ticks = os.sysconf("SC_CLK_TCK")
    with open("/proc/uptime") as f:
        now = float(f.read().split()[0])
    return now - procs.stat(pid)[1] / ticks


def test_new_requests_are_served_within_a_second_of_a_sigkill(httpd):
    """processes=1: nothing else can serve until the parent restarts the
    daemon; meanwhile requests wait in the listen backlog.  (A daemon
    that dies within 10 s of starting is restarted after a 1 s back-off,
    so this one must have run for 10 s: the test module's last test.)"""
    (victim,) = httpd.daemon_pids("lone")
    httpd.log.expect(r"\bpid=%d\b" % victim, codes=[codes.DAEMON_DIED])
    time.sleep(max(0.0, 10.5 - uptime(victim)))
    res = Load(httpd.port, "/lone", total=40, concurrency=8).run()
    assert res.counts == {200: 40}, res
    os.kill(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    res = Load(httpd.port, "/lone", total=40, concurrency=8,
               timeout=20).run()
    took = min(r.end for r in res.records) - killed_at
    print("processes=1, SIGKILL while idle: %s, first answer after "
          "%.3f s" % (res, took))
    assert res.counts == {200: 40}, res
    assert took < 1.0

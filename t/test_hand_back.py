"""A request moves at most once.  A daemon of a group of several
processes hands a request back to Apache (GOODBYE, unread) when all its
workers are taken and a sibling has a free one; Apache sends it again on
a new connection, marked as sent again (PYW_REQUEST_RESENT), and no
daemon hands it back a second time.  Without that, requests racing for
one free worker bounced between the siblings until Apache gave up on
them: PYW0142 and a 503, and a balancer member put in error state for its
retry interval."""
import collections
import glob
import re
import time

from pyworker_t.load import Load
from pyworker_t.proxy import load_proxy
from pyworker_t.wire import REQUEST_RESENT, DaemonConn, wsgi_environ

PAIR = """
PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess pair processes=2 threads=1 display-name=pywd-pair
"""


def _socket_of(a, group):
    (path,) = [p for p in glob.glob(a.path("run", "pyws*"))
               if p.endswith(".%s.sock" % group)]
    return path


def _two_conns_to_one_daemon(a, path):
    """Two idle connections to the same daemon, none left open to its
    sibling (an open, unused connection reserves a sibling's worker and
    hides it from the board).  (conn1, conn2, the sibling's pid)."""
    pids = set(a.daemon_pids("pair"))
    assert len(pids) == 2, pids
    by_pid = collections.defaultdict(list)
    conns = []
    try:
        for _ in range(12):
            c = DaemonConn(path)
            conns.append(c)
            by_pid[c.pid].append(c)
            if len(by_pid[c.pid]) == 2:
                break
        (pid,) = [p for p, cs in by_pid.items() if len(cs) == 2]
    except Exception:
        for c in conns:
            c.close()
        raise
    for c in conns:
        if c.pid != pid:
            c.close()
    time.sleep(0.2)                 # the sibling sees them closed
    (sibling,) = pids - {pid}
    return by_pid[pid][0], by_pid[pid][1], sibling


def _queue_behind_a_long_request(a, flags):
    """Occupy one daemon's only worker for 1.5 s on one connection and
    send a short request on another connection to the same daemon, while
    its sibling idles: the second request waits in that daemon's queue.
    What the second connection got: ("GOODBYE", None) or (status, body),
    the pid that served it, and how long it took."""
    path = _socket_of(a, "pair")
    script = a.path("apps", "slow.wsgi")
    first, second, sibling = _two_conns_to_one_daemon(a, path)
    try:
        first.send_request(wsgi_environ("pair", script, "1.5"))
        time.sleep(0.3)             # it runs
        t0 = time.monotonic()
        second.send_request(wsgi_environ("pair", script, "0"), flags)
        got = second.answer()
        took = time.monotonic() - t0
        assert first.answer()[0] == 200
        return got, first.pid, sibling, took
    finally:
        first.close()
        second.close()


def test_a_queued_request_goes_back_to_apache_for_a_free_sibling(
        fresh_apache):
    """The rule being limited: a request queued behind a busy worker
    while the sibling idles is handed back at once."""
    a = fresh_apache(PAIR + "PyWorkerScriptAlias /pair {apps}/slow.wsgi "
                     "process-group=pair\n", ready=["/pair?0"])
    got, _, _, took = _queue_behind_a_long_request(a, flags=0)
    assert got == ("GOODBYE", None) and took < 1.0, (got, took)


def test_a_request_sent_again_is_never_handed_back(fresh_apache):
    """The same request marked as sent again stays and is served by the
    daemon it reached, after the long one, although the sibling idles."""
    a = fresh_apache(PAIR + "PyWorkerScriptAlias /pair {apps}/slow.wsgi "
                     "process-group=pair\n", ready=["/pair?0"])
    got, pid, _, took = _queue_behind_a_long_request(a, REQUEST_RESENT)
    assert got[0] == 200, got
    assert b'"pid": %d' % pid in got[1], (pid, got)
    assert took > 0.8, took


BALANCED = load_proxy() + """
PyWorkerDaemonProcess ga processes=2 threads=2 script={apps}/member.wsgi
PyWorkerDaemonProcess gb processes=2 threads=2 script={apps}/member.wsgi
<Proxy balancer://queued>
    BalancerMember pyworker://ga
    BalancerMember pyworker://gb
    ProxySet lbmethod=byfreeworkers timeout=30
</Proxy>
ProxyPass /queued balancer://queued/
"""


def test_racing_requests_move_once_and_none_fails(fresh_apache):
    """Requests waiting at the balancer race for each freed worker.  The
    claims on the load board let one of them leave for it, so few land
    on a busy daemon (without claims: 18 %); each of those is handed back
    once at most (Apache logs each resend, PYW0140), none gets PYW0142,
    and no member is put in error state: every request is answered
    200."""
    a = fresh_apache(BALANCED, ready=["/queued/"],
                     loglevel="info pyworker:debug")
    mark = a.log.mark()
    res = Load(a.port, lambda i: "/queued/r%d?ms=%d"
               % (i, 300 if i % 10 == 0 else 5),
               total=800, concurrency=16, timeout=30, deadline=120).run()
    assert res.counts == {200: 800}, res.failures()[:5]
    text = a.log.text(mark)
    resent = collections.Counter(re.findall(
        r"PYW0140\b.*uri=(/queued/r\d+)\b", text))
    twice = {u: n for u, n in resent.items() if n > 1}
    assert not twice, twice
    assert sum(resent.values()) < 800 * 0.05, len(resent)
    assert "PYW0142" not in text, a.log.tail()

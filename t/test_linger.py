"""A worker that finished a request waits for the next one on the same
connection (src/daemon/pyw_workers_linger.c) and serves it without the
poller's hand-off.  It must never keep a request on another connection
waiting, nor keep its connection from a drain: each test places the
requests on daemon connections exactly, as Apache would, with the only
worker of a group lingering on one of them."""
import glob
import json
import time

from pyworker_t.wire import GOODBYE, DaemonConn, wsgi_environ

CONF = """
PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess solo processes=1 threads=1 display-name=pywd-solo
PyWorkerScriptAlias /solo {apps}/slow.wsgi process-group=solo
"""


def _conns(a, n):
    (path,) = [p for p in glob.glob(a.path("run", "pyws*"))
               if p.endswith(".solo.sock")]
    return [DaemonConn(path) for _ in range(n)]


def _ask(a, conn, delay="0"):
    """One request on conn: (status, the app's answer, seconds taken)."""
    t0 = time.monotonic()
    conn.send_request(wsgi_environ("solo", a.path("apps", "slow.wsgi"),
                                   delay))
    status, body = conn.answer()
    return status, json.loads(body), time.monotonic() - t0


def test_requests_on_either_connection_are_served_at_once(fresh_apache):
    a = fresh_apache(CONF, ready=["/solo?0"])
    first, second = _conns(a, 2)
    try:
        status, one, _ = _ask(a, first)            # the worker lingers
        assert status == 200
        for conn in (first, second, second, first, second):
            status, got, took = _ask(a, conn)
            assert status == 200 and got["thread"] == one["thread"]
            # Called away from `first` by the queue, not by its time
            # running out (the linger is bounded at 2 s).
            assert took < 1.0, "request waited %.2f s" % took
    finally:
        first.close()
        second.close()


def test_a_request_queued_behind_a_running_one_is_served_next(fresh_apache):
    a = fresh_apache(CONF, ready=["/solo?0"])
    first, second = _conns(a, 2)
    try:
        first.send_request(wsgi_environ("solo", a.path("apps", "slow.wsgi"),
                                        "0.5"))
        time.sleep(0.2)                             # it runs
        status, _, took = _ask(a, second)           # queued behind it
        assert status == 200 and took < 1.5, took
        assert first.answer()[0] == 200
        status, _, took = _ask(a, first)
        assert status == 200 and took < 1.0, took
    finally:
        first.close()
        second.close()


def test_a_drain_says_goodbye_on_the_lingering_connection(fresh_apache):
    a = fresh_apache(CONF, ready=["/solo?0"])
    (conn,) = _conns(a, 1)
    try:
        assert _ask(a, conn)[0] == 200              # the worker lingers
        a.graceful()
        # The old daemon hands the connection back before it exits; a
        # lingering worker left alone would let it close without a word.
        kind, _ = conn.frame()
        assert kind == GOODBYE
    finally:
        conn.close()

"""A group whose daemons keep failing to start answers 503 at once.

The parent knows when every start of a group fails: it backs off
(1 s, 2 s, 4 s ... 30 s) and writes the failure on the group's board.
A request used to wait connect-timeout (15 s by default) for its 503
all the same, holding an Apache thread the whole time: a broken tenant
that is visited took threads from every other site.  Now a connection
stops waiting once starts failed twice in a row and none is under way,
and a dormant on-demand group woken after its back-off has passed starts
at once, so the first request after a fix is served.  One failure alone
is still waited out: the next start may work.
"""
import time

from pyworker_t import codes

NO_DAEMON = 110             # error: 503, no daemon connection
GIVES_UP = r"keep failing to start and none serves"


def timed_get(a, path, timeout=30):
    t0 = time.monotonic()
    r = a.get(path, timeout=timeout)
    return r, time.monotonic() - t0


def broken_group(fresh_apache, name, options, extra=""):
    """An Apache whose group `name` cannot start (its import script
    raises), serving /name; the lines that provokes are expected."""
    a = fresh_apache("""
PyWorkerDaemonProcess %(name)s threads=1 %(options)s
PyWorkerImportScript {apps}/broken_import.wsgi process-group=%(name)s
PyWorkerScriptAlias /%(name)s {apps}/hello.wsgi process-group=%(name)s
%(extra)s""" % dict(name=name, options=options, extra=extra),
                     ready=["/good"] if extra else [], wait_daemons=False)
    a.log.expect(r"group=%s\b" % name,
                 codes=[codes.DAEMON_START_FAILED, codes.IMPORT_SCRIPT_FAILED,
                        codes.PYTHON_START, NO_DAEMON])
    a.log.expect(r"pyw-secret-broken-import|Traceback|broken_import")
    return a


def test_an_always_group_that_keeps_failing_answers_503_at_once(
        fresh_apache):
    a = broken_group(fresh_apache, "bad", "", extra="""
PyWorkerDaemonProcess good threads=1
PyWorkerScriptAlias /good {apps}/hello.wsgi process-group=good
""")
    failed = r"\bPYW%04d\b.*group=bad\b" % codes.DAEMON_START_FAILED
    deadline = time.monotonic() + 15
    while len(a.log.find(failed)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(a.log.find(failed)) >= 2, a.log.tail()
    mark = a.log.mark()
    r, took = timed_get(a, "/bad")
    assert r.status_code == 503
    assert took < 3, "waited %.1f s for a group that cannot start" % took
    line = a.log.wait_for(r"\bPYW0110\b.*%s.*group=bad\b" % GIVES_UP,
                          since=mark)
    assert line and "last start failed" in line[0], a.log.text(mark)
    assert a.get("/good").status_code == 200


def test_an_on_demand_group_that_cannot_start_answers_in_seconds(
        fresh_apache):
    """The first request starts the group, waits out one failure and the
    1 s back-off, and gives up at the second failure, not at
    connect-timeout; the next request gives up at once."""
    a = broken_group(fresh_apache, "bad", "start=on-demand")
    r, took = timed_get(a, "/bad")
    assert r.status_code == 503
    assert 0.9 < took < 8, "gave up after %.1f s" % took
    starts = a.log.find(r"\bPYW%04d\b.*group=bad\b"
                        % codes.DAEMON_START_FAILED)
    assert 2 <= len(starts) <= 3, "\n".join(starts)
    r, took = timed_get(a, "/bad")
    assert r.status_code == 503 and took < 3, took


def test_a_failure_that_does_not_repeat_is_waited_out(fresh_apache):
    a = fresh_apache("""
PyWorkerDaemonProcess once start=on-demand threads=1
PyWorkerImportScript {apps}/fails_once.wsgi process-group=once \\
    application-group=%{GLOBAL}
PyWorkerScriptAlias /once {apps}/fails_once.wsgi process-group=once \\
    application-group=%{GLOBAL}
""", wait_daemons=False)
    a.log.expect(r"group=once\b", codes=[codes.DAEMON_START_FAILED,
                                         codes.IMPORT_SCRIPT_FAILED,
                                         codes.PYTHON_START])
    a.log.expect(r"pyw-fails-once|Traceback|fails_once")
    r, took = timed_get(a, "/once")
    assert r.status_code == 200 and b"after one failure" in r.content
    assert took >= 0.9, "no start failed first (%.1f s)" % took


def test_a_fixed_on_demand_group_starts_at_once_on_its_next_request(
        fresh_apache):
    """Fixed after its starts failed and it was left stopped: the next
    request starts it without a back-off (the back-off has passed) and
    waits for it, so the site comes back with the first visit."""
    a = broken_group(fresh_apache, "fix", "start=on-demand")
    assert a.get("/fix", timeout=30).status_code == 503
    assert a.log.wait_for(r"\bPYW0023\b.*left stopped.*group=fix\b",
                          timeout=10), a.log.tail()
    with open(a.path("apps", "broken_import.wsgi"), "w") as f:
        f.write("# fixed: imports cleanly\n")
    time.sleep(4.5)                 # past the 4 s back-off
    r, took = timed_get(a, "/fix")
    assert r.status_code == 200, a.log.tail()
    assert took < 5, took

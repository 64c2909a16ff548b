"""Applications cannot break their daemon (issue 5, point 8).

signal.signal() from application code (a request, or an import script on
the daemon's main thread) is logged and ignored, like mod_wsgi's
WSGIRestrictSignal: SIGTERM still stops the daemon gracefully.  print()
goes to the error log.  (os._exit(15), which Apache would take as "fatal,
shut the whole server down", is t/test_keeper.py's.)  Threads the
application starts, even non-daemon ones, do not hold up a stop, and an
atexit callback that never returns is cut off at shutdown-timeout.

PyWorkerDaemonProcess safe threads=2 display-name=pyw-safe
PyWorkerImportScript {apps}/safety_import.py process-group=safe \\
    application-group=%{GLOBAL}
PyWorkerScriptAlias /safe {apps}/safety.wsgi process-group=safe
"""
import http.client
import json
import os
import re
import signal
import time

import pytest

from pyworker_t import codes, procs, rawhttp

SIGNAL_IGNORED = 331        # warn: signal.signal() from the app ignored
SHUTDOWN_SIGNAL = 202       # info: SIGTERM received, stopping
DAEMON_STOPPING = 201       # notice: clean exit follows
EXIT_DEADLINE = 253         # error: stopping outlived shutdown-timeout

CONF = """
PyWorkerDaemonProcess safe threads=2 display-name=pyw-safe
PyWorkerImportScript {apps}/safety_import.py process-group=safe \\
    application-group=%{GLOBAL}
PyWorkerScriptAlias /safe {apps}/safety.wsgi process-group=safe
"""


@pytest.fixture
def httpd(fresh_apache):
    return fresh_apache(CONF, ready=["/safe"])


def get(httpd, path):
    r = rawhttp.request(httpd.port, "GET", path, timeout=30)
    return r


def answer(r):
    assert r.status == 200, r
    return json.loads(r.body)


def stop_daemon(httpd, pid, within):
    """SIGTERM pid by hand (its successor starts, then it stops as a
    replaced daemon does); True if it is gone in time."""
    os.kill(pid, signal.SIGTERM)
    return procs.wait_gone({pid: None}, within) == {}


def test_signal_signal_is_ignored_and_logged_and_sigterm_still_works(httpd):
    (pid,) = httpd.daemon_pids("safe")
    # The import script ran on the daemon's main thread at start-up.
    at_start = httpd.log.find(r"\bPYW%04d\b.*signal\.signal\(SIGTERM, "
                              r"\.\.\.\) from \S*safety_import\.py:\d+ "
                              r"ignored" % SIGNAL_IGNORED)
    assert at_start and at_start[0].level == "warn", httpd.log.tail()
    mark = httpd.log.mark()
    out = answer(get(httpd, "/safe?do=signal"))
    # signal.signal() returned the handler in place (not an error), and
    # that handler is still the one in place.
    assert out["term"] == out["now"], out
    ignored = httpd.log.find(r"\bPYW%04d\b" % SIGNAL_IGNORED, since=mark)
    assert [re.search(r"signal\.signal\((SIG\w+)", l).group(1)
            for l in ignored] == ["SIGTERM", "SIGINT"], ignored
    assert "safety.wsgi:" in ignored[0], ignored[0]
    # The daemon's own SIGTERM handler is still in charge.
    httpd.log.expect(r"\bpid=%d\b" % pid, codes=[codes.DAEMON_DIED])
    assert stop_daemon(httpd, pid, 10)
    assert httpd.log.find(r"\bPYW%04d\b.*pid=%d\)" % (DAEMON_STOPPING, pid),
                          since=mark), httpd.log.text(mark)
    assert answer(get(httpd, "/safe"))["pid"] != pid


def test_a_process_the_app_forks_owns_its_signals(httpd):
    """Only the daemon is guarded: a child made with os.fork() installs
    its own handlers, and SIGTERM ends it (default action)."""
    mark = httpd.log.mark()
    out = answer(get(httpd, "/safe?do=fork"))
    assert out["child_handler"] == "1", out
    assert out["child_end"] == "signal %d" % signal.SIGTERM, out
    assert not httpd.log.find(r"\bPYW%04d\b" % SIGNAL_IGNORED, since=mark)


def test_print_goes_to_the_error_log(httpd):
    httpd.log.expect(codes=[codes.STDOUT])
    mark = httpd.log.mark()
    answer(get(httpd, "/safe?do=print"))
    lines = httpd.log.wait_for(r"\bPYW%04d\b.*says hello through print"
                               % codes.STDOUT, since=mark)
    assert lines and "group=safe" in lines[0], httpd.log.text(mark)


def test_app_threads_do_not_hold_up_a_stop(httpd):
    (pid,) = httpd.daemon_pids("safe")
    httpd.log.expect(r"\bpid=%d\b" % pid, codes=[codes.DAEMON_DIED])
    mark = httpd.log.mark()
    for _ in range(3):
        answer(get(httpd, "/safe?do=thread"))   # non-daemon, sleeps 1 h
    t0 = time.monotonic()
    assert stop_daemon(httpd, pid, 5), "a sleeping app thread kept it"
    assert time.monotonic() - t0 < 2
    assert httpd.log.find(r"\bPYW%04d\b.*pid=%d\)" % (DAEMON_STOPPING, pid),
                          since=mark)


def test_hanging_atexit_callback_is_cut_off(httpd):
    (pid,) = httpd.daemon_pids("safe")
    httpd.log.expect(r"\bpid=%d\b" % pid, codes=[codes.DAEMON_DIED,
                                                  EXIT_DEADLINE])
    mark = httpd.log.mark()
    answer(get(httpd, "/safe?do=atexit"))       # atexit: sleep(3600)
    t0 = time.monotonic()
    # shutdown-timeout (default 5 s) bounds the atexit callbacks.
    assert stop_daemon(httpd, pid, 15)
    assert time.monotonic() - t0 < 8
    cut = httpd.log.find(r"\bPYW%04d\b.*pid=%d\)" % (EXIT_DEADLINE, pid),
                         since=mark)
    assert cut, httpd.log.text(mark)
    assert answer(get(httpd, "/safe"))["pid"] != pid


HEADERS_TOO_LARGE = 327         # "status and headers too large": 500

HUGE_CONF = """
PyWorkerDaemonProcess huge threads=2 display-name=pyw-huge
PyWorkerScriptAlias /huge {apps}/huge.wsgi process-group=huge
"""


def test_huge_response_header_fails_cleanly_with_500(fresh_apache):
    a = fresh_apache(HUGE_CONF, ready=["/huge/body?mb=1"])
    a.log.expect(codes=[HEADERS_TOO_LARGE])
    r = get(a, "/huge/header?mb=2")
    assert r.status == 500 and b"never sent" not in r.body, r
    assert a.log.wait_for(r"\bPYW%04d\b.*cannot be sent.*uri=/huge/header"
                          % HEADERS_TOO_LARGE)
    assert get(a, "/huge/body?mb=1").status == 200


def test_response_far_bigger_than_the_daemon_streams(fresh_apache):
    a = fresh_apache(HUGE_CONF, ready=["/huge/body?mb=1"])
    (pid,) = a.daemon_pids("huge")
    before = procs.status_field(pid, "VmHWM")      # peak resident, kB
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=60)
    conn.request("GET", "/huge/body?mb=400")
    r = conn.getresponse()
    got = 0
    while True:
        piece = r.read(1 << 20)
        if not piece:
            break
        got += len(piece)
    conn.close()
    assert r.status == 200 and got == 400 << 20, (r.status, got)
    after = procs.status_field(pid, "VmHWM")
    assert after - before < 32 * 1024, "daemon grew %d kB" % (after - before)

"""Daemon deaths: a crash mid-request gives 502 for that request only,
with a log line, the daemon is restarted and the next request succeeds;
SIGKILL of a daemon under load fails only the requests it had in hand."""
import os
import re
import signal
import threading
import time

import pytest

from pyworker_t import codes, procs, rawhttp
from pyworker_t.load import Load

CONF = """
PyWorkerDaemonProcess crashy processes=1 threads=2 display-name=pyw-crashy
PyWorkerDaemonProcess steady threads=2 display-name=pyw-steady
PyWorkerDaemonProcess loady processes=2 threads=4 display-name=pyw-loady
PyWorkerScriptAlias /crash {apps}/crash.wsgi process-group=crashy
PyWorkerScriptAlias /crashy/hello {apps}/hello.wsgi process-group=crashy
PyWorkerScriptAlias /steady/slow {apps}/slow.wsgi process-group=steady
PyWorkerScriptAlias /loady/slow {apps}/slow.wsgi process-group=loady
"""

# The parent's restart line and the children's 502 / abort lines.
DEATH_CODES = [codes.DAEMON_DIED, codes.BACKEND_CLOSED,
               codes.BACKEND_CLOSED_MIDWAY]


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/crashy/hello", "/steady/slow?0",
                               "/loady/slow?0"])


def get(httpd, path, timeout=30):
    return rawhttp.request(httpd.port, "GET", path, timeout=timeout)


@pytest.mark.parametrize("how,why", [("exit", r"\b3\b|exit"),
                                     ("kill", r"\b9\b|KILL")])
def test_crash_mid_request_gives_502_then_next_request_succeeds(httpd, how,
                                                                why):
    (old,) = httpd.daemon_pids("crashy")
    httpd.log.expect(r"\bpid=%d\b" % old, codes=DEATH_CODES)
    mark = httpd.log.mark()
    slow = {}
    t = threading.Thread(target=lambda: slow.update(
        r=get(httpd, "/steady/slow?1")))
    t.start()
    time.sleep(0.1)
    r = get(httpd, "/crash?how=" + how)
    assert r.status == 502, r
    r = get(httpd, "/crashy/hello")
    assert r.status == 200 and r.body == b"Hello, World!\n"
    t.join(15)
    assert slow["r"].status == 200, "another group's request was harmed"
    (new,) = httpd.wait_daemons("crashy", exclude={old})
    assert new != old
    died = [l for l in httpd.log.wait_for(r"\bpid=%d\b" % old, since=mark)
            if l.code == codes.DAEMON_DIED and "group=crashy" in l]
    assert died, "no restart line names the dead daemon"
    assert re.search(why, died[0], re.I), died[0]
    failed = [l for l in httpd.log.lines(mark)
              if l.code == codes.BACKEND_CLOSED]
    assert len(failed) == 1, "the 502 needs one log line:\n" + \
        httpd.log.text(mark)
    assert re.search(r"group=crashy pid=%d uri=/crash(\?\S*)?\)" % old,
                     failed[0])


def test_crash_after_headers_aborts_the_response(httpd):
    (old,) = httpd.daemon_pids("crashy")
    httpd.log.expect(r"\bpid=%d\b" % old, codes=DEATH_CODES)
    r = get(httpd, "/crash?how=midstream")
    assert r.status == 200
    assert r.body.startswith(b"first chunk")
    assert not r.complete and r.ended in ("eof", "reset")
    assert get(httpd, "/crashy/hello").status == 200
    assert len(httpd.wait_daemons("crashy", exclude={old})) == 1


def test_sigkill_during_load_fails_only_in_flight_requests(httpd):
    victims = httpd.daemon_pids("loady")
    assert len(victims) == 2
    victim = victims[0]
    httpd.log.expect(r"\bpid=%d\b" % victim, codes=DEATH_CODES)
    concurrency = 8
    load = Load(httpd.port, "/loady/slow?0.05", total=300,
                concurrency=concurrency, timeout=20, deadline=90).start()
    time.sleep(1.0)
    killed_at = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    result = load.join()
    assert sum(result.counts.values()) == 300, result
    failures = result.failures()
    assert all(f.status == 502 for f in failures), failures
    assert len(failures) <= concurrency, failures
    # Only requests already under way when the daemon died may fail.
    late = [f for f in failures if f.start > killed_at + 0.2]
    assert not late, late
    after = [r for r in result.records if r.start > killed_at + 0.2]
    assert after and all(r.status == 200 for r in after)
    new = httpd.wait_daemons("loady", exclude={victim})
    assert len(new) == 2


START_FAILURES = {
    "bad-home": ("home=/nonexistent-pyw-home", "", codes.CHDIR),
    # A directory (configtest checks it exists), but no Python in it.
    "bad-python-home": ("python-home={apps}/lib", "",
                        codes.PYTHON_INIT_FAILED),
    "unimportable-import-script": (
        "", "PyWorkerImportScript {apps}/broken_import.wsgi "
            "process-group=bad application-group=%{GLOBAL}\n",
        codes.IMPORT_SCRIPT_FAILED),
}


@pytest.mark.parametrize("cause", sorted(START_FAILURES))
def test_daemon_that_cannot_start_backs_off_and_harms_no_other_group(
        fresh_apache, cause):
    option, extra, code = START_FAILURES[cause]
    a = fresh_apache("""
PyWorkerDaemonProcess bad threads=1 %s
PyWorkerDaemonProcess good threads=1
PyWorkerScriptAlias /good {apps}/hello.wsgi process-group=good
%s""" % (option, extra), ready=["/good"], wait_daemons=False)
    a.log.expect(r"group=bad\b", codes=[codes.DAEMON_START_FAILED, code,
                                        codes.PYTHON_START])
    t0 = cpu_seconds(a)
    time.sleep(6)
    assert cpu_seconds(a) - t0 < 3.0, "restart loop spins the CPU"
    starts = a.log.find(r"\bPYW%04d\b.*group=bad\b" % code)
    failures = a.log.find(r"\bPYW%04d\b.*group=bad\b"
                          % codes.DAEMON_START_FAILED)
    assert failures, "start-up failure not logged:\n" + a.log.tail()
    # A traceback spans several lines: count daemon processes, not lines.
    tried = {re.search(r"pid=(\d+)", l).group(1) for l in starts}
    assert 1 <= len(tried) <= 5, "restarted %d times in 6 s" % len(tried)
    assert a.proc.poll() is None, "Apache died"
    r = get(a, "/good")
    assert r.status == 200 and r.body == b"Hello, World!\n"


def cpu_seconds(a):
    """CPU time (user + system) of the Apache parent and its children,
    dead and alive, from /proc: a restart loop would show up here."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    pids = [a.proc.pid] + procs.descendants(a.proc.pid)
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15]) / tick
    return total

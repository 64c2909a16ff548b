"""Logs that are true: every PYW line of each lifecycle scenario checked
against README.md's "Log codes" table (the code exists, logged at the
level the table gives), with 1-based process numbers that agree between
the parent's and the daemon's lines for one pid, no `pid=0` or `group=-`,
and the specific truths:

  - a daemon says how long it really has when told to stop, and that is
    what the parent gives it before SIGKILL: being replaced,
    graceful-timeout (eviction-timeout for rolling and Apache restarts)
    and then atexit within shutdown-timeout; when Apache stops, requests
    and atexit share shutdown-timeout;
  - `apachectl stop` with a request in flight: the daemon cuts it off at
    shutdown-timeout (warn) and nothing says "crashed" or logs an error;
    a daemon that does not exit is SIGKILLed under PYW0025 (README's
    code for it), not PYW0033;
  - print() / sys.stderr lines of a request carry its uri=, a thread's
    lines after the request do not;
  - a client that aborts its upload is logged at info (PYW0329 and
    Apache's PYW0117), whatever exception the application makes of it;
  - PYW0346 names the file sent through wsgi.file_wrapper.
"""
import os
import re
import signal
import socket
import threading
import time
import uuid

import pytest

from pyworker_t import procs, rawhttp

README = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "README.md")

CONF = """
PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess plain threads=4 display-name=pyw-plain
PyWorkerDaemonProcess recycle threads=2 maximum-requests=10 \\
    display-name=pyw-recycle
PyWorkerDaemonProcess roll processes=2 threads=2 eviction-timeout=3 \\
    display-name=pyw-roll
PyWorkerDaemonProcess crashy threads=2 display-name=pyw-crashy
PyWorkerScriptAlias /plain {apps}/logtruth.wsgi process-group=plain
PyWorkerScriptAlias /recycle {apps}/logtruth.wsgi process-group=recycle
PyWorkerScriptAlias /roll {apps}/logtruth.wsgi process-group=roll
PyWorkerScriptAlias /crashy {apps}/logtruth.wsgi process-group=crashy
"""

# Apache gives a stopping daemon this long past its budget (pyw_pm.h).
KILL_MARGIN_MS = 2000
DEFAULT_GRACEFUL_MS, DEFAULT_SHUTDOWN_MS = 15000, 5000

OWN_CODE = re.compile(r"\bPYW(\d{4}): ")
PROCESS_NO = re.compile(r"\bprocess (\d+)(?: of (\d+))?")
CONTEXT = re.compile(r" \(((?:group|pid|uri)=.*)\)$")


def readme_levels():
    """{code: {levels}} from README.md's "Log codes" table."""
    table = {}
    with open(README) as f:
        for line in f:
            m = re.match(r"^\| PYW(\d{4}) \| ([a-z/]+) \|", line)
            if m:
                table[int(m.group(1))] = set(m.group(2).split("/"))
    return table


LEVELS = readme_levels()


def own_code(line):
    m = OWN_CODE.search(line)
    return int(m.group(1)) if m else None


def pyw_lines(lines):
    return [l for l in lines if l.module == "pyworker" and own_code(l)]


def ctx(line):
    """{'group', 'pid', 'uri'} of a line's "(group=G pid=P uri=U)": the
    parts it has."""
    m = CONTEXT.search(line)
    if not m:
        return {}
    text, out = m.group(1), {}
    if " uri=" in " " + text:
        text, out["uri"] = (" " + text).split(" uri=", 1)
    for part in text.split():
        k, _, v = part.partition("=")
        out[k] = v
    return out


def pid_of(line):
    pid = ctx(line).get("pid")
    return int(pid) if pid else None


def assert_true_log(lines, groups):
    """The checks every PYW line of every scenario must pass."""
    assert LEVELS, "no code table in README.md"
    problems = []
    slot = {}                   # daemon pid -> process number
    for l in pyw_lines(lines):
        code = own_code(l)
        if code not in LEVELS:
            problems.append("PYW%04d is not in README's table: %s"
                            % (code, l))
        elif l.level not in LEVELS[code]:
            problems.append("PYW%04d logged at %s, README says %s: %s"
                            % (code, l.level, "/".join(LEVELS[code]), l))
        if re.search(r"\bpid=0\b|\bgroup=-", l):
            problems.append("unknown context written as known: " + l)
        c = ctx(l)
        if c.get("group") and c["group"] not in groups:
            problems.append("group= names no configured group: " + l)
        m = PROCESS_NO.search(l)
        if m:
            i, n = int(m.group(1)), m.group(2) and int(m.group(2))
            if i < 1 or (n and i > n):
                problems.append("process number not 1..n: " + l)
            pid = pid_of(l)
            # "replacing daemon process 1 (...) by pid N": same slot.
            if pid and slot.setdefault(pid, i) != i:
                problems.append("pid %d called process %d and %d: %s"
                                % (pid, slot[pid], i, l))
    assert not problems, "\n".join(problems)


def coded(lines, code, pid=None, group=None):
    return [l for l in pyw_lines(lines) if own_code(l) == code
            and (pid is None or pid_of(l) == pid)
            and (group is None or ctx(l).get("group") == group)]


def budgets(told):
    """(requests ms, timeout name, atexit ms or None) from a PYW0202."""
    m = re.search(r"have up to (\d+) ms \(([a-z-]+)\), then Python's "
                  r"atexit up to (\d+) ms", told)
    if m:
        return int(m.group(1)), m.group(2), int(m.group(3))
    m = re.search(r"share up to (\d+) ms \(([a-z-]+)\)", told)
    assert m, told
    return int(m.group(1)), m.group(2), None


def assert_daemon_budget_is_the_parents(lines, old_pid, why, wait_ms,
                                        timeout):
    """The retired daemon's own PYW0202 and the parent's PYW0031 (its
    SIGKILL deadline) tell the same budget."""
    (told,) = coded(lines, 202, old_pid)
    assert why in told, told
    got_wait, got_timeout, atexit_ms = budgets(told)
    assert (got_wait, got_timeout) == (wait_ms, timeout), told
    assert atexit_ms == DEFAULT_SHUTDOWN_MS, told
    (replaced,) = coded(lines, 31, old_pid)
    kill = int(re.search(r"SIGKILL after (\d+) ms", replaced).group(1))
    assert kill == wait_ms + atexit_ms + KILL_MARGIN_MS, (replaced, told)


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/plain", "/recycle", "/roll", "/crashy"])


def get(httpd, path, timeout=30):
    return rawhttp.request(httpd.port, "GET", path, timeout=timeout)


def background_get(httpd, path, timeout=60):
    out = {}

    def run():
        try:
            out["r"] = get(httpd, path, timeout=timeout)
        except OSError as e:
            out["r"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def wait_gone(pids, timeout=30):
    left = procs.wait_gone({p: None for p in pids}, timeout)
    assert not left, "still running: %s" % sorted(left)


# ---- start ----

def test_start_lines_are_true(httpd):
    for group, info in httpd.groups.items():
        httpd.log.wait_for(r"\bPYW0200\b.*\(group=%s " % group,
                           count=info["processes"])
    lines = httpd.log.lines()
    assert_true_log(lines, httpd.groups)
    for group, info in httpd.groups.items():
        n = info["processes"]
        # The first start's n lines (in any test order: a restart or a
        # recycle before this test adds its own afterwards).
        started = coded(lines, 200, group=group)[:n]
        assert len(started) == n, started
        numbers = set()
        for l in started:
            m = re.search(r"daemon started: process (\d+) of (\d+)", l)
            assert m and int(m.group(2)) == n, l
            numbers.add(int(m.group(1)))
            # The parent's line for the same pid says the same number.
            forked = coded(lines, 21, pid_of(l))
            assert forked and "process %s of %d" % (m.group(1), n) \
                in forked[0], (l, forked)
        assert numbers == set(range(1, n + 1)), started


# ---- maximum-requests ----

def test_maximum_requests_recycle_lines_are_true(httpd):
    (old,) = httpd.wait_daemons("recycle")
    mark = httpd.log.mark()
    for _ in range(15):
        assert get(httpd, "/recycle").status == 200
    exits = httpd.log.wait_for(r"\bPYW0032\b.*\(group=recycle pid=%d\)"
                               % old, since=mark, timeout=30)
    assert exits, httpd.log.text(mark)
    old = [old]
    lines = httpd.log.lines(mark)
    assert_true_log(lines, httpd.groups)
    for pid in old:
        assert coded(lines, 241, pid), "no maximum-requests line"
        assert_daemon_budget_is_the_parents(
            lines, pid, "being replaced (a limit was reached)",
            DEFAULT_GRACEFUL_MS, "graceful-timeout")
    assert not coded(lines, 33) and not coded(lines, 204)


# ---- rolling restart (SIGUSR2) ----

def test_rolling_restart_lines_are_true(httpd):
    old = httpd.wait_daemons("roll")
    assert len(old) == 2
    mark = httpd.log.mark()
    os.kill(old[0], signal.SIGUSR2)
    assert httpd.log.wait_for(r"\bPYW0037\b.*\(group=roll\b", since=mark,
                              timeout=30), httpd.log.text(mark)
    wait_gone(old)
    lines = httpd.log.lines(mark)
    assert_true_log(lines, httpd.groups)
    assert coded(lines, 250, old[0]) and coded(lines, 35, group="roll")
    rolled = coded(lines, 36, group="roll")
    assert sorted(re.search(r"process (\d) of 2", l).group(1)
                  for l in rolled) == ["1", "2"], rolled
    for pid in old:
        # eviction-timeout=3: that, not graceful-timeout, on both sides.
        assert_daemon_budget_is_the_parents(
            lines, pid, "being replaced (rolling or Apache restart)", 3000,
            "eviction-timeout")


# ---- graceful restart (apachectl graceful) ----

def settled_daemons(httpd, group, timeout=30):
    """The group's daemons once none is still retiring (one recycled by
    an earlier test finishes on its own) and each is ready (one started
    after a crash waits out its back-off first; a restart stops such a
    one, PYW0041, rather than handing it over)."""
    n = httpd.groups[group]["processes"]
    deadline = time.monotonic() + timeout
    while True:
        pids = httpd.daemon_pids(group)
        ready = [p for p in pids
                 if httpd.log.find(r"\bPYW0048\b.*\(group=%s pid=%d\)"
                                   % (group, p))]
        if len(ready) == len(pids) == n or time.monotonic() > deadline:
            return pids
        time.sleep(0.1)


def test_graceful_restart_lines_are_true(httpd):
    before = {g: settled_daemons(httpd, g) for g in httpd.groups}
    mark = httpd.log.mark()
    httpd.graceful()
    for g in httpd.groups:
        wait_gone(before[g])
    lines = httpd.log.lines(mark)
    assert_true_log(lines, httpd.groups)
    assert coded(lines, 39)
    for g, pids in before.items():
        wait_ms, timeout = (3000, "eviction-timeout") if g == "roll" \
            else (DEFAULT_GRACEFUL_MS, "graceful-timeout")
        for pid in pids:
            assert coded(lines, 40, pid), "no hand-over line for %d" % pid
            assert_daemon_budget_is_the_parents(
                lines, pid, "being replaced (rolling or Apache restart)",
                wait_ms, timeout)
    assert not coded(lines, 33)



STARTING_CONF = """
PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess starting threads=1 display-name=pyw-starting
PyWorkerImportScript {apps}/recycle_slow_start.py process-group=starting
PyWorkerScriptAlias /starting {apps}/logtruth.wsgi process-group=starting
"""


def test_a_daemon_still_starting_at_a_graceful_restart_says_why_it_stops(
        fresh_apache):
    """A restart stops a daemon that is still starting (PYW0041) rather
    than handing it over.  The parent told it to stop as if it were
    replaced for a limit, and its own PYW0202 said "being replaced (a limit
    was reached)", which nothing was.  It now says that Apache restarted
    while it was starting; its budget is the same as before
    (graceful-timeout, then atexit), the one the parent gives it."""
    a = fresh_apache(STARTING_CONF, wait_daemons=False)
    started = a.log.wait_for(r"\bPYW0021\b.*\(group=starting ", timeout=10)
    assert started, a.log.tail()
    pid = pid_of(started[0])
    # Its signal handlers are in place once Python runs; the import
    # script then takes 3 s.
    assert a.log.wait_for(r"\bPYW0302\b.*pid=%d\)" % pid, timeout=10)
    mark = a.log.mark()
    a.graceful(wait=False)
    assert a.log.wait_for(r"\bPYW0041\b.*pid=%d\)" % pid, since=mark,
                          timeout=20), a.log.text(mark)
    assert a.log.wait_for(r"\bPYW0202\b.*pid=%d\)" % pid, since=mark,
                          timeout=20), a.log.text(mark)
    lines = a.log.lines(mark)
    assert_true_log(lines, a.groups)
    (stopped,) = coded(lines, 41, pid)
    assert "still starting" in stopped, stopped
    (told,) = coded(lines, 202, pid)
    assert "Apache restarted while this daemon was still starting" in told
    assert "a limit was reached" not in told, told
    assert budgets(told) == (DEFAULT_GRACEFUL_MS, "graceful-timeout",
                             DEFAULT_SHUTDOWN_MS), told


# ---- crash ----

def test_crash_lines_are_true(httpd):
    (old,) = httpd.wait_daemons("crashy")
    httpd.log.expect(r"\bpid=%d\b" % old, codes=[22, 111])
    mark = httpd.log.mark()
    assert get(httpd, "/crashy?do=exit").status == 502
    (new,) = httpd.wait_daemons("crashy", exclude={old})
    assert get(httpd, "/crashy").status == 200
    lines = httpd.log.lines(mark)
    assert_true_log(lines, httpd.groups)
    (died,) = coded(lines, 22, old)
    assert "exit status 3" in died and "process 1 died" in died, died
    (closed,) = coded(lines, 111, old)
    assert re.search(r"uri=/crashy(\?\S*)?\)", closed) and "crashed" not in closed, closed
    # SIGKILL of an idle daemon: the parent's line only.
    httpd.log.expect(r"\bpid=%d\b" % new, codes=[22])
    mark = httpd.log.mark()
    os.kill(new, signal.SIGKILL)
    httpd.wait_daemons("crashy", exclude={old, new})
    lines = httpd.log.wait_for(r"\bPYW0022\b.*\bpid=%d\)" % new, since=mark)
    assert lines and re.search(r"signal 9\b", lines[0]), lines
    assert_true_log(httpd.log.lines(mark), httpd.groups)


# ---- print() in a request ----

def test_print_lines_carry_the_requests_uri(httpd):
    httpd.log.expect(codes=[361, 362])      # error level, as mod_wsgi
    token = uuid.uuid4().hex
    mark = httpd.log.mark()
    assert get(httpd, "/plain?do=print&token=" + token).status == 200
    thread = httpd.log.wait_for("pyw-truth-thread-" + token, since=mark)
    lines = httpd.log.lines(mark)
    assert_true_log(lines, httpd.groups)
    for marker, code in (("stdout", 362), ("stderr", 361)):
        (line,) = [l for l in lines if "pyw-truth-%s-%s" % (marker, token)
                   in l]
        assert own_code(line) == code, line
        assert ctx(line)["uri"].split("?")[0] == "/plain", line
    # After the request, on a thread of the app's own: no request.
    assert thread and own_code(thread[0]) == 362, thread
    assert "uri=" not in thread[0], thread[0]


# ---- client abort during upload ----

@pytest.mark.parametrize("do", ["upload", "upload_wrapped"])
def test_client_abort_during_upload_is_info_with_its_cause(httpd, do):
    # No log.expect: nothing at error level may come of it.
    mark = httpd.log.mark()
    s = socket.create_connection(("127.0.0.1", httpd.port), timeout=10)
    s.sendall(rawhttp.Conn.build("POST", "/plain?do=" + do, [
        ("Content-Length", "1000000")]) + b"c" * 1000)
    time.sleep(0.5)
    s.close()
    cause = httpd.log.wait_for(r"\bPYW0117\b.*uri=/plain(\?\S*)?\)", since=mark)
    failed = httpd.log.wait_for(r"\bPYW0329\b.*uri=/plain(\?\S*)?\)", since=mark)
    lines = httpd.log.lines(mark)
    assert_true_log(lines, httpd.groups)
    assert cause and "client closed the connection" in cause[0], cause
    assert failed and "request body could not be read" in failed[0], failed
    kind = "ValueError" if do == "upload_wrapped" else "OSError"
    assert [l for l in coded(lines, 329) if kind in l], "no traceback"
    assert not coded(lines, 320), "an application error it is not"
    assert not [l for l in lines if l.severe], httpd.log.text(mark)


# ---- wsgi.file_wrapper ----

def test_file_sent_line_names_the_file(httpd):
    mark = httpd.log.mark()
    r = get(httpd, "/plain?do=file&size=100000")
    assert r.status == 200 and len(r.body) == 100000
    sent = httpd.log.wait_for(r"\bPYW0346\b", since=mark)
    assert sent, httpd.log.text(mark)
    assert httpd.path("state", "logtruth-data-100000") in sent[0], sent[0]
    assert "logtruth.wsgi" not in sent[0], sent[0]
    assert_true_log(httpd.log.lines(mark), httpd.groups)


def test_the_whole_log_is_true(httpd):
    assert_true_log(httpd.log.lines(), httpd.groups)


# ---- apachectl stop ----

STOP_CONF = """
PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess stopper threads=2 shutdown-timeout=2 \\
    display-name=pyw-stopper
PyWorkerScriptAlias /stopper {apps}/logtruth.wsgi process-group=stopper
"""


def test_apache_stop_with_a_request_in_flight(fresh_apache):
    a = fresh_apache(STOP_CONF, ready=["/stopper"])
    (pid,) = a.daemon_pids("stopper")
    mark = a.log.mark()
    t, _ = background_get(a, "/stopper?do=sleep&s=30")
    time.sleep(1)
    t0 = time.monotonic()
    a.stop()
    took = time.monotonic() - t0
    lines = a.log.lines(mark)
    assert_true_log(lines, a.groups)
    assert not a.stop_errors, "\n".join(a.stop_errors)
    # The daemon knows Apache stops and gives the request shutdown-timeout
    # (2 s), not graceful-timeout (15 s); then it cuts it off itself.
    (told,) = coded(lines, 202, pid)
    assert "SIGINT" in told and "Apache is stopping" in told, told
    assert budgets(told) == (2000, "shutdown-timeout", None), told
    (cut,) = coded(lines, 255, pid)
    assert "2000 ms" in cut, cut
    running = coded(lines, 205, pid)
    assert running and "uri=/stopper?do=sleep&s=30)" in running[0], running
    # Nobody calls it a crash, nothing is SIGKILLed.
    assert not coded(lines, 111) and not coded(lines, 114)
    assert not coded(lines, 33) and not coded(lines, 25)
    stopped = coded(lines, 119)
    assert stopped and stopped[0].level == "info", a.log.text(mark)
    (exited,) = coded(lines, 24, pid)
    assert "exit status 0" in exited, exited
    assert took < 2 + 6, took


def test_apache_stop_kills_a_stuck_daemon_under_pyw0025(fresh_apache):
    a = fresh_apache(STOP_CONF, ready=["/stopper"])
    (pid,) = a.daemon_pids("stopper")
    mark = a.log.mark()
    os.kill(pid, signal.SIGSTOP)        # it cannot stop by itself
    assert procs.wait_stopped(pid)
    t0 = time.monotonic()
    a.stop()
    took = time.monotonic() - t0
    lines = a.log.lines(mark)
    assert_true_log(lines, a.groups)
    assert not a.stop_errors, "\n".join(a.stop_errors)
    (killed,) = coded(lines, 25, pid)
    assert killed.level == "warn" and "process 1" in killed, killed
    assert not coded(lines, 33)
    (exited,) = coded(lines, 24, pid)
    assert "after SIGKILL" in exited, exited
    # shutdown-timeout 2 s + the 2 s margin, not much more.
    assert 4 <= took < 4 + 5, took
    assert not procs.alive(pid)

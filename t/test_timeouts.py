"""Stuck requests and a stuck GIL, queue-timeout, graceful stop, rolling
restarts (issue 5, daemon side).

A request running past request-timeout gets 504 within a second of the
limit; the daemon dumps the Python stack of every thread, says which
request, and asks for a replacement while its other threads keep
serving.  A GIL held past deadlock-timeout is seen from a thread that
never needs it: stacks, a log line, the daemon stops taking requests and
is replaced.  With queue-timeout, a request that waited that long for a
thread gets 503 with Retry-After without running; without it, requests
wait.  A queued request Apache answered 504 meanwhile (request-timeout,
socket-timeout) is not run at all.  SIGTERM lets running requests finish and sends queued ones back to
Apache (GOODBYE) to run elsewhere.  SIGUSR2, or touching a WSGI script,
restarts the whole group one process at a time.

Each test has its own Apache (the daemons it breaks are replaced, and
that must not spill into another test's log window):

PyWorkerDaemonProcess <g> threads=2 request-timeout=2 graceful-timeout=1
PyWorkerScriptAlias /<g> {apps}/lifecycle.wsgi process-group=<g>
"""
import json
import os
import re
import signal
import threading
import time

import pytest

from pyworker_t import codes, procs, rawhttp

# Daemon lifecycle codes (src/daemon/pyw_dlogno.h).
REQUEST_TIMEOUT = 246       # error: request ran past request-timeout
DEADLOCK = 247              # error: GIL held past deadlock-timeout
STACKS = 248                # notice: Python stacks follow / end
QUEUE_TIMEOUT = 249         # warn: 503 without running the request
ROLLING_SIGNAL = 250        # notice: SIGUSR2: rolling restart asked for
DRAIN = 251                 # info: stopped accepting, GOODBYEs sent
SHUTDOWN_TIMEOUT = 204      # error: requests outlived graceful-timeout
STILL_RUNNING = 205         # warn: one such request
SCRIPT_CHANGED = 333        # notice: script touched: rolling restart
GIVEN_UP = 233              # info: Apache closed a queued request: not run
# Apache side (README "Log codes").
APACHE_REQUEST_TIMEOUT = 141    # error: request-timeout passed: 504
APACHE_SOCKET_TIMEOUT = 113     # error: no answer within socket-timeout

APP = "{apps}/lifecycle.wsgi"


def group_conf(name, options, processes=1, script=APP):
    return ("PyWorkerDaemonProcess %s processes=%d %s display-name=pyw-%s\n"
            "PyWorkerScriptAlias /%s %s process-group=%s\n"
            % (name, processes, options, name, name, script, name))


def get(httpd, path, timeout=30):
    """(response, seconds) on a fresh raw connection."""
    t0 = time.monotonic()
    r = rawhttp.request(httpd.port, "GET", path, timeout=timeout)
    return r, time.monotonic() - t0


def pid_of(r):
    assert r.status == 200, r
    return json.loads(r.body)["pid"]


def in_background(fn):
    out = {}
    t = threading.Thread(target=lambda: out.update(r=fn()), daemon=True)
    t.start()
    return t, out


def stack_dump(httpd, since):
    """The lines between the first 'stacks follow' and 'end of stacks'."""
    lines = httpd.log.lines(since)
    start = [i for i, l in enumerate(lines) if l.code == STACKS
             and "follow" in l]
    assert start, "no stack dump:\n" + httpd.log.text(since)
    end = [i for i, l in enumerate(lines) if l.code == STACKS
           and "end of" in l and i > start[0]]
    assert end, "stack dump not ended:\n" + httpd.log.text(since)
    return lines[start[0] + 1:end[0]]


def wait_new_pid(httpd, path, old, timeout=20):
    """Request path until a process other than old answers; every answer
    on the way must be 200.  Returns the new pid."""
    deadline = time.monotonic() + timeout
    while True:
        r, _ = get(httpd, path)
        pid = pid_of(r)
        if pid != old:
            return pid
        assert time.monotonic() < deadline, "pid %d never replaced" % old
        time.sleep(0.2)


def test_request_timeout_gives_504_dumps_stacks_and_replaces_the_daemon(
        fresh_apache):
    httpd = fresh_apache(group_conf(
        "stuck", "threads=2 request-timeout=2 graceful-timeout=1"),
        ready=["/stuck"])
    (old,) = httpd.daemon_pids("stuck")
    # The daemon's own lines about the request it gave up on, the
    # request side's 504 line, the parent's replacement lines.
    httpd.log.expect(r"\bpid=%d\b" % old, codes=[codes.DAEMON_DIED])
    mark = httpd.log.mark()
    t, stuck = in_background(lambda: get(httpd, "/stuck?sleep=30"))
    time.sleep(1)
    r, took = get(httpd, "/stuck")           # the other thread serves
    assert pid_of(r) == old and took < 1
    t.join(15)
    r, took = stuck["r"]
    assert r.status == 504, r
    assert 2 <= took < 3.5, "504 after %.1f s for request-timeout=2" % took
    line = httpd.log.wait_for(r"\bPYW%04d\b" % REQUEST_TIMEOUT, since=mark)
    assert line and "uri=/stuck?sleep=30" in line[0], httpd.log.text(mark)
    assert line[0].level == "error" and "pid=%d" % old in line[0]
    dump = "\n".join(stack_dump(httpd, mark))
    # Every thread: the main thread and the two workers at least.
    assert dump.count("most recent call first") >= 3, dump
    assert "in sleeping_beauty" in dump and "lifecycle.wsgi" in dump, dump
    # Replaced: a new process serves, and nothing failed on the way.
    new = wait_new_pid(httpd, "/stuck", old)
    assert new != old
    assert procs.wait_gone({old: None}, 10) == {}


def test_deadlock_timeout_detects_a_held_gil_and_replaces_the_daemon(
        fresh_apache):
    httpd = fresh_apache(group_conf(
        "gil", "threads=2 deadlock-timeout=2 graceful-timeout=1 "
        "shutdown-timeout=1"), ready=["/gil"])
    (old,) = httpd.daemon_pids("gil")
    httpd.log.expect(r"\bpid=%d\b" % old, codes=[codes.DAEMON_DIED])
    mark = httpd.log.mark()
    # sum(range(10**11)) runs in C and never lets the GIL go.
    t, spin = in_background(lambda: get(httpd, "/gil?spin=100000000000"))
    found = httpd.log.wait_for(r"\bPYW%04d\b" % DEADLOCK, since=mark,
                               timeout=10)
    assert found, httpd.log.text(mark)
    assert found[0].level == "error" and "pid=%d" % old in found[0]
    assert re.search(r"not been free for [2-9]\.\d s", found[0]), found[0]
    assert "in hold_the_gil" in "\n".join(stack_dump(httpd, mark))
    # Once it is seen, requests go to the replacement: none fails.
    for _ in range(5):
        r, _ = get(httpd, "/gil", timeout=20)
        assert pid_of(r) != old
    assert procs.wait_gone({old: None}, 10) == {}
    t.join(30)
    assert spin["r"][0].status in (502, 504), spin["r"][0]


def test_queue_timeout_answers_503_with_retry_after(fresh_apache):
    httpd = fresh_apache(group_conf("queue", "threads=1 queue-timeout=1"),
                         ready=["/queue"])
    (pid,) = httpd.daemon_pids("queue")
    httpd.log.expect(r"\bpid=%d\b.*\buri=/queue\)" % pid,
                     codes=[QUEUE_TIMEOUT])
    mark = httpd.log.mark()
    t, slow = in_background(lambda: get(httpd, "/queue?sleep=4"))
    time.sleep(0.3)
    r, took = get(httpd, "/queue")
    assert r.status == 503, r
    assert 0.7 <= took < 2.0, "503 after %.1f s for queue-timeout=1" % took
    assert r.header("Retry-After"), r.headers
    line = httpd.log.wait_for(r"\bPYW%04d\b" % QUEUE_TIMEOUT, since=mark)
    assert line and "uri=/queue)" in line[0], httpd.log.text(mark)
    t.join(10)
    assert pid_of(slow["r"][0]) == pid     # the running one was not harmed
    r, _ = get(httpd, "/queue")
    assert pid_of(r) == pid                # and nothing was restarted


def test_queue_timeout_counts_the_wait_before_the_daemon_took_it(
        fresh_apache):
    """Apache sends when it read the request: time spent in the listen
    backlog (here: the daemon is stopped for 1.5 s) counts, and a free
    thread turns the request down instead of running it."""
    httpd = fresh_apache(group_conf("backlog", "threads=2 queue-timeout=1"),
                         ready=["/backlog"])
    (pid,) = httpd.daemon_pids("backlog")
    httpd.log.expect(r"\bpid=%d\b.*\buri=/backlog\?late\)" % pid,
                     codes=[QUEUE_TIMEOUT])
    mark = httpd.log.mark()
    os.kill(pid, signal.SIGSTOP)
    assert procs.wait_stopped(pid)
    try:
        t, late = in_background(lambda: get(httpd, "/backlog?late"))
        time.sleep(1.5)
    finally:
        os.kill(pid, signal.SIGCONT)
    t.join(10)
    r, took = late["r"]
    assert r.status == 503 and r.header("Retry-After"), r
    assert took < 2.5, took
    line = httpd.log.wait_for(r"\bPYW%04d\b" % QUEUE_TIMEOUT, since=mark)
    assert line and re.search(r"waited 1\.[5-9] s", line[0]), line
    r, _ = get(httpd, "/backlog")
    assert pid_of(r) == pid


def test_without_queue_timeout_requests_wait_for_a_thread(fresh_apache):
    httpd = fresh_apache(group_conf("wait", "threads=1"), ready=["/wait"])
    t, slow = in_background(lambda: get(httpd, "/wait?sleep=2"))
    time.sleep(0.3)
    r, took = get(httpd, "/wait")
    assert r.status == 200 and 1.5 < took < 5, (r, took)
    t.join(10)
    assert slow["r"][0].status == 200


def runs_file(httpd):
    """A file the daemon (Apache's User) can append run_marks.wsgi's
    marks to, and the marks written so far."""
    d = httpd.path("state", "runs")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o1777)
    return os.path.join(d, "runs.txt")


def marks_run(path):
    try:
        with open(path) as f:
            return [line.split()[0] for line in f]
    except FileNotFoundError:
        return []


def marks_group(fresh_apache, name, options, code):
    """A one-thread group `name` of run_marks.wsgi, its pid, the file its
    requests mark, and a log mark; its `code` lines are expected."""
    httpd = fresh_apache(group_conf(name, "threads=1 " + options,
                                    script="{apps}/run_marks.wsgi"),
                         ready=["/" + name])
    (pid,) = httpd.daemon_pids(name)
    httpd.log.expect(r"\(group=%s\b" % name, codes=[code])
    return httpd, pid, runs_file(httpd), httpd.log.mark()


def test_a_request_answered_504_by_request_timeout_is_not_run_later(
        fresh_apache):
    """threads=1 request-timeout=2: A and B (1.5 s each) run one after
    the other, C waits behind them in the daemon's queue.  At 2.4 s
    Apache answers C 504 (PYW0141) and closes its connection.  The
    daemon used to read C's REQUEST at 3.0 s anyway and run the
    application for a client told the gateway timed out (and, under
    overload, spend its threads on requests nobody waits for).  Now the
    worker sees the closed connection, logs PYW0233 with the URI and the
    wait, and is free at once: D, queued behind C, runs at 3.0 s."""
    # B ends after its own request-timeout too: Apache answers it 504.
    httpd, pid, runs, mark = marks_group(fresh_apache, "rtq",
                                         "request-timeout=2",
                                         APACHE_REQUEST_TIMEOUT)
    t0 = time.monotonic()
    ta, a = in_background(lambda: get(httpd, "/rtq?sleep=1.5&mark=A&runs="
                                      + runs))
    time.sleep(0.2)
    tb, b = in_background(lambda: get(httpd, "/rtq?sleep=1.5&mark=B&runs="
                                      + runs))
    time.sleep(0.2)
    tc, c = in_background(lambda: get(httpd, "/rtq?mark=C&runs=" + runs))
    tc.join(20)
    assert c["r"][0].status == 504, c
    r, took = get(httpd, "/rtq?mark=D&runs=" + runs)
    assert pid_of(r) == pid
    assert time.monotonic() - t0 < 3.8, "D waited %.1f s" % took
    for t in (ta, tb):
        t.join(20)
    assert a["r"][0].status == 200, a
    ran = marks_run(runs)
    assert ran == ["A", "B", "D"], "the daemon ran a request whose " \
        "client had been answered 504 (request-timeout): %s" % ran
    line = httpd.log.find(r"\bPYW%04d\b" % GIVEN_UP, since=mark)
    assert len(line) == 1, httpd.log.text(mark)
    assert re.search(r"\bpid=%d\b.*\buri=/rtq\?mark=C&" % pid, line[0]), \
        line
    assert re.search(r"waited 2\.[4-9] s", line[0]), line


def test_a_request_answered_504_by_socket_timeout_is_not_run_later(
        fresh_apache):
    """The same with socket-timeout=1: A runs 3 s, B waits in the
    daemon's queue and gets 504 after 1 s (PYW0113 'had not read the
    request'); the daemon used to run B at 3 s.  Now it logs PYW0233
    and runs nothing for B."""
    # A gets its 504 after socket-timeout too: it ran, as it should.
    httpd, pid, runs, mark = marks_group(fresh_apache, "stq",
                                         "socket-timeout=1",
                                         APACHE_SOCKET_TIMEOUT)
    ta, a = in_background(lambda: get(httpd, "/stq?sleep=3&mark=A&runs="
                                      + runs))
    time.sleep(0.3)
    r, took = get(httpd, "/stq?mark=B&runs=" + runs)
    assert r.status == 504 and took < 2.5, (r, took)
    ta.join(20)
    line = httpd.log.wait_for(r"\bPYW%04d\b" % GIVEN_UP, since=mark,
                              timeout=3)
    assert marks_run(runs) == ["A"], "the daemon ran a request whose " \
        "client had been answered 504 (socket-timeout) before it was taken"
    assert line and re.search(r"\bpid=%d\b.*\buri=/stq\?mark=B&" % pid,
                              line[0]), httpd.log.text(mark)
    r, _ = get(httpd, "/stq")
    assert pid_of(r) == pid


def test_sigterm_finishes_running_requests_and_sends_queued_ones_back(
        fresh_apache):
    """The running request completes; the one queued behind it is turned
    down with GOODBYE unrun, and Apache runs it on the next daemon."""
    httpd = fresh_apache(group_conf("drain", "threads=1 graceful-timeout=10"),
                         ready=["/drain"])
    (old,) = httpd.daemon_pids("drain")
    # SIGTERM from outside: replaced first (its successor ready), then
    # it drains; nothing severe is logged.
    mark = httpd.log.mark()
    t1, running = in_background(lambda: get(httpd, "/drain?sleep=2"))
    time.sleep(0.3)
    t2, queued = in_background(lambda: get(httpd, "/drain?sleep=0"))
    time.sleep(0.3)
    os.kill(old, signal.SIGTERM)
    t1.join(15)
    t2.join(15)
    assert pid_of(running["r"][0]) == old
    assert pid_of(queued["r"][0]) != old, "the queued request ran in the " \
        "stopping daemon"
    drain = httpd.log.wait_for(r"\bPYW%04d\b.*pid=%d\)" % (DRAIN, old),
                               since=mark)
    assert drain and re.search(r"GOODBYE to \d+ idle and 1 queued",
                               drain[0]), httpd.log.text(mark)
    assert not httpd.log.find(r"\bPYW%04d\b" % SHUTDOWN_TIMEOUT, since=mark)


def test_sigterm_gives_up_on_requests_after_graceful_timeout(fresh_apache):
    httpd = fresh_apache(group_conf("grace", "threads=2 graceful-timeout=1"),
                         ready=["/grace"])
    (old,) = httpd.daemon_pids("grace")
    # Replaced first, then its request is cut off (PYW0204, error).
    httpd.log.expect(r"\bpid=%d\b" % old)
    mark = httpd.log.mark()
    t, stuck = in_background(lambda: get(httpd, "/grace?sleep=30"))
    time.sleep(0.5)
    t0 = time.monotonic()
    os.kill(old, signal.SIGTERM)
    assert procs.wait_gone({old: None}, 10) == {}
    assert time.monotonic() - t0 < 3, "graceful-timeout=1 not honoured"
    gave_up = httpd.log.wait_for(r"\bPYW%04d\b" % STILL_RUNNING, since=mark)
    assert gave_up and "uri=/grace?sleep=30" in gave_up[0]
    t.join(15)
    assert stuck["r"][0].status == 502
    r, _ = get(httpd, "/grace")
    assert pid_of(r) != old


def test_sigusr2_restarts_the_group_one_process_at_a_time(fresh_apache):
    httpd = fresh_apache(group_conf("roll", "threads=2", processes=2),
                         ready=["/roll"])
    old = set(httpd.wait_daemons("roll"))
    assert len(old) == 2
    mark = httpd.log.mark()
    os.kill(sorted(old)[0], signal.SIGUSR2)
    asked = httpd.log.wait_for(r"\bPYW%04d\b" % ROLLING_SIGNAL, since=mark)
    assert asked and asked[0].level == "notice", httpd.log.text(mark)
    new = httpd.wait_daemons("roll", exclude=old, timeout=30)
    assert len(new) == 2 and not set(new) & old, (old, new)
    assert procs.wait_gone({p: None for p in old}, 30) == {}
    for _ in range(4):
        r, _ = get(httpd, "/roll")
        assert pid_of(r) in new


VERSIONED = """\
import os
VERSION = %d


def application(environ, start_response):
    body = ("%%d %%d" %% (VERSION, os.getpid())).encode()
    start_response("200 OK", [("Content-Length", str(len(body)))])
    return [body]
"""


def test_touched_script_restarts_the_group_and_loads_the_new_code(
        fresh_apache):
    httpd = fresh_apache(group_conf("deploy", "threads=2", processes=2,
                                    script="{state}/versioned.wsgi")
                         + "PyWorkerScriptReloading On\n",
                         ready=[], wait_daemons=True)
    script = httpd.path("state", "versioned.wsgi")
    with open(script, "w") as f:
        f.write(VERSIONED % 1)
    os.chmod(script, 0o644)
    old = set(httpd.wait_daemons("deploy"))
    for _ in range(4):
        r, _ = get(httpd, "/deploy")
        assert r.status == 200 and r.body.startswith(b"1 "), r
    mark = httpd.log.mark()
    time.sleep(1.1)                 # a script is looked at once a second
    with open(script, "w") as f:
        f.write(VERSIONED % 2)
    st = os.stat(script)
    os.utime(script, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    # The process that notices keeps serving what it loaded.  A request
    # may also reach the other process, which never loaded version 1 and
    # so has nothing to notice: ask until one that did sees the change.
    deadline = time.monotonic() + 15
    changed = []
    while not changed and time.monotonic() < deadline:
        r, _ = get(httpd, "/deploy")
        assert r.status == 200 and r.body.split()[0] in (b"1", b"2"), r
        changed = httpd.log.wait_for(r"\bPYW%04d\b" % SCRIPT_CHANGED,
                                     since=mark, timeout=0.5)
    assert changed and "versioned.wsgi" in changed[0], httpd.log.text(mark)
    new = httpd.wait_daemons("deploy", exclude=old, timeout=30)
    assert len(new) == 2, (old, new)
    assert procs.wait_gone({p: None for p in old}, 30) == {}
    for _ in range(4):
        r, _ = get(httpd, "/deploy")
        assert r.status == 200 and r.body.startswith(b"2 "), r
    # Asked once per process that saw it, not once per request.
    assert len(httpd.log.find(r"\bPYW%04d\b" % SCRIPT_CHANGED,
                              since=mark)) <= 2

"""The status page while a slot's process is replaced, the last error of
each process, and the listen backlog.

- A recycled daemon (maximum-requests) that still runs a request is
  listed beside its successor: first "retiring" (its successor imports
  a slow application and is not ready yet), then "draining" (told to
  stop, finishing the request), with its pid, age and the request, in
  JSON, HTML and Prometheus (label state="retiring"); it leaves the page
  when it exits.  The same in a rolling restart (SIGUSR2 to a daemon)
  and across a graceful restart (hand-over).
- Each process row has the last error about its slot: the parent's
  (PYW0022, a killed daemon) and an Apache child's (PYW0113, no answer
  within socket-timeout), naming the pid; the group's last error stays.
- A graceful restart that changes the group's shape: the daemon from
  before, on the previous worker board (threads= changed), is listed
  with its request and counts in busy_threads; one whose slot is gone
  (processes= lowered) is listed as draining under its old slot number.
- Connections in a group's listen queue that no daemon accepted are the
  group's "backlog" and count in its queue_length: N connections opened
  to a stopped daemon's socket, sending nothing, are N.
"""
import glob
import os
import signal
import socket
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pyworker_t import load, procs
from pyworker_t.status import status_json
from pyworker_t.status import wait_for as status_wait_for

CONF = """
PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess held processes=1 threads=2 maximum-requests=1 \\
    graceful-timeout=30 display-name=pyw-so-held
PyWorkerImportScript {apps}/slow_start.wsgi process-group=held \\
    application-group=%{GLOBAL}
PyWorkerScriptAlias /held {apps}/hold.wsgi process-group=held
PyWorkerDaemonProcess rolled processes=2 threads=2 eviction-timeout=30 \\
    display-name=pyw-so-rolled
PyWorkerImportScript {apps}/slow_start.wsgi process-group=rolled \\
    application-group=%{GLOBAL}
PyWorkerScriptAlias /rolled {apps}/hold.wsgi process-group=rolled
PyWorkerDaemonProcess kept threads=2 eviction-timeout=30 \\
    display-name=pyw-so-kept
PyWorkerImportScript {apps}/slow_start.wsgi process-group=kept \\
    application-group=%{GLOBAL}
PyWorkerScriptAlias /kept {apps}/hold.wsgi process-group=kept
PyWorkerDaemonProcess erring threads=2 socket-timeout=1 \\
    display-name=pyw-so-erring
PyWorkerScriptAlias /erring {apps}/hold.wsgi process-group=erring
PyWorkerDaemonProcess jam threads=1 display-name=pyw-so-jam
PyWorkerScriptAlias /jam {apps}/hold.wsgi process-group=jam
<Location /pyworker-status>
    SetHandler pyworker-status
</Location>
"""

WAIT = 20           # seconds: a state the test brought about must show


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/erring", "/jam"])



def prometheus(httpd):
    r = httpd.get("/pyworker-status?prometheus")
    assert r.status_code == 200, r.text
    samples = {}
    for fam in text_string_to_metric_families(r.text):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def wait_for(what, fn, timeout=WAIT):
    return status_wait_for(what, fn, timeout)



def entry(httpd, group, pid, state):
    """(group, the entry of pid in that state) or None."""
    g = status_json(httpd)[group]
    found = [p for p in g["processes"]
             if p["pid"] == pid and p["state"] == state]
    return (g, found[0]) if found else None


def held_by(p, prefix):
    return [w for w in p["workers"]
            if w["state"] == "busy" and w["uri"].startswith(prefix)]


def check_listed_while_it_drains(httpd, group, old_pid, release):
    """The old process shows as retiring, then draining, in every form,
    still running its request; gone once it exits."""
    g, old = wait_for("%s's pid %d retiring" % (group, old_pid),
                      lambda: entry(httpd, group, old_pid, "retiring"))
    n, k = g["process_count"], old["index"] - 1
    assert g["processes"][k]["pid"] != old_pid    # processes[k]: slot k+1
    assert g["processes"][k]["state"] == "starting"
    assert g["processes"].index(old) >= n         # after the current ones
    assert held_by(old, "/%s?" % group), old
    assert old["draining_seconds"] is None and old["uptime_seconds"] > 0

    g, old = wait_for("%s's pid %d draining" % (group, old_pid),
                      lambda: entry(httpd, group, old_pid, "draining"))
    assert g["processes"][k]["state"] == "ready"
    assert held_by(old, "/%s?" % group), old
    assert old["busy_threads"] == 1
    assert 0 <= old["draining_seconds"] < WAIT
    assert old["uptime_seconds"] >= old["draining_seconds"]
    assert g["busy_threads"] >= 1                   # its request counts
    assert g["ready_processes"] == sum(p["state"] == "ready"   # not it
                                      for p in g["processes"])

    html = httpd.get("/pyworker-status").text
    assert "<tr class=old><td>%d</td><td>%d</td><td class=l>draining for " \
        % (k + 1, old_pid) in html, html
    assert "<td>%d (draining)</td>" % (k + 1) in html   # its worker rows
    prom = prometheus(httpd)
    labels = (("group", group), ("process", str(k + 1)),
              ("state", "retiring"))
    assert prom[("pyworker_process_resident_memory_bytes", labels)] > 1 << 20
    assert ("pyworker_process_cpu_seconds_total", labels) in prom
    # The current process keeps the labels it always had.
    assert ("pyworker_process_resident_memory_bytes",
            (("group", group), ("process", str(k + 1)))) in prom

    release()
    wait_for("%s's old process leaves the page" % group,
             lambda: old_pid not in [p["pid"] for p in
                                     status_json(httpd)[group]["processes"]])


def hold_one(httpd, group):
    """A request held in one of group's processes: (its pid, the thread,
    its box, the release)."""
    flag = httpd.path("state", "release-" + group)
    t, box = load.in_background(httpd, "/%s?%s" % (group, flag))

    def holder():
        return [p["pid"] for p in status_json(httpd)[group]["processes"]
                if held_by(p, "/%s?" % group)]
    pid = wait_for("the %s request runs" % group, holder)[0]
    return pid, t, box, lambda: open(flag, "w").close()


def test_a_recycled_process_is_listed_until_its_last_request_ends(httpd):
    pid, t, box, release = hold_one(httpd, "held")
    try:
        # maximum-requests=1: this one completes, the daemon asks to go.
        assert httpd.get("/held").text.strip() == str(pid)
        check_listed_while_it_drains(httpd, "held", pid, release)
    finally:
        release()
        t.join()
    assert box["r"].status_code == 200
    assert box["r"].text.strip() == str(pid)        # the old one ended it


def test_a_rolling_restart_lists_each_replaced_process(httpd):
    pid, t, box, release = hold_one(httpd, "rolled")
    try:
        os.kill(pid, signal.SIGUSR2)                # PYW0250: rolling
        check_listed_while_it_drains(httpd, "rolled", pid, release)
    finally:
        release()
        t.join()
    assert box["r"].status_code == 200
    assert box["r"].text.strip() == str(pid)
    wait_for("both of rolled's processes replaced",
             lambda: all(p["state"] == "ready" and p["restarts"] == 1
                         for p in status_json(httpd)["rolled"]["processes"]))


def test_a_graceful_restart_lists_the_handed_over_process(httpd):
    pid, t, box, release = hold_one(httpd, "kept")
    try:
        httpd.graceful(wait=False)
        check_listed_while_it_drains(httpd, "kept", pid, release)
    finally:
        release()
        t.join()
    assert box["r"].status_code == 200
    assert box["r"].text.strip() == str(pid)
    wait_for("every group ready after the restart",
             lambda: all(p["state"] == "ready" for g in
                         status_json(httpd).values() for p in g["processes"]))


def test_each_process_row_has_its_slots_last_error(httpd):
    flag = httpd.path("state", "release-erring")
    pid = status_json(httpd)["erring"]["processes"][0]["pid"]
    httpd.log.expect(codes=[113])
    try:
        r = httpd.get("/erring?" + flag, timeout=30)    # socket-timeout=1
    finally:
        open(flag, "w").close()
    assert r.status_code == 504
    g = status_json(httpd)["erring"]
    err = g["processes"][0]["last_error"]
    assert (err["code"], err["pid"]) == ("PYW0113", pid), err
    assert "socket-timeout" in err["text"]
    assert 0 <= err["age_seconds"] < 30
    assert g["last_error"]["status"] == 504          # the group's, as ever
    assert status_json(httpd)["jam"]["processes"][0]["last_error"] is None

    # The parent's: the daemon is killed; the row (its successor's) says
    # which pid died and how.
    httpd.log.expect(codes=[22])
    os.kill(pid, signal.SIGKILL)
    p = wait_for("the killed daemon's error",
                 lambda: [p for p in status_json(httpd)["erring"]["processes"]
                          if p["last_error"]["code"] == "PYW0022"])[0]
    assert p["last_error"]["pid"] == pid and p["pid"] != pid
    assert "signal 9" in p["last_error"]["text"], p
    html = httpd.get("/pyworker-status").text
    assert "PYW0022 pid %d: died (" % pid in html
    wait_for("erring ready again",
             lambda: status_json(httpd)["erring"]["processes"][0]["state"]
             == "ready")


def test_connections_no_daemon_accepted_are_the_backlog(httpd):
    BACKLOG = 4
    g = status_json(httpd)["jam"]
    assert (g["backlog"], g["queue_length"]) == (0, 0)
    path = glob.glob(httpd.path("run", "pyws.*.jam.sock"))
    assert len(path) == 1, path
    pid = g["processes"][0]["pid"]
    conns = []
    os.kill(pid, signal.SIGSTOP)        # it accepts nothing while stopped
    try:
        assert procs.wait_stopped(pid)
        for _ in range(BACKLOG):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path[0])          # and sends nothing
            conns.append(s)
        g = status_json(httpd)["jam"]
        assert (g["backlog"], g["queue_length"]) == (BACKLOG, BACKLOG), g
        assert g["processes"][0]["queue_length"] == 0
        prom = prometheus(httpd)
        assert prom[("pyworker_listen_backlog", (("group", "jam"),))] \
            == BACKLOG
        assert prom[("pyworker_queue_length", (("group", "jam"),))] \
            == BACKLOG
        html = httpd.get("/pyworker-status").text
        assert "<td>%d</td><td>%d</td><td class=requests>" \
            % (BACKLOG, BACKLOG) in html
        assert status_json(httpd)["held"]["backlog"] == 0
    finally:
        for s in conns:
            s.close()
        os.kill(pid, signal.SIGCONT)
    wait_for("the backlog drains",
             lambda: status_json(httpd)["jam"]["backlog"] == 0)
    assert httpd.get("/jam").status_code == 200


SHAPE = """
PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess shape processes=%d threads=%d graceful-timeout=30 \\
    display-name=pyw-so-shape
PyWorkerScriptAlias /shape {apps}/hold.wsgi process-group=shape
<Location /pyworker-status>
    SetHandler pyworker-status
</Location>
"""


def reshape(a, processes, threads):
    """A graceful restart into that shape; returns once Apache says it
    restarted (the daemons from before may still drain)."""
    a.snippet = SHAPE % (processes, threads)
    a.write_conf()
    mark = a.log.mark()
    a.graceful(wait=False)
    assert a.log.wait_for(r"AH00489|resuming normal operations", since=mark,
                          timeout=WAIT), a.log.text(mark)


def hold_n(a, n):
    """n requests held in the shape group: (threads and boxes, release)."""
    flag = a.path("state", "release-shape")
    held = [load.in_background(a, "/shape?" + flag) for _ in range(n)]
    wait_for("%d requests running" % n,
             lambda: status_json(a)["shape"]["busy_threads"] >= n)
    return held, lambda: open(flag, "w").close()


def test_a_graceful_restart_that_changes_threads_shows_the_draining_request(
        fresh_apache):
    """A graceful restart that changes threads= gives the group a new
    worker board; the old daemon, draining its request, still writes to
    the old one.  The page read only the new one and closed the old: the
    old daemon was listed "draining" with busy_threads null, workers []
    and the group's busy_threads 0 while its request ran.  The previous
    board is kept while its daemons drain, and read for them."""
    a = fresh_apache(SHAPE % (1, 2))
    held, release = hold_n(a, 1)
    try:
        old_pid = status_json(a)["shape"]["processes"][0]["pid"]
        reshape(a, 1, 3)

        def draining():
            g = status_json(a)["shape"]
            old = [p for p in g["processes"]
                   if p["pid"] == old_pid and p["state"] == "draining"]
            return (g["processes"][0]["state"] == "ready" and old
                    and (g, old[0]))
        g, old = wait_for("the old daemon draining", draining)
        assert g["threads_per_process"] == 3
        assert old["busy_threads"] == 1, old
        assert len(old["workers"]) == 2                 # its own shape
        assert [w["uri"] for w in held_by(old, "/shape?")] == \
            ["/shape?" + a.path("state", "release-shape")], old
        assert g["busy_threads"] == 1, g
        assert g["idle_threads"] == 3, g               # the new one's
        assert len(g["processes"][0]["workers"]) == 3
        html = a.get("/pyworker-status").text
        assert "<td>1 (draining)</td>" in html          # its worker rows
    finally:
        release()
        for t, _ in held:
            t.join()
    assert [box["r"].status_code for _, box in held] == [200]


def test_a_graceful_restart_that_lowers_processes_lists_the_dropped_daemon(
        fresh_apache):
    """processes=2 -> 1 by a graceful restart, a request running in each
    daemon: the daemon of slot 2, whose slot is gone, drained its request
    on no row of the page (its metrics record was neither set nor
    cleared: the parent found no slot for it), and the group said
    busy_threads 0 with two requests running.  It is now listed as the
    draining process of slot 2 until it exits."""
    a = fresh_apache(SHAPE % (2, 1))
    held, release = hold_n(a, 2)
    try:
        pids = sorted(p["pid"] for p in status_json(a)["shape"]["processes"])
        reshape(a, 1, 1)
        wait_for("the new daemon ready",
                 lambda: [p for p in status_json(a)["shape"]["processes"]
                          if p["state"] == "ready" and p["pid"] not in pids])
        g = wait_for("both old daemons draining",
                     lambda: (lambda g: sorted(
                         p["pid"] for p in g["processes"]
                         if p["state"] == "draining") == pids and g)(
                             status_json(a)["shape"]))
        # both old daemons still run their request (hold.wsgi)
        assert all(os.path.exists("/proc/%d" % p) for p in pids)
        assert g["process_count"] == 1
        assert sorted(p["index"] for p in g["processes"]) == [1, 1, 2]
        assert all(held_by(p, "/shape?") for p in g["processes"]
                   if p["state"] == "draining"), g["processes"]
        assert g["busy_threads"] == 2, g
        html = a.get("/pyworker-status").text
        assert "<td>2 (draining)</td>" in html
    finally:
        release()
        for t, _ in held:
            t.join()
    assert sorted(box["r"].status_code for _, box in held) == [200, 200]
    wait_for("the old daemons leave the page",
             lambda: not set(pids) & {p["pid"] for p in
                                      status_json(a)["shape"]["processes"]})

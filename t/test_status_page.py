"""SetHandler pyworker-status: the HTML page, ?json (validated against
docs/status.schema.json) and ?prometheus (parsed with prometheus_client's
own text parser) show what the test sent: requests by status class, the
duration histogram, busy and idle threads, the request in flight with its
URI, restarts by cause, the last error.  mod_status with ExtendedStatus On
has a line per group.  Untrusted text (URIs written by daemons) is
escaped in every form.
"""
import os
import signal
import socket
import threading
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from pyworker_t import load
from pyworker_t.status import status_json, wait_for
from pyworker_t.httpd import MODDIR

CONF = """
<IfModule !authz_host_module>
    LoadModule authz_host_module %(moddir)s/mod_authz_host.so
</IfModule>
<IfModule !status_module>
    LoadModule status_module %(moddir)s/mod_status.so
</IfModule>
ExtendedStatus On
PyWorkerDaemonProcess counted processes=2 threads=3 display-name=pyw-st-counted
PyWorkerDaemonProcess crashy threads=1 display-name=pyw-st-crashy
PyWorkerDaemonProcess warm threads=1 display-name=pyw-st-warm
PyWorkerDaemonProcess recycled threads=1 maximum-requests=3 \
    display-name=pyw-st-recycled
PyWorkerScriptAlias /counted {apps}/status_codes.wsgi process-group=counted
PyWorkerScriptAlias /byhost {apps}/status_codes.wsgi process-group=warm \
    application-group=%%{HOST}
PyWorkerScriptAlias /crashy {apps}/status_codes.wsgi process-group=crashy
PyWorkerScriptAlias /warm {apps}/status_codes.wsgi process-group=warm
PyWorkerScriptAlias /recycled {apps}/status_codes.wsgi \
    process-group=recycled
<Location /pyworker-status>
    SetHandler pyworker-status
    Require ip 127.0.0.1
</Location>
<Location /status-denied>
    SetHandler pyworker-status
    Require ip 192.0.2.1
</Location>
<Location /server-status>
    SetHandler server-status
    Require ip 127.0.0.1
</Location>
""" % {"moddir": MODDIR}

SLOW = 3.5          # seconds: in the 5 s bucket, not in the 2.5 s one,
                    # and long enough to be seen in flight on a busy box


@pytest.fixture(scope="module")
def httpd(apache):
    a = apache(CONF, ready=["/warm/200"])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:     # every worker board joined
        groups = status_json(a)
        if all(p["state"] == "ready" and p["requests"] is not None
               for g in groups.values() for p in g["processes"]):
            return a
        time.sleep(0.1)
    pytest.fail("daemons not ready: %s" % groups)



def prometheus(httpd):
    r = httpd.get("/pyworker-status?prometheus")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    types = {}
    for fam in text_string_to_metric_families(r.text):
        types[fam.name] = fam.type
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return types, samples


def sample(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]




def wait_busy(httpd, group, prefix, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        g = status_json(httpd)[group]
        busy = [w for p in g["processes"] for w in p["workers"]
                if w["state"] == "busy" and w["uri"].startswith(prefix)]
        if busy:
            return g, busy
        time.sleep(0.05)
    pytest.fail("no worker of %s ever showed %s as busy" % (group, prefix))


def test_json_and_prometheus_numbers_are_what_was_sent(httpd):
    before = status_json(httpd)["counted"]
    for path, n in (("/counted/200", 7), ("/counted/404", 3)):
        for _ in range(n):
            httpd.get(path)
    assert httpd.get("/counted/500").status_code == 500
    assert httpd.get("/counted/500?raise").status_code == 500
    httpd.log.expect(codes=[320])           # the raised exception
    t, box = load.in_background(httpd, "/counted/slow?%s" % SLOW,
                                 timeout=30)
    try:
        g, busy = wait_busy(httpd, "counted", "/counted/slow")
        types, prom = prometheus(httpd)
    finally:
        t.join()
    assert box["r"].status_code == 200

    req = {k: g["requests"][k] - before["requests"][k]
           for k in g["requests"]}
    assert req == {"total": 12, "1xx": 0, "2xx": 7, "3xx": 0, "4xx": 3,
                   "5xx": 2, "other": 0}
    assert g["duration"]["count"] - before["duration"]["count"] == 12
    assert (g["busy_threads"], g["idle_threads"], g["queue_length"]) == \
        (1, 5, 0)
    assert g["ready_processes"] == 2
    assert [w["uri"] for w in busy] == ["/counted/slow?%s" % SLOW]
    assert 0 <= busy[0]["busy_seconds"] < SLOW + 1
    assert g["last_error"]["status"] == 500
    assert g["last_error"]["uri"] == "/counted/500?raise"
    assert 0 <= g["last_error"]["age_seconds"] < 30

    # Prometheus says the same, per group.
    assert types["pyworker_requests"] == "counter"
    assert types["pyworker_request_duration_seconds"] == "histogram"
    for cls in ("1xx", "2xx", "3xx", "4xx", "5xx", "other"):
        assert sample(prom, "pyworker_requests_total", group="counted",
                      **{"class": cls}) == g["requests"][cls]
    assert sample(prom, "pyworker_busy_threads", group="counted") == 1
    assert sample(prom, "pyworker_idle_threads", group="counted") == 5
    assert sample(prom, "pyworker_queue_length", group="counted") == 0
    assert sample(prom, "pyworker_request_duration_seconds_count",
                  group="counted") == g["duration"]["count"]
    assert sample(prom, "pyworker_busy_threads", group="warm") == 0
    for p in (1, 2):
        assert sample(prom, "pyworker_process_resident_memory_bytes",
                      group="counted", process=str(p)) > 1 << 20

    # The slow request counts once it is answered, in its bucket.
    after = status_json(httpd)["counted"]
    assert after["requests"]["2xx"] - before["requests"]["2xx"] == 8

    def bucket(doc, le):
        return [b["count"] for b in doc["duration"]["buckets"]
                if b["le"] == le][0]
    assert bucket(after, 2.5) - bucket(before, 2.5) == 12
    assert bucket(after, 5) - bucket(before, 5) == 13
    assert bucket(after, "+Inf") == after["duration"]["count"]
    assert after["duration"]["sum_seconds"] - \
        before["duration"]["sum_seconds"] >= SLOW
    # Every one of the 13 reached a worker thread, as the daemons say.
    served = sum(p["requests"] for p in after["processes"])
    assert served - sum(p["requests"] for p in before["processes"]) == 13
    assert (after["busy_threads"], after["idle_threads"]) == (0, 6)


def test_a_500_for_an_unusable_application_group_is_counted(httpd):
    """PYW0108 (%{HOST} over 255 bytes): answered 500 for the group but
    left out of its counts and its last error."""
    httpd.log.expect(codes=[108])
    before = status_json(httpd)["warm"]["requests"]
    host = ".".join(c * 60 for c in "hijkl")
    assert httpd.get("/byhost/200", headers={"Host": host}).status_code \
        == 500
    g = status_json(httpd)["warm"]
    assert (g["requests"]["5xx"], g["requests"]["total"]) == \
        (before["5xx"] + 1, before["total"] + 1), (before, g["requests"])
    assert g["last_error"]["status"] == 500


def test_prometheus_text_parses_and_histograms_are_cumulative(httpd):
    httpd.get("/warm/200")
    types, prom = prometheus(httpd)
    assert types == {
        "pyworker_requests": "counter",
        "pyworker_request_duration_seconds": "histogram",
        "pyworker_busy_threads": "gauge",
        "pyworker_idle_threads": "gauge",
        "pyworker_queue_length": "gauge",
        "pyworker_listen_backlog": "gauge",
        "pyworker_requests_in_apache": "gauge",
        "pyworker_ready_processes": "gauge",
        "pyworker_restarts": "counter",
        "pyworker_process_resident_memory_bytes": "gauge",
        "pyworker_process_cpu_seconds": "counter",
    }
    for group in ("counted", "crashy", "warm", "recycled"):
        buckets = sorted(
            (float(dict(labels)["le"]), v) for (name, labels), v
            in prom.items()
            if name == "pyworker_request_duration_seconds_bucket"
            and dict(labels)["group"] == group)
        counts = [v for _, v in buckets]
        assert counts == sorted(counts), buckets
        assert buckets[-1][0] == float("inf")
        assert buckets[-1][1] == sample(
            prom, "pyworker_request_duration_seconds_count", group=group)
    assert sample(prom, "pyworker_ready_processes", group="counted") == 2


def test_a_killed_daemon_counts_as_a_crash_restart_with_its_cause(httpd):
    before = status_json(httpd)["crashy"]
    pid = before["processes"][0]["pid"]
    assert pid in httpd.daemon_pids("crashy")
    httpd.log.expect(codes=[22])
    os.kill(pid, signal.SIGKILL)
    httpd.wait_daemons("crashy", exclude=[pid])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        g = status_json(httpd)["crashy"]
        p = g["processes"][0]
        if p["pid"] not in (None, pid) and p["state"] == "ready":
            break
        time.sleep(0.1)
    assert g["restarts"]["crash"] - before["restarts"]["crash"] == 1
    assert p["restarts"] - before["processes"][0]["restarts"] == 1
    assert "signal 9" in p["last_restart_cause"], p
    assert httpd.get("/crashy/200").status_code == 200
    _, prom = prometheus(httpd)
    assert sample(prom, "pyworker_restarts_total", group="crashy",
                  cause="crash") == g["restarts"]["crash"]


def test_counters_survive_a_graceful_restart_which_counts_as_one(httpd):
    before = status_json(httpd)
    httpd.graceful()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        after = status_json(httpd)
        if all(after[n]["restarts"]["graceful"]
               - before[n]["restarts"]["graceful"] == g["process_count"]
               and all(p["state"] == "ready" and p["requests"] is not None
                       for p in after[n]["processes"])
               for n, g in before.items()):
            break
        time.sleep(0.1)
    for name, g in before.items():
        a = after[name]
        assert a["restarts"]["graceful"] - g["restarts"]["graceful"] == \
            g["process_count"], (name, a["restarts"])
        assert a["requests"]["total"] >= g["requests"]["total"]
        assert a["duration"]["count"] >= g["duration"]["count"]
        assert {p["pid"] for p in a["processes"]}.isdisjoint(
            p["pid"] for p in g["processes"])
        assert all(p["last_restart_cause"] == "Apache restarted gracefully"
                   for p in a["processes"])
    n = status_json(httpd)["warm"]["requests"]["total"]
    assert n >= before["warm"]["requests"]["total"] > 0   # not reset
    assert httpd.get("/warm/200").status_code == 200
    assert status_json(httpd)["warm"]["requests"]["total"] == n + 1


def test_maximum_requests_counts_as_a_recycle_restart(httpd):
    before = status_json(httpd)["recycled"]
    for _ in range(3):
        assert httpd.get("/recycled/200").status_code == 200
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        g = status_json(httpd)["recycled"]
        if g["restarts"]["recycle"] > before["restarts"]["recycle"]:
            break
        time.sleep(0.1)
    assert g["restarts"]["recycle"] - before["restarts"]["recycle"] == 1
    p = g["processes"][0]
    assert p["last_restart_cause"].startswith("it asked to be replaced")
    assert p["pid"] != before["processes"][0]["pid"]
    assert g["requests"]["2xx"] - before["requests"]["2xx"] == 3


def raw_get(httpd, target):
    s = socket.create_connection(("127.0.0.1", httpd.port), timeout=30)
    s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Connection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return data


def test_a_uri_from_the_daemon_is_escaped_in_every_form(httpd):
    target = b'/counted/slow?4&q=<i>"x\'&amp;\xff'
    box = {}
    t = threading.Thread(target=lambda: box.update(r=raw_get(httpd, target)))
    t.start()
    try:
        g, busy = wait_busy(httpd, "counted", "/counted/slow?4&q")
        html = httpd.get("/pyworker-status").text
    finally:
        t.join()
    assert box["r"].startswith(b"HTTP/1.1 200"), box["r"][:200]
    # JSON: valid (status_json parsed it), non-ASCII bytes shown as '?'.
    assert busy[0]["uri"] == '/counted/slow?4&q=<i>"x\'&amp;?'
    assert "<i>" not in html
    # (the single quote needs no escaping: text, never an attribute)
    assert "/counted/slow?4&amp;q=&lt;i&gt;&quot;x'&amp;amp;?</td>" in html


def test_html_page_has_a_table_per_group_and_refreshes(httpd):
    r = httpd.get("/pyworker-status?refresh=7")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert r.headers["Cache-Control"] == "no-store"
    assert '<meta http-equiv=refresh content="7">' in r.text
    for group in ("counted", "crashy", "warm", "recycled"):
        assert '<h2 id="g-%s">' % group in r.text
    assert r.text.count("<table class=workers>") == 4


def test_status_is_restricted_with_require_like_server_status(httpd):
    httpd.log.expect("AH01630")
    assert httpd.get("/status-denied").status_code == 403
    assert httpd.get("/status-denied?json").status_code == 403
    assert httpd.post("/pyworker-status").status_code == 405


def test_mod_status_extended_shows_a_line_per_group(httpd):
    auto = httpd.get("/server-status?auto").text
    lines = [l for l in auto.splitlines() if l.startswith("PyWorkerGroup:")]
    assert [l.split()[1] for l in lines] == ["counted", "crashy", "warm",
                                             "recycled"]
    assert any(l.startswith("PyWorkerGroup: counted ready=2/2 busy=0 "
                            "idle=6 queued=0 ") for l in lines), lines
    html = httpd.get("/server-status").text
    assert "PyWorker group warm: 1/1 processes ready" in html


IDLE_CONF = """
PyWorkerDaemonProcess napper start=on-demand idle-timeout=0.5 threads=2 \\
    display-name=%{GROUP}
PyWorkerScriptAlias /napper {apps}/slow_exit.wsgi process-group=napper
<Location /pyworker-status>
    SetHandler pyworker-status
</Location>
"""


def idle_view(a, group):
    """(ready_processes, idle_threads, [(state, pid)], Prometheus'
    pyworker_ready_processes) of the group."""
    g = status_json(a)[group]
    text = a.get("/pyworker-status?prometheus").text
    ready = [s.value for fam in text_string_to_metric_families(text)
             if fam.name == "pyworker_ready_processes"
             for s in fam.samples if s.labels.get("group") == group]
    return (g["ready_processes"], g["idle_threads"],
            [(p["state"], p["pid"]) for p in g["processes"]], ready)


def test_a_group_stopped_by_idle_timeout_shows_as_stopped(fresh_apache):
    """After idle-timeout stopped the group (PYW0052) and its daemon
    exited (PYW0032), the page still listed the dead daemon as process 1,
    "ready", with its pid and an uptime that kept growing, the group's
    ready_processes 1 and idle_threads 2, Prometheus'
    pyworker_ready_processes 1, also after a graceful restart; and it read
    /proc/<pid>/stat of a pid that may be another process's by then.  The
    parent cleared the slot's record only when a slot's current process
    died, and the idle stop had already taken the daemon off its slot.
    Now the stopping daemon is listed as a draining one (slow_exit.wsgi
    takes 3 s to exit), then not at all: the group shows as one never
    started, stopped with no pid."""
    a = fresh_apache(IDLE_CONF, wait_daemons=False)
    r = a.get("/napper")
    assert r.status_code == 200
    pid = int(r.text)
    mark = a.log.mark()
    assert a.log.wait_for(r"PYW0052: .*group=napper\b", since=mark)
    view = idle_view(a, "napper")
    exited = r"PYW0032: .*group=napper pid=%d\b" % pid
    if not a.log.find(exited, since=mark):      # 3 s to exit: still there
        assert view == (0, 0, [("stopped", None), ("draining", pid)], [0])
    assert a.log.wait_for(exited, since=mark)
    stopped = (0, 0, [("stopped", None)], [0])
    assert idle_view(a, "napper") == stopped
    mark = a.log.mark()
    a.graceful(wait=False)
    assert a.log.wait_for(r"AH00489", since=mark, timeout=20)
    assert idle_view(a, "napper") == stopped
    assert a.daemon_pids("napper") == []


FAILING = """
PyWorkerDaemonProcess failing threads=1 display-name=pyw-st-failing
PyWorkerScriptAlias /failing {apps}/status_codes.wsgi process-group=failing
<Location /pyworker-status>
    SetHandler pyworker-status
</Location>
"""


def test_the_last_error_uri_is_the_uri_as_sent(fresh_apache):
    """The group's last error names the URI as the client sent it (as
    the worker rows do), query included.  It recorded Apache's decoded
    path, whose UTF-8 bytes the JSON and HTML escaped one by one as
    Latin-1: /failing/500/caf%C3%A9 showed as ".../cafÃ©"."""
    httpd = fresh_apache(FAILING)
    assert httpd.get("/failing/500/caf%C3%A9?x=1").status_code == 500
    err = status_json(httpd)["failing"]["last_error"]
    assert err["status"] == 500
    assert err["uri"] == "/failing/500/caf%C3%A9?x=1", err
    html = httpd.get("/pyworker-status").text
    assert "/failing/500/caf%C3%A9?x=1" in html
    assert "caf&#195;&#169;" not in html


GROW = """
PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess many processes=%d threads=1 graceful-timeout=30 \\
    display-name=pyw-st-many
PyWorkerScriptAlias /many {apps}/hold.wsgi process-group=many
<Location /pyworker-status>
    SetHandler pyworker-status
</Location>
"""


def test_a_request_in_flight_when_a_group_grows_to_14_processes_counts(
        fresh_apache):
    """Counters survive a graceful restart that grows the group.  The
    group's metrics mapping held 13 process records; at 14 the parent
    copied it into a bigger one, while Apache's children of the old
    generation still counted into the old copy: the request they had in
    flight answered 200 and never reached requests.total (nor
    duration.count).  The mapping now has room for processes= at its
    bound and never moves."""
    a = fresh_apache(GROW % 1)
    for _ in range(3):
        assert a.get("/many").status_code == 200
    flag = a.path("state", "release-many")
    held = load.in_background(a, "/many?" + flag)
    try:
        before = wait_for("the held request running",
                          lambda: (lambda g: g["busy_threads"] == 1 and g)(
                              status_json(a)["many"]))
        a.snippet = GROW % 14
        a.write_conf()
        a.graceful(wait=False)
        wait_for("14 processes",
                 lambda: status_json(a)["many"]["process_count"] == 14)
    finally:
        open(flag, "w").close()
        held[0].join()
    assert held[1]["r"].status_code == 200
    after = wait_for("the held request counted",
                     lambda: (lambda g: g["requests"]["total"]
                              > before["requests"]["total"] and g)(
                                  status_json(a)["many"]), timeout=5)
    assert after["requests"]["2xx"] == before["requests"]["2xx"] + 1
    assert after["duration"]["count"] == before["duration"]["count"] + 1

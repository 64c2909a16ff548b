"""Preloading (mod_wsgi's rule): a PyWorkerScriptAlias or PyWorkerPasteApp
that names both process-group= and application-group= (one that needs no
request) has its application loaded when each of the group's daemons
starts, before it says it is ready; so does a group's own script= or
paste=.  The first request after a start, a recycle or a graceful
restart then never waits for the import.  A preload that fails is logged
(PYW0311 / PYW0313) and the daemon starts anyway: its requests load it
again (500 while it fails), unlike PyWorkerImportScript.  Before, every
application was loaded by its first request."""
import collections
import json
import re
import time

from pyworker_t.proxy import load_proxy

PRELOADED, READY_TOLD, CREATED = 317, 240, 315
SCRIPT_FAILED, PASTE_FAILED = 311, 313

CONF = load_proxy() + """
PyWorkerDaemonProcess pre processes=2 threads=2 python-path={apps}/paste \\
    display-name=pyw-pre
PyWorkerImportScript {apps}/preload_stamp.wsgi process-group=pre \\
    application-group=%{GLOBAL}
PyWorkerScriptAlias /both {apps}/preload_stamp.wsgi process-group=pre \\
    application-group=%{GLOBAL}
PyWorkerScriptAlias /both-again {apps}/preload_stamp.wsgi \\
    process-group=pre application-group=%{GLOBAL}
PyWorkerScriptAlias /named {apps}/preload_stamp.wsgi process-group=pre \\
    application-group=named
PyWorkerScriptAlias /lazy {apps}/preload_stamp.wsgi process-group=pre
<Location /lazy>
    PyWorkerApplicationGroup lazy
</Location>
PyWorkerScriptAlias /res {apps}/preload_stamp.wsgi process-group=pre \\
    application-group=%{RESOURCE}
PyWorkerScriptAliasMatch ^/match/ {apps}/preload_stamp.wsgi \\
    process-group=pre application-group=m
PyWorkerPasteApp /paste {apps}/paste/minimal.ini#other process-group=pre \\
    application-group=%{GLOBAL}
PyWorkerScriptAlias /broken {apps}/broken_import.wsgi process-group=pre \\
    application-group=broken
PyWorkerDaemonProcess own threads=2 script={apps}/preload_stamp.wsgi \\
    application-group=mine display-name=pyw-own
ProxyPass /own pyworker://own/
"""


def get_json(httpd, path):
    sent = time.time()
    r = httpd.get(path, timeout=30)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return sent, r.json()


def loads(httpd):
    """{(pid, interpreter): times the stamp script was imported}."""
    with open(httpd.path("state", "loads")) as f:
        return collections.Counter(tuple(l.split()) for l in f)


def preloaded(httpd, pid, since=0):
    """(what, group) of each PYW0317 of pid, in order, and whether each
    came before the pid told the parent it was ready."""
    lines = [l for l in httpd.log.lines(since) if "pid=%d)" % pid in l
             or "pid=%d " % pid in l]
    ready = [i for i, l in enumerate(lines) if l.code == READY_TOLD]
    out = []
    for i, l in enumerate(lines):
        m = l.code == PRELOADED and re.search(
            r"preloaded \S+/(\S+) in application group '([^']*)'", l)
        if m:
            out.append((m.group(1), m.group(2), bool(ready) and i < ready[0]))
    return out


def test_both_groups_named_preload_before_ready(fresh_apache):
    httpd = fresh_apache(CONF, wait_daemons=False)
    httpd.log.expect(r"pyw-secret-broken-import|broken_import\.wsgi|"
                     r"Traceback|File |raise |RuntimeError",
                     codes=[SCRIPT_FAILED])
    pids = httpd.wait_daemons("pre")
    for pid in pids:
        assert httpd.log.wait_for(r"PYW0%d\b.*pid=%d\)" % (READY_TOLD, pid))
        got = preloaded(httpd, pid)
        # The import script is the same file in the same group: loaded
        # once, by the import (which logs no PYW0317).  The alias in
        # 'named' and the paste app are preloaded, all before ready; not
        # the request-only or per-<Location> groups, nor the regex alias.
        assert got == [("preload_stamp.wsgi", "named", True),
                       ("minimal.ini#other", "%{GLOBAL}", True)], got
    # A preload that fails is logged, and the daemon starts anyway.
    failed = httpd.log.wait_for(r"PYW0%d\b.*preloading \S+broken_import"
                                r"\.wsgi failed; its requests load it "
                                r"again" % SCRIPT_FAILED, count=2)
    assert len(failed) == 2, failed
    counts = loads(httpd)
    assert sorted(c for (p, _), c in counts.items()
                  if int(p) in pids) == [1, 1, 1, 1], counts

    # Served from what was loaded before the request was sent.
    for path in ("/both", "/both-again", "/named", "/paste"):
        sent, body = get_json(httpd, path)
        assert body["loaded_at"] < sent, (path, body)
    assert httpd.get("/broken", timeout=30).status_code == 500
    # The lazy ones load on their request.
    for path, group in (("/lazy", "lazy"), ("/match/x", "m"),
                        ("/res", None)):
        sent, body = get_json(httpd, path)
        assert body["loaded_at"] > sent, (path, body)
        if group:
            assert body["group"] == group

    # A group's own application (script=, served through pyworker://).
    (own,) = httpd.wait_daemons("own")
    assert httpd.log.wait_for(r"PYW0%d\b.*pid=%d\)" % (READY_TOLD, own))
    assert preloaded(httpd, own) == [("preload_stamp.wsgi", "mine", True)]
    sent, body = get_json(httpd, "/own/")
    assert body["loaded_at"] < sent and body["group"] == "mine", body


GRACEFUL = """
PyWorkerDaemonProcess sl processes=2 threads=2 python-path={apps}/paste \\
    display-name=pyw-sl
PyWorkerScriptAlias /s {apps}/preload_stamp.wsgi process-group=sl \\
    application-group=%{GLOBAL}
PyWorkerPasteApp /p {apps}/paste/minimal.ini process-group=sl \\
    application-group=%{GLOBAL}
"""


def test_no_request_waits_for_the_load_after_a_graceful_restart(
        fresh_apache):
    """The old daemons serve until their successors are ready, and the
    successors are ready only once loaded: no request after the restart
    is served by an application loaded after it was sent."""
    httpd = fresh_apache(GRACEFUL, ready=["/s", "/p/"])
    old = httpd.graceful()
    new = set(httpd.wait_daemons("sl", exclude=old))
    seen = collections.Counter()
    deadline = time.monotonic() + 30
    while sum(seen[p] for p in new) < 10 and time.monotonic() < deadline:
        for path in ("/s", "/p/"):
            sent, body = get_json(httpd, path)
            assert body["loaded_at"] < sent, (path, body)
            seen[body["pid"]] += 1
    assert sum(seen[p] for p in new) >= 10, (new, seen)


SUBINTERP_FAILED, PYTHON_START_FAILED, CONNECT_FAILED = 314, 210, 110

MANY = "PyWorkerDaemonProcess many threads=2 display-name=pyw-many\n" + \
    "\n".join("PyWorkerScriptAlias /g%d {apps}/hello.wsgi process-group=many "
              "application-group=g%d" % (i, i) for i in range(65))


def test_preloads_beyond_64_groups_do_not_stop_the_daemon(fresh_apache):
    """A daemon holds 64 named application groups; past that, requests
    get 500 and PYW0314.  A preload that cannot have an interpreter is a
    failed preload like any other: the daemon starts.  It exited 254
    (PYW0210) at every start, so every URL of the group got 503."""
    httpd = fresh_apache(MANY, wait_daemons=False)
    httpd.log.expect(codes=[SUBINTERP_FAILED])
    assert httpd.log.wait_for(r"PYW0%d\b" % READY_TOLD, timeout=30), \
        httpd.log.tail(6)
    assert len(httpd.log.find(r"PYW0%d\b" % PRELOADED)) == 64
    assert not httpd.log.find(r"PYW0%d\b" % PYTHON_START_FAILED)
    assert httpd.get("/g0", timeout=20).status_code == 200
    assert httpd.get("/g64", timeout=20).status_code == 500


ON_DEMAND = """
PyWorkerDaemonProcess od start=on-demand threads=2 connect-timeout=1 \\
    idle-timeout=1 display-name=pyw-od
PyWorkerScriptAlias /pre {apps}/preload_slow.wsgi process-group=od \\
    application-group=%{GLOBAL}
"""


def test_a_request_waits_for_an_on_demand_group_s_slow_preload(
        fresh_apache):
    """The request that starts an on-demand group waits in the backlog
    and is answered, never refused, though the daemon greets no
    connection until its 3 s preload is done: a connection waits past
    connect-timeout (1 s here) while the group's news says a daemon is
    starting.  It got 503 (PYW0110) at connect-timeout; after every
    idle-timeout stop too."""
    httpd = fresh_apache(ON_DEMAND, wait_daemons=False)
    for _ in range(2):                  # a cold start, then after idle
        sent = time.time()
        r = httpd.get("/pre", timeout=30)
        assert r.status_code == 200, (r.status_code, httpd.log.tail(3))
        assert r.json()["loaded_at"] > sent - 1
        assert httpd.log.wait_for(r"PYW0052\b.*group=od", timeout=15)
        assert httpd.log.wait_for(r"PYW0032\b.*group=od", timeout=15)
    assert not httpd.log.find(r"PYW0%d\b" % CONNECT_FAILED)

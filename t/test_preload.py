"""Preloading (mod_wsgi's rule): a PyWorkerScriptAlias or PyWorkerPasteApp
that names both process-group= and application-group= (one that needs no
request) has its application loaded when each of the group's daemons
starts, before it says it is ready; so does a group's own script= or
paste=.  The first request after a start, a recycle or a graceful
restart then never waits for the import.  Before, every application was
loaded by its first request.

A preload that fails (PYW0311 / PYW0313) in a daemon that replaces a
serving one (a deploy) fails its start, as a PyWorkerImportScript does
(PYW0210, exit 254): the old one serves on and the new one is retried
with back-off.  Any other daemon starts anyway (its requests load the
application again, 500 while it fails) and asks for its own replacement
(PYW0258), which takes over once the application loads."""
import collections
import json
import os
import re
import time

from pyworker_t import codes
from pyworker_t.load import Load
from pyworker_t.proxy import load_proxy

PRELOADED, READY_TOLD, CREATED = 317, 240, 315
SCRIPT_FAILED, PASTE_FAILED = 311, 313
REPLACEMENT_ASKED = 258     # warn: started though a preload failed
REPLACED, ROLLING_DONE = 31, 37
# A daemon started without its application asking for a replacement
# (PYW0258), whose starts fail: its PYW0311, PYW0210 and the parent's
# PYW0023, with the script's traceback.
FAILED_STARTS = [SCRIPT_FAILED, codes.PYTHON_START,
                 codes.DAEMON_START_FAILED, REPLACEMENT_ASKED]
TRACEBACK = r"pyw-secret-broken-import|Traceback|File |raise |RuntimeError"

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
    # /broken never loads: each daemon asks for a replacement, whose
    # starts fail (retried with back-off) while it serves.
    httpd.log.expect(r"pyw-secret-broken-import|broken_import\.wsgi|"
                     r"Traceback|File |raise |RuntimeError",
                     codes=FAILED_STARTS)
    # The first two (the replacements they ask for come later).
    pids = sorted(httpd.wait_daemons("pre"))[:2]
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
    for pid in pids:
        assert httpd.log.wait_for(r"PYW0%d\b.*pid=%d\)"
                                  % (REPLACEMENT_ASKED, pid))
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


# -- a preload that fails: deploys keep the old daemon, a broken start heals -

DEPLOY = """
PyWorkerDaemonProcess dep processes=2 threads=4 display-name=pyw-dep
PyWorkerScriptAlias /dep {apps}/deploy_touch.wsgi process-group=dep \\
    application-group=%{GLOBAL}
"""


def group_lines(httpd, code, group, since=0):
    return [l for l in httpd.log.lines(since)
            if l.code == code and "(group=%s " % group in l]


def deploy(httpd, name, text):
    """Replace apps/name as a deploy tool would (write, rename)."""
    path = httpd.path("apps", name)
    with open(path + ".new", "w") as f:
        f.write(text)
    os.chmod(path + ".new", 0o644)
    os.rename(path + ".new", path)


def test_a_deploy_that_cannot_preload_keeps_the_old_daemons_serving(
        fresh_apache):
    """A preloaded script replaced by one that fails to import: the
    rolling restart's new daemon failed its preload (PYW0311), said
    READY all the same, the working daemon was retired (PYW0031) and
    every request got 500 until the next deploy.  Now a daemon that
    replaces a serving one fails its start (PYW0210): the old one serves
    on, the new one is retried with back-off, and the deploy that fixes
    the script rolls through.  No request fails."""
    httpd = fresh_apache(DEPLOY, ready=["/dep"])
    httpd.log.expect(TRACEBACK, codes=[SCRIPT_FAILED, codes.PYTHON_START,
                                       codes.DAEMON_START_FAILED])
    old = set(httpd.daemon_pids("dep"))
    with open(httpd.path("apps", "deploy_touch.wsgi")) as f:
        good = f.read()
    with open(httpd.path("apps", "broken_import.wsgi")) as f:
        broken = f.read()
    mark = httpd.log.mark()
    traffic = Load(httpd.port, "/dep", total=10 ** 6, concurrency=2,
                   timeout=30, deadline=40, keep_body=True).start()
    time.sleep(1)
    deploy(httpd, "deploy_touch.wsgi", broken)
    # Three starts fail (1 s, 2 s back-off between them) while the old
    # daemons serve.
    failed = httpd.log.wait_for(r"\bPYW%04d\b.*\(group=dep "
                                % codes.DAEMON_START_FAILED, since=mark,
                                timeout=20, count=3)
    assert len(failed) >= 3, httpd.log.text(mark)
    assert set(httpd.daemon_pids("dep")) >= old
    assert not group_lines(httpd, REPLACED, "dep", mark)
    assert httpd.log.find(r"\bPYW%04d\b.*preloading \S+deploy_touch\.wsgi "
                          r"failed; not starting this daemon"
                          % SCRIPT_FAILED, since=mark)
    deploy(httpd, "deploy_touch.wsgi",
           good.replace('VERSION = "v1"', 'VERSION = "v2"'))
    assert httpd.log.wait_for(r"\bPYW%04d\b.*\(group=dep\)" % ROLLING_DONE,
                              since=mark, timeout=40), httpd.log.text(mark)
    time.sleep(0.5)
    traffic.stop()
    res = traffic.join()
    assert res.records and res.counts == {200: len(res.records)}, \
        res.failures()[:10]
    versions = [r.body.split()[0] for r in res.records]
    assert versions[-1] == b"v2" and b"v1" in versions, versions[-5:]
    new = httpd.wait_daemons("dep", exclude=old, timeout=20)
    assert len(new) == 2


HEAL = """
PyWorkerDaemonProcess heal threads=2 display-name=pyw-heal
PyWorkerScriptAlias /heal {apps}/broken_import.wsgi process-group=heal \\
    application-group=%{GLOBAL}
"""

FIXED = """import os


def application(environ, start_response):
    body = b"fixed %d" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]
"""


def test_a_group_started_broken_is_replaced_once_its_preload_loads(
        fresh_apache):
    """A group whose preload fails at its first start (nothing serves in
    its place) starts anyway and asks for its replacement (PYW0258).  Its
    replacements fail their start until the application loads, at the
    back-off (1 s doubling), never faster; once the file is fixed one
    takes over by itself.  Before, the broken daemon served on: it
    retried the load on each request, which an application that starts
    once per process (Zope) can never pass, so only a manual restart
    helped (t/test_plone.py shows it with Zope)."""
    httpd = fresh_apache(HEAL, wait_daemons=False)
    httpd.log.expect(TRACEBACK, codes=FAILED_STARTS)
    asked = httpd.log.wait_for(r"\bPYW%04d\b.*\(group=heal "
                               % REPLACEMENT_ASKED, timeout=20)
    assert asked, httpd.log.tail()
    sick = int(re.search(r"pid=(\d+)\)", asked[0]).group(1))
    assert httpd.get("/heal", timeout=20).status_code == 500
    # For 8 s: one daemon serving 500s, its replacements failing at the
    # back-off (0, 1, 2, 4 s apart, plus their own start).
    time.sleep(8)
    failed = group_lines(httpd, codes.DAEMON_START_FAILED, "heal")
    assert 2 <= len(failed) <= 4, "\n".join(failed)
    assert len(group_lines(httpd, REPLACEMENT_ASKED, "heal")) == 1
    assert httpd.daemon_pids("heal")[:1] == [sick]
    mark = httpd.log.mark()
    deploy(httpd, "broken_import.wsgi", FIXED)
    t0 = time.monotonic()
    # The next try comes within the back-off reached (8 s by now).
    replaced = httpd.log.wait_for(r"\bPYW%04d\b.*\(group=heal pid=%d\)"
                                  % (REPLACED, sick), since=mark,
                                  timeout=20)
    assert replaced, httpd.log.text(mark)
    assert time.monotonic() - t0 < 16
    (new,) = httpd.wait_daemons("heal", exclude={sick}, timeout=20)
    r = httpd.get("/heal", timeout=20)
    assert r.status_code == 200 and r.text == "fixed %d" % new, r.text
    assert len(group_lines(httpd, REPLACEMENT_ASKED, "heal")) == 1

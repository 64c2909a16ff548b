"""Daemon processes owned by the module: titles, users, descriptors, the
group sockets, restart after death, graceful replacement, stop, and the
persistent Apache -> daemon connections."""
import glob
import hashlib
import http.client
import json
import os
import queue
import re
import signal
import stat
import threading
import time

import pytest

from pyworker_t import codes, procs
from pyworker_t.httpd import IS_ROOT, ONE_CHILD, configtest
from pyworker_t.load import Load

USERS = ("user=pywtest1", "user=pywtest2") if IS_ROOT else ("", "")

CONF = """
PyWorkerSocketPrefix {run}/pyws
PyWorkerPythonPath {apps}/lib
PyWorkerDaemonProcess g1 processes=2 threads=3 %s display-name=pywd-g1 \\
    home={apps} umask=0027 lang=C.UTF-8 locale=C.UTF-8
PyWorkerDaemonProcess g2 threads=2 %s display-name=pywd-g2 \\
    python-path={apps}/lib python-home=/usr
PyWorkerDaemonProcess g3 threads=2 display-name=%%{GROUP}
PyWorkerImportScript {apps}/preload.wsgi process-group=g1 \\
    application-group=%%{GLOBAL}
PyWorkerScriptAlias /g1/who {apps}/whoami.wsgi process-group=g1
PyWorkerScriptAlias /g1/connect {apps}/connect_other.wsgi process-group=g1
PyWorkerScriptAlias /g1/env {apps}/environ.wsgi process-group=g1
PyWorkerScriptAlias /g1/hello {apps}/hello.wsgi process-group=g1
PyWorkerScriptAlias /g1/slow {apps}/slow.wsgi process-group=g1
PyWorkerScriptAlias /g2/who {apps}/whoami.wsgi process-group=g2
PyWorkerScriptAlias /g2/connect {apps}/connect_other.wsgi process-group=g2
PyWorkerScriptAlias /g3/who {apps}/whoami.wsgi process-group=g3
""" % USERS

THREADS = {"g1": 3, "g2": 2, "g3": 2}


@pytest.fixture(scope="module")
def httpd(apache, request):
    if IS_ROOT:
        request.getfixturevalue("test_users")
    return apache(CONF, ready=["/g1/hello", "/g2/who", "/g3/who"])


def who(httpd, group):
    r = httpd.get("/%s/who" % group)
    assert r.status_code == 200, r.text[:300]
    return r.json()


def sockets(httpd):
    """{group: socket path} found under the socket prefix."""
    out = {}
    for path in glob.glob(httpd.path("run", "pyws*")):
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            for g in THREADS:
                if re.search(r"\b%s\b" % g, os.path.basename(path)):
                    out[g] = path
    return out


def test_daemons_exist_with_display_name_title(httpd):
    g1 = httpd.daemon_pids("g1")
    assert len(g1) == 2, "expected 2 processes titled pywd-g1"
    for pid in g1:
        assert procs.cmdline(pid).startswith("pywd-g1"), procs.cmdline(pid)
    assert len(httpd.daemon_pids("g2")) == 1
    g3 = httpd.daemon_pids("g3")
    assert len(g3) == 1
    assert "g3" in procs.cmdline(g3[0])


def test_requests_are_served_by_those_daemons(httpd):
    pids = {who(httpd, "g1")["pid"] for _ in range(12)}
    assert pids <= set(httpd.daemon_pids("g1"))
    assert who(httpd, "g2")["pid"] in httpd.daemon_pids("g2")


def test_worker_threads_are_started_up_front(httpd):
    for group, threads in THREADS.items():
        for pid in httpd.daemon_pids(group):
            tasks = len(os.listdir("/proc/%d/task" % pid))
            assert tasks >= threads + 1, (group, pid, tasks)


@pytest.mark.skipif(not IS_ROOT, reason="needs root")
@pytest.mark.parametrize("group,user", [("g1", "pywtest1"),
                                        ("g2", "pywtest2"),
                                        ("g3", "www-data")])
def test_daemon_runs_as_configured_user_never_root(httpd, test_users, group,
                                                   user):
    import pwd
    pw = pwd.getpwnam(user)
    w = who(httpd, group)
    assert w["resuid"] == [pw.pw_uid] * 3
    assert w["resgid"] == [pw.pw_gid] * 3
    assert 0 not in w["groups"]
    for pid in httpd.daemon_pids(group):
        uids = procs.status_field(pid, "Uid").split()
        assert uids == [str(pw.pw_uid)] * 4, (pid, uids)
        gids = procs.status_field(pid, "Gid").split()
        assert gids == [str(pw.pw_gid)] * 4, (pid, gids)


def _bad_fds(httpd, fds, group):
    """Descriptors a daemon of `group` should not have."""
    errlog = httpd.path("logs", "error.log")
    listen = procs.tcp_listen_inodes(httpd.port)
    unix = procs.unix_socket_paths()
    own = sockets(httpd).get(group)
    bad = {}
    for fd, target in fds.items():
        fd = int(fd)
        m = re.match(r"socket:\[(\d+)\]", target)
        if m:
            if m.group(1) in listen:
                bad[fd] = target + " (Apache's listener)"
            elif unix.get(m.group(1)) not in (None, own):
                bad[fd] = target + " (%s)" % unix.get(m.group(1))
        elif target.startswith(("anon_inode:", "pipe:")):
            pass
        elif target.startswith("/memfd:pyworker-stacks"):
            pass            # its own: where faulthandler writes a dump
        elif fd == 0 and target == "/dev/null":
            pass
        elif fd in (1, 2) and target == errlog:
            pass
        elif target == errlog:
            pass
        else:
            bad[fd] = target
    return bad


def test_daemon_closes_descriptors_it_does_not_need(httpd):
    for group in THREADS:
        for pid in httpd.daemon_pids(group):
            fds = procs.fds(pid)
            assert fds, "cannot read /proc/%d/fd" % pid
            assert fds.get(0) == "/dev/null", fds
            assert fds.get(2) == httpd.path("logs", "error.log"), fds
            assert _bad_fds(httpd, fds, group) == {}
    w = who(httpd, "g1")
    assert _bad_fds(httpd, w["fds"], "g1") == {}


def test_group_sockets_are_files_private_to_apache_user(httpd):
    found = sockets(httpd)
    assert set(found) == set(THREADS), found
    for group, path in found.items():
        st = os.stat(path)
        assert stat.S_IMODE(st.st_mode) == 0o600, (path, oct(st.st_mode))
        if IS_ROOT:
            import pwd
            assert st.st_uid == pwd.getpwnam("www-data").pw_uid, path
    with open("/proc/net/unix") as f:
        assert "@pyw" not in f.read(), "abstract socket in use"


@pytest.mark.skipif(not IS_ROOT, reason="needs root")
@pytest.mark.parametrize("src,dst", [("g2", "g1"), ("g1", "g2")])
def test_daemon_of_other_user_cannot_connect_to_group_socket(httpd, src,
                                                             dst):
    path = sockets(httpd)[dst]
    r = httpd.get("/%s/connect" % src, params={"path": path})
    assert r.status_code == 200
    out = r.json()
    assert out["connected"] is False
    assert out["error"] == "EACCES", out


def test_home_umask_lang_locale_options(httpd):
    w = who(httpd, "g1")
    assert w["cwd"] == httpd.path("apps")
    assert w["umask"] == 0o027
    assert w["env"]["LANG"] == "C.UTF-8"
    assert w["locale_ctype"] == "C.UTF-8"


def test_python_path_option_and_directive(httpd):
    assert who(httpd, "g2")["pywlibmod"] == "pywlibmod from python-path"
    assert who(httpd, "g1")["pywlibmod"] == "pywlibmod from python-path"
    assert who(httpd, "g2")["sys_prefix"] == "/usr"


def test_import_script_runs_at_daemon_start(httpd):
    for pid in httpd.daemon_pids("g1"):
        marker = httpd.path("state", "preload-%d" % pid)
        deadline = time.monotonic() + 10
        while not os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert os.path.exists(marker), "import script did not run in %d" % pid
    e = httpd.get("/g1/env").json()
    assert e["preloaded"] == str(e["pid"])


def test_each_script_is_loaded_once_per_process(httpd):
    for _ in range(30):
        who(httpd, "g1")
    with open(httpd.path("state", "loads-whoami")) as f:
        pids = [int(l) for l in f.read().split()]
    for pid in set(pids):
        assert pids.count(pid) == 1, "whoami.wsgi loaded %d times in %d" % (
            pids.count(pid), pid)


def _conn_inodes(httpd, w, group):
    """Socket inodes of accepted connections in a whoami answer."""
    own = sockets(httpd)[group]
    unix = procs.unix_socket_paths()
    out = set()
    for target in w["fds"].values():
        m = re.match(r"socket:\[(\d+)\]", target)
        if m and unix.get(m.group(1)) == own:
            out.add((w["pid"], m.group(1)))
    return out


def test_apache_to_daemon_connections_are_reused(httpd):
    import http.client
    seen = set()
    c = http.client.HTTPConnection("127.0.0.1", httpd.port, timeout=10)
    for _ in range(30):
        c.request("GET", "/g2/who")
        w = json.loads(c.getresponse().read())
        seen |= _conn_inodes(httpd, w, "g2")
    c.close()
    for _ in range(30):
        seen |= _conn_inodes(httpd, who(httpd, "g2"), "g2")
    # 60 requests; one socket per request would show ~60 inodes.  The
    # listening socket plus a few cached connections per Apache child is
    # what reuse looks like.
    assert len(seen) <= 12, "%d distinct daemon sockets for 60 requests" % (
        len(seen))


def test_killed_daemon_is_restarted_with_log_line(httpd):
    old = httpd.daemon_pids("g1")
    victim = old[0]
    httpd.log.expect(codes=[codes.DAEMON_DIED])
    mark = httpd.log.mark()
    os.kill(victim, signal.SIGKILL)
    new = httpd.wait_daemons("g1", exclude={victim}, timeout=20)
    assert len(new) == 2 and victim not in new
    lines = [l for l in httpd.log.wait_for(r"\bpid=%d\b" % victim, since=mark)
             if re.search(r"group=g1\b", l) and l.code == codes.DAEMON_DIED]
    assert lines, "no log line names the dead daemon:\n" + \
        httpd.log.text(mark)
    assert any(re.search(r"\b9\b|KILL", l, re.I) for l in lines), lines
    r = httpd.get("/g1/hello")
    assert r.status_code == 200


def test_requests_wait_while_daemon_restarts(httpd):
    httpd.log.expect(codes=[codes.DAEMON_DIED])
    sock = sockets(httpd)["g2"]
    inode = os.stat(sock).st_ino
    (victim,) = httpd.daemon_pids("g2")
    os.kill(victim, signal.SIGKILL)
    # Once it is gone (reaped: every thread exited) and before it is
    # replaced, requests go to the backlog of the socket that outlives it,
    # and wait there.
    assert procs.wait_reaped(victim, 5)
    results = [who(httpd, "g2")["pid"] for _ in range(5)]
    assert victim not in results
    assert os.stat(sock).st_ino == inode, "socket was recreated"


def test_graceful_replaces_daemons_and_serves_continuously(httpd):
    # Connection: close - Apache's own children close idle keep-alive
    # connections when a graceful restart retires them (a static file
    # shows the same race); that is not what this test is about.
    load = Load(httpd.port, "/g1/slow?0.05", total=200, concurrency=4,
                timeout=20, deadline=60,
                headers={"Connection": "close"}).start()
    time.sleep(0.5)
    old = httpd.graceful(wait=True)
    result = load.join()
    assert result.counts == {200: 200}, result.failures()[:10]
    for group, info in httpd.groups.items():
        new = httpd.wait_daemons(group, exclude=old, timeout=20)
        assert len(new) == info["processes"], group
        assert not set(new) & old
    gone = procs.wait_gone({p: None for p in old}, 15)
    assert not gone, "old daemons still alive after graceful: %s" % gone
    assert who(httpd, "g1")["pid"] not in old


def test_stop_removes_daemons(fresh_apache):
    a = fresh_apache("""
PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess s1 processes=2 threads=2 display-name=pywd-s1
PyWorkerScriptAlias /hello {apps}/hello.wsgi process-group=s1
""", ready=["/hello"])
    pids = a.daemon_pids("s1")
    assert len(pids) == 2
    socks = glob.glob(a.path("run", "pyws*"))
    assert socks
    t0 = time.monotonic()
    a.stop()
    assert time.monotonic() - t0 < 15
    assert a.leftovers == [], "daemons outlived Apache"
    assert not [p for p in pids if procs.alive(p)]
    assert not [s for s in socks if os.path.exists(s)], \
        "socket files left behind: %s" % socks


@pytest.mark.skipif(not IS_ROOT, reason="needs root")
def test_daemon_never_runs_as_root(fresh_apache):
    snippet = """
PyWorkerDaemonProcess asroot threads=1 user=root display-name=pywd-asroot
PyWorkerDaemonProcess ok threads=1 display-name=pywd-ok
PyWorkerScriptAlias /root/who {apps}/whoami.wsgi process-group=asroot
PyWorkerScriptAlias /ok/who {apps}/whoami.wsgi process-group=ok
"""
    rc, out = configtest(snippet)
    if rc != 0:                 # refused up front: fine, if it says why
        assert "root" in out, out
        return
    a = fresh_apache(snippet, ready=["/ok/who"], wait_daemons=False)
    a.log.expect(r"\(group=asroot\b",
                 codes=[codes.DAEMON_START_FAILED, codes.PRIVILEGES])
    refused = a.log.wait_for(r"\bPYW%04d\b.*\(group=asroot\b"
                             % codes.PRIVILEGES, timeout=5)
    assert refused, "no refusal logged:\n" + a.log.tail()
    assert refused[0].level == "crit"
    assert not a.log.find(r"\bPYW%04d\b.*\(group=asroot\b"
                          % codes.DAEMON_STARTED), "a root daemon started"
    assert a.get("/ok/who").status_code == 200


def test_persistent_connections_spread_over_the_group_processes(
        fresh_apache):
    a = fresh_apache("""
PyWorkerDaemonProcess spread processes=2 threads=2 display-name=pywd-spread
PyWorkerScriptAlias /spread {apps}/slow.wsgi process-group=spread
""", ready=["/spread?0"])
    pids = set(a.daemon_pids("spread"))
    assert len(pids) == 2
    # Eight clients at once make Apache open daemon connections together:
    # each daemon must get its share, not one daemon all of them while
    # the other's threads sit idle.
    res = Load(a.port, "/spread?0.2", total=32, concurrency=8, timeout=20,
               keep_body=True).start().join()
    assert res.counts == {200: 32}, res.failures()[:5]
    served = {}
    for r in res.records:
        pid = json.loads(r.body)["pid"]
        served[pid] = served.get(pid, 0) + 1
    assert set(served) == pids and min(served.values()) >= 8, served


def _served_by(res):
    served = {}
    for r in res.records:
        pid = json.loads(r.body)["pid"]
        served[pid] = served.get(pid, 0) + 1
    return served


def _one_daemon_takes_every_connection(a, group, path):
    """Stop the group's second daemon before Apache connects to either,
    load the group so the first gets all of Apache's persistent
    connections, then let the second run.  (first, second) pids."""
    first, second = sorted(a.daemon_pids(group))
    os.kill(second, signal.SIGSTOP)
    assert procs.wait_stopped(second)
    stopped_at = time.time()
    try:
        res = Load(a.port, path + "?0.05", total=16, concurrency=8,
                   timeout=30, keep_body=True).start().join()
    finally:
        os.kill(second, signal.SIGCONT)
    why = ("first=%d second=%d stopped at %s" % (
        first, second, time.strftime("%H:%M:%S", time.localtime(stopped_at))
        + ("%.6f" % (stopped_at % 1))[1:]), res.failures()[:5],
           a.log.find(r"\(group=%s " % group))
    assert res.counts == {200: 16}, why
    assert set(_served_by(res)) == {first}, why
    return first, second


def test_a_daemon_that_owns_every_connection_hands_requests_back(
        fresh_apache):
    """While one daemon of the group is stopped, the other ends up holding
    all of Apache's persistent connections.  Once both run, requests that
    find their daemon's workers busy are handed back and go to the free
    sibling instead of queueing behind a busy one."""
    a = fresh_apache("""
PyWorkerDaemonProcess lean processes=2 threads=2 display-name=pywd-lean
PyWorkerScriptAlias /lean {apps}/slow.wsgi process-group=lean
""")
    first, second = _one_daemon_takes_every_connection(a, "lean", "/lean")
    res = Load(a.port, "/lean?0.2", total=32, concurrency=8, timeout=30,
               keep_body=True).start().join()
    assert res.counts == {200: 32}, res.failures()[:5]
    served = _served_by(res)
    assert set(served) == {first, second} and min(served.values()) >= 8, \
        served


def _post_all(port, path, bodies, concurrency):
    """POST each body once, `concurrency` at a time:
    [(status, json or raw body, the body sent)]."""
    todo, out = queue.Queue(), []
    for b in bodies:
        todo.put(b)

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            try:
                b = todo.get_nowait()
            except queue.Empty:
                break
            conn.request("POST", path, body=b,
                         headers={"Content-Type": "application/octet-stream"})
            r = conn.getresponse()
            data = r.read()
            out.append((r.status, json.loads(data) if r.status == 200
                        else data, b))
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def _start(port, path, results):
    """One GET in a thread; its (status, json) goes into results."""
    def run():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", path)
        r = conn.getresponse()
        results.append((r.status, json.loads(r.read())))
        conn.close()
    t = threading.Thread(target=run)
    t.start()
    return t


# One Apache child, so that every request sees the same idle connections.
def test_apache_sends_a_request_to_the_process_with_a_free_worker(
        fresh_apache):
    """Apache's idle connections all lead to a daemon whose workers are
    busy, while its sibling idles: Apache reads the load board and sends
    the request to the sibling at once, without a detour through the busy
    daemon (no hand-back, no resend logged)."""
    a = fresh_apache(ONE_CHILD + """
PyWorkerDaemonProcess pick processes=2 threads=2 display-name=pywd-pick
PyWorkerScriptAlias /pick {apps}/slow.wsgi process-group=pick
""")
    first, second = _one_daemon_takes_every_connection(a, "pick", "/pick")
    time.sleep(0.1)
    mark = a.log.mark()             # (the set-up may hand some back)
    long_runs = []
    threads = [_start(a.port, "/pick?2", long_runs) for _ in range(2)]
    time.sleep(0.3)                 # both run, in `first`
    c = http.client.HTTPConnection("127.0.0.1", a.port, timeout=30)
    for _ in range(6):
        t0 = time.monotonic()
        c.request("GET", "/pick?0")
        r = c.getresponse()
        j = json.loads(r.read())
        assert r.status == 200 and j["pid"] == second, (r.status, j)
        assert time.monotonic() - t0 < 1.0
    c.close()
    for t in threads:
        t.join(30)
    assert [j["pid"] for _, j in long_runs] == [first, first], long_runs
    assert not a.log.find(r"\bPYW0140\b.*\(group=pick ", since=mark), \
        a.log.tail()


def test_requests_with_bodies_are_handed_back_whole(fresh_apache):
    """A request queued in a daemon whose workers are all held, when a
    sibling frees a worker first, is handed back and sent again with its
    whole body: the daemon that turned it down read none of it."""
    a = fresh_apache(ONE_CHILD + """
PyWorkerDaemonProcess bodies processes=2 threads=2 display-name=pywd-bodies
PyWorkerScriptAlias /bodies {apps}/slow.wsgi process-group=bodies
""")
    first, second = _one_daemon_takes_every_connection(a, "bodies",
                                                       "/bodies")
    runs = []
    # `first` is held for 3 s, `second` for 0.5 s: every worker is busy
    # and Apache's idle connections lead to `first` only, so the POSTs
    # queue there, until `second` frees its workers and `first` hands
    # them back.
    threads = [_start(a.port, "/bodies?3", runs) for _ in range(2)]
    time.sleep(0.3)
    threads += [_start(a.port, "/bodies?0.5", runs) for _ in range(2)]
    time.sleep(0.2)
    bodies = [os.urandom(100 * 1024) for _ in range(2)]
    out = _post_all(a.port, "/bodies?0", bodies, concurrency=2)
    for t in threads:
        t.join(30)
    assert sorted(j["pid"] for _, j in runs) == sorted(
        [first, first, second, second]), runs
    assert len(out) == 2 and all(st == 200 for st, _, _ in out), \
        [(st, j) for st, j, _ in out if st != 200][:3]
    for _, j, b in out:
        assert j["len"] == len(b) and j["sha"] == hashlib.sha256(b).hexdigest()
        assert j["pid"] == second, j
    # ... and they were handed back (Apache logs each resend at debug).
    assert a.log.find(r"\bPYW0140\b.*GOODBYE.*\(group=bodies pid=%d "
                      r"uri=/bodies\b" % first), a.log.tail()


def test_an_overloaded_group_queues_requests_and_fails_none(fresh_apache):
    """Five clients per worker: handing requests back to the group's
    shared backlog must never turn into an error."""
    a = fresh_apache("""
PyWorkerDaemonProcess busy processes=2 threads=2 display-name=pywd-busy
PyWorkerScriptAlias /busy {apps}/slow.wsgi process-group=busy
""", ready=["/busy?0"])
    pids = set(a.daemon_pids("busy"))
    res = Load(a.port, "/busy?0.01", total=400, concurrency=20, timeout=60,
               keep_body=True).start().join()
    assert res.counts == {200: 400}, res.failures()[:5]
    served = _served_by(res)
    assert set(served) == pids and min(served.values()) >= 100, served
    assert not a.log.find(r"\[pyworker:(error|crit|warn)\]"), a.log.tail()


def test_group_in_a_longer_display_name_reaches_the_process_name(
        fresh_apache):
    """`top` and `pkill` read comm (15 bytes): %{GROUP} inside a longer
    display-name stayed unexpanded there."""
    a = fresh_apache("""
PyWorkerDaemonProcess c4 threads=1 display-name="w %{GROUP} s"
PyWorkerScriptAlias /c4 {apps}/hello.wsgi process-group=c4
""", ready=["/c4"], wait_daemons=False)
    pid = int(a.log.wait_for(r"PYW0021.*group=c4 pid=(\d+)")[0]
              .split("pid=")[-1].rstrip(")"))
    with open("/proc/%d/comm" % pid) as f:
        assert f.read().strip() == "w (pyworker:c4)"

"""A group defined in a <VirtualHost> logs to that host's ErrorLog, at
that host's LogLevel, as mod_wsgi's daemons do: each tenant reads its own
tracebacks, print() output and logging records, and the main log and the
other tenants' logs get none of them.  A piped ErrorLog works the same
way.  A group defined at server level keeps the main server's log, from
whichever host its requests come."""
import os
import re
import time
import uuid

import pytest

from pyworker_t.errorlog import ErrorLog

CONF = """
PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess shared threads=1 display-name=pyw-vl-shared
<VirtualHost 127.0.0.1:{port}>
    ServerName main.test
    PyWorkerScriptAlias /s {apps}/pylogging.wsgi process-group=shared
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName alpha.test
    ErrorLog "{logs}/alpha.log"
    LogLevel warn pyworker:info
    PyWorkerDaemonProcess alpha threads=1 display-name=pyw-vl-alpha
    PyWorkerImportScript {apps}/pylogging.wsgi process-group=alpha
    PyWorkerScriptAlias /a {apps}/pylogging.wsgi process-group=alpha
    PyWorkerScriptAlias /s {apps}/pylogging.wsgi process-group=shared
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName beta.test
    ErrorLog "|$/bin/cat >> {logs}/beta.log"
    LogLevel warn pyworker:error
    PyWorkerDaemonProcess beta threads=1 display-name=pyw-vl-beta
    PyWorkerScriptAlias /b {apps}/pylogging.wsgi process-group=beta
</VirtualHost>
"""

LEVEL_NAMES = ("debug", "info", "warning", "error", "critical")


@pytest.fixture(scope="module")
def httpd(apache):
    h = apache(CONF)
    for host, path in (("main.test", "/s"), ("alpha.test", "/a"),
                       ("beta.test", "/b")):
        assert h.get(path + "?case=none", headers={"Host": host}
                     ).status_code == 200
    h.alpha = ErrorLog(h.path("logs", "alpha.log"))
    h.beta = ErrorLog(h.path("logs", "beta.log"))
    return h


def marker():
    return "m" + uuid.uuid4().hex[:10]


def log_levels(httpd, host, path, log, count):
    """Logs one record per level under a new marker; the marker and the
    lines of `log` naming it, once `count` have come."""
    m = marker()
    r = httpd.get("%s?case=levels&m=%s" % (path, m), headers={"Host": host})
    assert r.status_code == 200, r.text
    found = log.wait_for(re.escape(m), count=count)
    time.sleep(0.2)                 # anything more would have come by now
    return m, log.find(re.escape(m))


def levels_of(lines, m):
    return sorted(name for name in LEVEL_NAMES
                  if any("%s-%s" % (m, name) in l for l in lines))


def nowhere_else(httpd, m, *logs):
    for log in logs:
        assert log.find(re.escape(m)) == [], log.path


def test_a_vhost_group_logs_to_its_hosts_error_log_at_its_level(httpd):
    m, lines = log_levels(httpd, "alpha.test", "/a", httpd.alpha, 4)
    # LogLevel pyworker:info of that host, not the main server's debug.
    assert levels_of(lines, m) == ["critical", "error", "info", "warning"]
    assert all("group=alpha" in l and "uri=/a" in l for l in lines)
    nowhere_else(httpd, m, httpd.log, httpd.beta)


def test_a_piped_error_log_gets_its_groups_lines(httpd):
    m, lines = log_levels(httpd, "beta.test", "/b", httpd.beta, 2)
    assert levels_of(lines, m) == ["critical", "error"]
    assert all("group=beta" in l for l in lines)
    nowhere_else(httpd, m, httpd.log, httpd.alpha)


def test_a_server_level_group_keeps_the_main_log(httpd):
    # Its requests come from alpha.test here; its daemon is nobody's.
    m, lines = log_levels(httpd, "alpha.test", "/s", httpd.log, 5)
    httpd.log.expect(re.escape(m))
    assert levels_of(lines, m) == list(sorted(LEVEL_NAMES))
    assert all("group=shared" in l for l in lines)
    nowhere_else(httpd, m, httpd.alpha, httpd.beta)


def test_print_and_tracebacks_reach_the_tenants_log_only(httpd):
    m = marker()
    r = httpd.get("/a?case=exception&m=" + m, headers={"Host": "alpha.test"})
    assert r.status_code == 200
    lines = httpd.alpha.wait_for(re.escape(m) + "-boom")
    assert lines and any("Traceback" in l for l in httpd.alpha.lines())
    m2 = marker()
    httpd.get("/a?case=plain&m=" + m2, headers={"Host": "alpha.test"})
    assert httpd.alpha.wait_for(re.escape(m2), count=2)
    time.sleep(0.2)
    nowhere_else(httpd, m, httpd.log, httpd.beta)
    nowhere_else(httpd, m2, httpd.log, httpd.beta)


def test_the_daemons_own_lines_go_to_the_tenants_log(httpd):
    """What a daemon logs outside any request (its import script, its
    start) is in its host's log; the main log has no line from it."""
    assert httpd.alpha.find(r"pywlog-import-marker.*group=alpha")
    pids = set(httpd.daemon_pids("alpha")) | set(httpd.daemon_pids("beta"))
    assert pids
    assert [l for l in httpd.log.lines() if l.pid in pids] == []
    assert {l.pid for l in httpd.alpha.lines() if "group=alpha" in l} \
        & set(httpd.daemon_pids("alpha"))


def test_a_tenants_daemon_holds_no_descriptor_of_the_main_log(httpd):
    main = os.path.realpath(httpd.log.path)
    alpha = os.path.realpath(httpd.alpha.path)
    for pid in httpd.daemon_pids("alpha"):
        fd_dir = "/proc/%d/fd" % pid
        targets = set()
        for fd in os.listdir(fd_dir):
            try:
                targets.add(os.readlink(os.path.join(fd_dir, fd)))
            except FileNotFoundError:
                pass
        assert alpha in targets
        assert main not in targets

"""Daemons write their lines in the ErrorLogFormat of the server their
group belongs to, as Apache writes its own: a log shipper or fail2ban
reading a vhost's log sees one format.  A vhost without one inherits the
main server's.  Items a daemon has nothing for (the client, the source
file, an APR status) drop their field, as Apache drops [client %a] on a
line about no connection.

(The rules of the format, item by item: t/unit/test_logformat.c.)"""
import os
import re
import signal
import time
import uuid

import pytest

from pyworker_t.errorlog import ErrorLog

# OpenStack's services ship "%{cu}t %M"; the second is the example in
# Apache's manual.
CONF = r"""
PyWorkerSocketPrefix {run}/pyws
<VirtualHost 127.0.0.1:{port}>
    ServerName gamma.test
    ErrorLog "{logs}/gamma.log"
    ErrorLogFormat "%{cu}t %M"
    PyWorkerDaemonProcess gamma threads=1 display-name=pyw-lf-gamma
    PyWorkerScriptAlias /g {apps}/pylogging.wsgi process-group=gamma
    PyWorkerScriptAlias /missing {apps}/no-such-script.wsgi \
        process-group=gamma
    PyWorkerScriptAlias /genv {apps}/environ.wsgi process-group=gamma
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName delta.test
    ErrorLog "{logs}/delta.log"
    ErrorLogFormat "[%{u}t] [%-m:%l] [pid %P:tid %T] %7F: %E: [client\ %a] %M% ,\ referer\ %{Referer}i"
    PyWorkerDaemonProcess delta threads=1 display-name=pyw-lf-delta
    PyWorkerScriptAlias /d {apps}/pylogging.wsgi process-group=delta
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName eps.test
    ErrorLog "{logs}/eps.log"
    ErrorLogFormat "%v|%{g}T|%-{X-Missing}i|%l|%M"
    PyWorkerDaemonProcess eps threads=1 display-name=pyw-lf-eps
    PyWorkerScriptAlias /e {apps}/pylogging.wsgi process-group=eps
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName eta.test
    ErrorLog "{logs}/eta.log"
    ErrorLogFormat "[%L] [client\ %a] %M"
    CustomLog "{logs}/eta_access.log" "%L %U"
    PyWorkerDaemonProcess eta threads=1 display-name=pyw-lf-eta
    PyWorkerScriptAlias /h {apps}/pylogging.wsgi process-group=eta
    PyWorkerScriptAlias /env {apps}/environ.wsgi process-group=eta
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName theta.test
    ErrorLog "{logs}/theta.log"
    ErrorLogFormat "[%{REQ_TAG}e] [%{X-Request-Id}i] [%V] %M"
    SetEnv REQ_TAG tag-7
    PyWorkerDaemonProcess theta threads=1 display-name=pyw-lf-theta
    PyWorkerScriptAlias /t {apps}/pylogging.wsgi process-group=theta
</VirtualHost>
"""

COMPACT_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}"
CTIME = r"\w{3} \w{3} \d\d \d\d:\d\d:\d\d\.\d{6} \d{4}"


@pytest.fixture(scope="module")
def httpd(apache):
    h = apache(CONF)
    h.logs = {name: ErrorLog(h.path("logs", name + ".log"))
              for name in ("gamma", "delta", "eps", "eta", "theta")}
    return h


def record(httpd, host, path, log, level="warning", headers=None):
    """Logs one record per level; the line of `level` (one)."""
    m = "m" + uuid.uuid4().hex[:10]
    r = httpd.get("%s?case=levels&m=%s" % (path, m),
                  headers=dict(headers or {}, Host=host))
    assert r.status_code == 200, r.text
    lines = log.wait_for(re.escape("%s-%s" % (m, level)))
    assert len(lines) == 1, log.tail()
    return m, lines[0]


def test_openstacks_compact_format(httpd):
    log = httpd.logs["gamma"]
    m, line = record(httpd, "gamma.test", "/g", log)
    assert re.match(r"^%s PYW0363: WARNING:pywlog:%s-warning "
                    r"\(group=gamma pid=\d+ uri=/g(\?\S*)?\)$"
                    % (COMPACT_TIME, m), line), line
    # Apache's own line about a request of that host, in the same log,
    # has the same shape.
    mark = log.mark()
    httpd.log.expect(r"no-such-script")
    r = httpd.get("/missing", headers={"Host": "gamma.test"})
    assert r.status_code == 404
    apache_line = log.wait_for(r"no-such-script", since=mark)
    assert apache_line and re.match(r"^%s \S" % COMPACT_TIME,
                                    apache_line[0]), apache_line


def test_the_manuals_example_drops_what_a_daemon_lacks(httpd):
    """%7F (debug only), %E and the referer have nothing in a daemon:
    their fields go, spaces and all; the request's client is there."""
    m, line = record(httpd, "delta.test", "/d", httpd.logs["delta"])
    assert re.match(r"^\[%s\] \[pyworker:warn\] \[pid (\d+):tid \d+\] "
                    r"\[client 127\.0\.0\.1:\d+\] PYW0363: WARNING:pywlog:%s-warning \(group=delta "
                    r"pid=\1 uri=/d(\?\S*)?\)$" % (CTIME, m), line), line


def test_server_name_system_thread_and_hyphen(httpd):
    m, line = record(httpd, "eps.test", "/e", httpd.logs["eps"], "error")
    fields = line.split("|", 4)
    assert fields[0] == "eps.test" and fields[2] == "-" \
        and fields[3] == "error", line
    pid = httpd.daemon_pids("eps")[0]
    assert os.path.isdir("/proc/%d/task/%s" % (pid, fields[1])), line
    assert fields[4].startswith("PYW0363: ERROR:pywlog:%s-error" % m)


def test_lines_outside_requests_use_the_format_too(httpd):
    """The import-time record and the daemon's start-up line."""
    log = httpd.logs["gamma"]
    started = log.wait_for(r"\bPYW0200\b.*group=gamma")
    assert started and all(re.match(r"^%s PYW0200: " % COMPACT_TIME, l)
                           for l in started), started


def test_a_stack_dump_is_in_the_format_line_by_line(httpd):
    """Python writes the dump (faulthandler); the daemon reads it back and
    logs each line as its own, so the dump is in the host's format too."""
    log = httpd.logs["gamma"]
    (pid,) = httpd.daemon_pids("gamma")
    mark = log.mark()
    os.kill(pid, signal.SIGRTMIN + 6)
    assert log.wait_for(r"PYW0248: end of Python stacks", since=mark)
    lines = log.text(mark).splitlines()
    assert len(lines) > 3 and any("most recent call first" in l
                                  for l in lines), lines
    for line in lines:
        assert re.match(r"^%s PYW0248: .*\S \(group=gamma pid=%d\)$"
                        % (COMPACT_TIME, pid), line), line
    assert httpd.log.find(r"most recent call first") == []


def test_a_request_s_lines_carry_its_client_and_log_id(httpd):
    """%a is the request's client; %L Apache's log id for it, the one
    the access log's %L shows, so a traceback finds its request."""
    m, line = record(httpd, "eta.test", "/h", httpd.logs["eta"])
    got = re.match(r"^\[([A-Za-z0-9+/@_-]+)\] \[client 127\.0\.0\.1:\d+\] "
                   r"PYW0363: WARNING:pywlog:%s-warning " % m, line)
    assert got, line
    access = httpd.path("logs", "eta_access.log")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with open(access) as f:
            ids = [l.split()[0] for l in f if l.split()[1:] == ["/h"]]
        if ids:
            break
        time.sleep(0.05)
    assert got.group(1) in ids, (line, ids)
    # Outside a request both fields go.
    started = httpd.logs["eta"].find(r"PYW0200\b.*group=eta")
    assert started and all(re.match(r"^ ?PYW0200: ", l) for l in started)


def test_a_request_s_lines_carry_its_environ_and_header_values(httpd):
    """%{NAME}e, %{Name}i and %V show the request's environ (SetEnv, or
    mod_unique_id's UNIQUE_ID), a header (X-Request-Id from a front
    proxy) and its host; they had no output on a daemon's lines."""
    log = httpd.logs["theta"]
    m, line = record(httpd, "theta.test", "/t", log,
                     headers={"X-Request-Id": "req-42"})
    assert re.match(r"^\[tag-7\] \[req-42\] \[theta\.test\] PYW0363: "
                    r"WARNING:pywlog:%s-warning " % m, line), line
    # Without the header its field goes; the next request's lines do
    # not keep the last one's value.
    m, line = record(httpd, "theta.test", "/t", log)
    assert re.match(r"^\[tag-7\] \[theta\.test\] PYW0363: "
                    r"WARNING:pywlog:%s-warning " % m, line), line
    # Outside a request they all go.
    started = log.find(r"PYW0200\b.*group=theta")
    assert started and all(re.match(r"^ ?PYW0200: ", l) for l in started)


def test_the_log_id_is_sent_only_where_a_format_asks(httpd):
    def env(host, path):
        r = httpd.get(path, headers={"Host": host})
        assert r.status_code == 200
        return r.json()["environ"]
    assert re.match(r"^[A-Za-z0-9+/@_-]+$",
                    env("eta.test", "/env")["mod_pyworker.log_id"])
    assert "mod_pyworker.log_id" not in env("gamma.test", "/genv")


INHERIT = r"""
PyWorkerSocketPrefix {run}/pyws
ErrorLogFormat "%{cu}t [%m:%l] %M"
PyWorkerDaemonProcess mainlevel threads=1 display-name=pyw-lf-main
PyWorkerScriptAlias /m {apps}/pylogging.wsgi process-group=mainlevel
<VirtualHost 127.0.0.1:{port}>
    ServerName zeta.test
    ErrorLog "{logs}/zeta.log"
    PyWorkerDaemonProcess zeta threads=1 display-name=pyw-lf-zeta
    PyWorkerScriptAlias /z {apps}/pylogging.wsgi process-group=zeta
</VirtualHost>
"""


def test_a_vhost_without_a_format_inherits_the_main_servers(fresh_apache):
    httpd = fresh_apache(INHERIT)
    zeta = ErrorLog(httpd.path("logs", "zeta.log"))
    for host, path, log, group in (("zeta.test", "/z", zeta, "zeta"),
                                   ("zeta.test", "/m", httpd.log,
                                    "mainlevel")):
        m, line = record(httpd, host, path, log)
        assert re.match(r"^%s \[pyworker:warn\] PYW0363: WARNING:pywlog:"
                        r"%s-warning \(group=%s " % (COMPACT_TIME, m, group),
                        line), line

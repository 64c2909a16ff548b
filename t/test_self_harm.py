"""An application that damages its own daemon's descriptors or signal
mask, as buggy libraries do, harms only its own daemon, which stops or
copes, and is replaced; nothing reaches another request.  (From a bug
hunt: a closed listening socket made the daemon spin and log 250,000
lines a second; a closed signal pipe spun silently; fds 1 and 2 closed
let log lines go into a connection to Apache, 502 for other requests;
signals blocked by an import script reached no thread, so stop and
restart waited for SIGKILL.)"""
import os
import signal
import time

import pytest

from pyworker_t import codes, procs, rawhttp
from pyworker_t.load import parallel

CONF = """
PyWorkerDaemonProcess harm threads=2 display-name=pyw-harm
PyWorkerScriptAlias /harm {apps}/selfharm.wsgi process-group=harm
PyWorkerScriptAlias /harm-slow {apps}/slow.wsgi process-group=harm
PyWorkerDaemonProcess masked threads=2 display-name=pyw-masked \\
    shutdown-timeout=2
PyWorkerImportScript {apps}/sigmask_import.py process-group=masked \\
    application-group=%{GLOBAL}
PyWorkerScriptAlias /masked {apps}/selfharm.wsgi process-group=masked
"""


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/harm", "/masked"])


def get(httpd, path):
    return rawhttp.request(httpd.port, "GET", path, timeout=20)


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def test_a_closed_listening_socket_stops_the_daemon(httpd):
    httpd.log.expect(r"PYW0220", codes=[codes.DAEMON_DIED, (100, 199)])
    (pid,) = httpd.daemon_pids("harm")
    mark = httpd.log.mark()
    get(httpd, "/harm?do=close_listen")
    # New connections to the group: more requests at once than Apache
    # keeps connections to it (each waits in the daemon on its own).
    parallel([lambda: get(httpd, "/harm-slow?0.3") for _ in range(24)])
    assert httpd.log.wait_for(r"PYW0220.*did the application close it",
                              since=mark, timeout=20)
    assert httpd.wait_daemons("harm", exclude={pid})
    assert get(httpd, "/harm").status == 200
    time.sleep(1)
    assert len(httpd.log.find(r"PYW0220", since=mark)) < 5


def test_a_closed_signal_pipe_does_not_spin(httpd):
    httpd.log.expect(r"PYW0215")
    (pid,) = httpd.daemon_pids("harm")
    mark = httpd.log.mark()
    assert get(httpd, "/harm?do=close_sigpipe").status == 200
    assert httpd.log.wait_for(r"PYW0215", since=mark)
    before = cpu_ticks(pid)
    time.sleep(2)
    assert cpu_ticks(pid) - before < 50, "the daemon spins"
    # Signals still work: a rolling restart replaces it.
    os.kill(pid, signal.SIGUSR2)
    assert httpd.wait_daemons("harm", exclude={pid})
    assert get(httpd, "/harm").status == 200


def test_closing_fds_1_and_2_sends_nothing_into_connections(httpd):
    httpd.log.expect(codes=[codes.APP_EXCEPTION])
    mark = httpd.log.mark()
    assert get(httpd, "/harm?do=close_stdio").status == 200
    bad = []
    for i in range(30):
        r = get(httpd, "/harm?do=raise" if i % 2 else "/harm")
        if r.status not in (200, 500):
            bad.append(r.status)
    assert not bad, bad
    assert not httpd.log.find(r"PYW011[24]", since=mark)
    assert httpd.log.wait_for(r"pyw-selfharm-raise", since=mark)


def test_the_daemons_connections_cannot_be_closed_from_python(httpd):
    """A request's own connection closed by mistake (a double close) took
    the number of the next connection the daemon accepted, and the
    request's response went to another client.  os.close() of it is
    refused (EBADF, PYW0335).  (os.closerange() goes around the
    connections too, but takes the daemon's epoll set with it: the daemon
    then stops and is replaced.)"""
    do = "close_conn"
    httpd.log.expect(r"PYW0335")
    (pid,) = httpd.daemon_pids("harm")
    mark = httpd.log.mark()
    r = get(httpd, "/harm?do=" + do)
    assert r.status == 200 and r.body.startswith(b"refused "), r.body
    assert int(r.body.split()[1]) >= 1
    assert httpd.log.wait_for(r"PYW0335.*refused", since=mark)
    out = parallel([lambda: get(httpd, "/harm") for _ in range(8)])
    assert all(x.status == 200 and x.body == b"ok %d\n" % pid
               for x in out), out
    assert httpd.daemon_pids("harm") == [pid]


def test_signals_an_import_script_blocked_still_reach_the_daemon(httpd):
    (pid,) = httpd.daemon_pids("masked")
    with open("/proc/%d/status" % pid) as f:
        blocked = [l for l in f if l.startswith("SigBlk:")][0].split()[1]
    assert int(blocked, 16) & (1 << (signal.SIGTERM - 1)) == 0, blocked
    os.kill(pid, signal.SIGUSR2)
    assert httpd.wait_daemons("masked", exclude={pid}, timeout=10)
    assert not procs.alive(pid) or procs.wait_gone({pid: None}, 10) == {}

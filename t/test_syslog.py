"""ErrorLog syslog[:facility[:tag]]: a group's daemons log to syslog, as
Apache does, with the host's facility, tag and ErrorLogFormat (without
one, Apache's default less the time, which syslog adds).  Before, their
lines went to Apache's stderr, which a detached Apache points at
/dev/null: every traceback of such a site was lost."""
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
import uuid

import pytest

CONF = """
PyWorkerSocketPrefix {run}/pyws
<VirtualHost 127.0.0.1:{port}>
    ServerName sys.test
    ErrorLog syslog:local3:pywtest
    PyWorkerDaemonProcess sysg threads=1 display-name=pyw-sl-sys
    PyWorkerScriptAlias /s {apps}/pylogging.wsgi process-group=sysg
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName fmt.test
    ErrorLog syslog::pywfmt
    ErrorLogFormat "%l|%v|%M"
    PyWorkerDaemonProcess fmtg threads=1 display-name=pyw-sl-fmt
    PyWorkerScriptAlias /f {apps}/pylogging.wsgi process-group=fmtg
</VirtualHost>
"""

LOCAL3, LOCAL7 = 19, 23
WARNING, ERROR = 4, 3


class Sink:
    """Datagrams sent to /dev/log while the test runs, read as they come
    (as a syslog daemon reads them: a sender blocks once 10 wait)."""

    def __init__(self, sock):
        self.sock = sock
        self.seen = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            self.seen.append(data.decode("utf-8", "replace"))

    def wait_for(self, pattern, timeout=10.0):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in list(self.seen) if rx.search(m)]
            if found or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


@pytest.fixture(scope="module")
def syslog_sink():
    """A receiver at /dev/log for Apache and its daemons: on a machine
    without one, at /dev/log itself (removed after); where a syslog daemon
    owns it, bound over it in a mount namespace of Apache's own."""
    if os.geteuid() != 0:
        pytest.skip("binding /dev/log (or a mount namespace) needs root")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    tmp = tempfile.mkdtemp(prefix="pyw-syslog-", dir="/tmp")
    os.chmod(tmp, 0o755)
    if os.path.exists("/dev/log"):
        path = os.path.join(tmp, "log")
        prefix = ["unshare", "--mount", "--propagation", "private", "sh",
                  "-c", 'mount --bind "$0" /dev/log && exec "$@"', path]
    else:
        path, prefix = "/dev/log", []
    sock.bind(path)
    os.chmod(path, 0o666)
    sink = Sink(sock)
    sink.prefix = prefix
    yield sink
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    if path == "/dev/log":
        os.unlink(path)
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def httpd(apache, syslog_sink):
    return apache(CONF, prefix=syslog_sink.prefix)


def record(httpd, host, path):
    m = "m" + uuid.uuid4().hex[:10]
    r = httpd.get("%s?case=levels&m=%s" % (path, m), headers={"Host": host})
    assert r.status_code == 200, r.text
    return m


def test_a_groups_lines_go_to_its_hosts_syslog(httpd, syslog_sink):
    m = record(httpd, "sys.test", "/s")
    got = syslog_sink.wait_for(re.escape(m) + "-warning")
    assert len(got) == 1, syslog_sink.seen[-5:]
    pid = httpd.daemon_pids("sysg")[0]
    assert re.match(r"^<%d>\w{3} [ \d]\d \d\d:\d\d:\d\d pywtest\[%d\]: "
                    r"\[pyworker:warn\] \[pid %d:tid \d+\] PYW0363: "
                    r"WARNING:pywlog:%s-warning \(group=sysg pid=%d "
                    r"uri=/s(\?\S*)?\)$" % (LOCAL3 * 8 + WARNING, pid, pid, m, pid),
                    got[0]), got
    # Not in the main server's log.
    time.sleep(0.2)
    assert httpd.log.find(re.escape(m)) == []


def test_its_format_and_the_default_facility(httpd, syslog_sink):
    m = record(httpd, "fmt.test", "/f")
    got = syslog_sink.wait_for(re.escape(m) + "-error")
    assert got and re.match(r"^<%d>.* pywfmt\[\d+\]: error\|fmt\.test\|"
                            r"PYW0363: ERROR:pywlog:%s-error "
                            % (LOCAL7 * 8 + ERROR, m), got[0]), got


def test_lines_outside_requests_too(httpd, syslog_sink):
    assert syslog_sink.wait_for(r"pywtest\[\d+\]: .*PYW0200\b.*group=sysg")
    assert syslog_sink.wait_for(r"pywlog-import-marker|PYW0200\b.*"
                                r"group=fmtg")


def test_a_stack_dump_goes_there_line_by_line(httpd, syslog_sink):
    """Before, Python wrote it to the daemon's stderr: lost, or in the
    main log."""
    (pid,) = httpd.daemon_pids("sysg")
    mark = httpd.log.mark()
    os.kill(pid, signal.SIGRTMIN + 6)
    tag = r"^<%d>.* pywtest\[%d\]: " % (LOCAL3 * 8 + WARNING, pid)
    assert syslog_sink.wait_for(tag + r".*PYW0248: end of Python stacks")
    dump = [m for m in list(syslog_sink.seen)
            if re.match(tag + r".*PYW0248: ", m)]
    assert any("follow (SIGRTMIN+6)" in m for m in dump), dump
    assert any(re.search(r"PYW0248: Thread 0x[0-9a-f]+ \(most recent call "
                         r"first\):", m) for m in dump), dump
    assert any(re.search(r'PYW0248:   File ".*", line \d+ in ', m)
               for m in dump), dump
    assert "most recent call first" not in httpd.log.text(mark)

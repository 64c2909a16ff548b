"""A tenant's daemon is the tenant's own process: its code can skip
start_response and write wire frames of its own on its connection to
Apache (t/apps/rawframe.wsgi does), and hand Apache a descriptor of a
file it then truncates (t/apps/truncate.wsgi).  Apache checks what it
reads from a daemon as mod_proxy checks a backend: the response the
client gets is framed by Apache, never a second response smuggled onto
its keep-alive connection, and no file of the tenant's can kill an Apache
child serving other sites.  (Found by a hunt for bugs: the smuggling and
the SIGBUS both worked before.)"""
import socket
import threading
import time

import pytest

from pyworker_t.httpd import ONE_CHILD
from pyworker_t import rawhttp

CONF = ONE_CHILD + """
AddOutputFilterByType DEFLATE text/html
PyWorkerDaemonProcess tenant threads=1 display-name=%{GROUP}
PyWorkerDaemonProcess files threads=2 display-name=%{GROUP}
PyWorkerDaemonProcess other threads=2 display-name=%{GROUP}
PyWorkerScriptAlias /raw {apps}/rawframe.wsgi process-group=tenant
PyWorkerScriptAlias /hello {apps}/hello.wsgi process-group=tenant
PyWorkerScriptAlias /statuspipe {apps}/statuspipe.wsgi process-group=tenant
PyWorkerScriptAlias /trunc {apps}/truncate.wsgi process-group=files
PyWorkerScriptAlias /other/slow {apps}/slow.wsgi process-group=other
"""

FRAMING = ("PYW0112", "PYW0123", "PYW0114", "AH02429", "AH02430")


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/hello"])


def raw_get(httpd, path):
    """The raw bytes of one response on a fresh connection (read to EOF
    or 3 s)."""
    s = socket.create_connection(("127.0.0.1", httpd.port), timeout=3)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close"
              b"\r\n\r\n" % path.encode())
    out = b""
    deadline = time.monotonic() + 5
    try:
        while time.monotonic() < deadline:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except socket.timeout:
        pass
    s.close()
    return out


def settle(httpd):
    # the daemon whose connection was taken: let Apache see it is gone
    for _ in range(3):
        httpd.get("/hello")


def test_status_reason_with_crlf_is_not_sent_to_the_client(httpd):
    """A reason with CR LF in a HEADERS frame must not reach the client's
    status line: it would add headers (Set-Cookie) and smuggle a second
    response on the client's connection (response splitting)."""
    httpd.log.expect(*FRAMING)
    out = raw_get(httpd, "/raw?mode=reason")
    settle(httpd)
    head = out.split(b"\r\n\r\n", 1)[0]
    assert b"X-Injected" not in head and b"injected=1" not in head, out
    assert b"X-Smuggled" not in out, out


@pytest.mark.parametrize("mode", ["ctype", "hname", "hvalue"])
def test_header_with_crlf_is_not_sent(httpd, mode):
    httpd.log.expect(*FRAMING)
    out = raw_get(httpd, "/raw?mode=" + mode)
    settle(httpd)
    head = out.split(b"\r\n\r\n", 1)[0]
    assert b"\r\nX-Injected" not in head, out


def test_nul_in_reason(httpd):
    httpd.log.expect(*FRAMING)
    out = raw_get(httpd, "/raw?mode=nul")
    settle(httpd)
    assert b"\x00" not in out.split(b"\r\n\r\n", 1)[0]


@pytest.mark.parametrize("mode", ["cl", "cl2"])
def test_framing_headers_consistent(httpd, mode):
    """Whatever the daemon says, the response the client gets is framed
    as its headers say."""
    httpd.log.expect(*FRAMING)
    with rawhttp.Conn(httpd.port, timeout=5) as c:
        r = c.request("GET", "/raw?mode=" + mode)
    settle(httpd)
    assert r.complete or r.ended in ("eof", "reset"), r


@pytest.mark.parametrize("mode", ["te2", "clstream"])
def test_daemon_cannot_smuggle_a_second_response(httpd, mode):
    """A daemon's Transfer-Encoding or a Content-Length its streamed body
    does not keep must not let the bytes it sends be read as a second
    response on the client's keep-alive connection (response splitting:
    behind a proxy that pools connections, the next request, for any
    site, gets the tenant's response)."""
    httpd.log.expect(*FRAMING)
    with rawhttp.Conn(httpd.port, timeout=5) as c:
        r1 = c.request("GET", "/raw?mode=" + mode)
        try:
            r2 = c.request("GET", "/hello", headers={"Host": "other.test"})
        except OSError as e:
            r2 = None
            print("second request:", e)
    settle(httpd)
    if r2 is not None:
        assert r2.header("X-Smuggled") is None, (r2.headers, r2.body)


def test_junk_on_the_status_pipe_is_one_line(httpd):
    """The daemon's status pipe to Apache's parent is open in the
    tenant's process.  Junk written on it was one warning per byte in the
    main log (a disk filler); now one line, and the pipe is closed."""
    httpd.log.expect("PYW0043")
    mark = httpd.log.mark()
    out = httpd.get("/statuspipe?n=20000").json()
    assert len(out["pipes"]) == 1 and out["written"] > 1000, out
    assert httpd.log.wait_for(r"PYW0043.*closing the pipe", since=mark)
    time.sleep(1)
    assert len(httpd.log.find(r"PYW0043", since=mark)) == 1
    assert httpd.get("/hello").status_code == 200


def peak_rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def test_a_flood_of_headers_costs_the_apache_child_nothing(httpd):
    """Each response header costs Apache's header filter about 2 KB: a
    tenant's 1 MiB HEADERS frame of 140,000 empty ones held 270 MB of the
    shared child while its client read slowly.  More than 1000 fields is
    the daemon breaking the protocol: 502."""
    httpd.log.expect(*FRAMING)
    child, = httpd.mpm_children()
    before = peak_rss_kb(child)
    mark = httpd.log.mark()
    out = raw_get(httpd, "/raw?mode=many")
    settle(httpd)
    assert out.startswith(b"HTTP/1.1 502 "), out[:200]
    assert httpd.log.wait_for(r"PYW0112.*more than 1000 fields", since=mark)
    grown = peak_rss_kb(child) - before
    assert grown < 30000, "the child's peak RSS grew by %d kB" % grown


def slow_reader(httpd, path, headers=b"", pause=2.0):
    """Read the response head and a little, stop reading for `pause`
    seconds, then read the rest: (bytes, how it ended)."""
    s = socket.create_connection(("127.0.0.1", httpd.port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
    s.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
              % path.encode() + headers + b"\r\n")
    out = s.recv(2048)
    time.sleep(pause)
    how = "eof"
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except ConnectionResetError:
        how = "reset"
    except socket.timeout:
        how = "timeout"
    s.close()
    return out, how


def test_a_file_truncated_while_deflated_kills_no_apache_child(httpd):
    """mod_deflate read the mapped file past its new end: SIGBUS, and
    the child died with the other site's request in it."""
    httpd.log.expect("PYW0114", "PYW0116", "AH10298", "AH01384")
    children = set(httpd.mpm_children())
    mark = httpd.log.mark()
    # Another site's request, in flight in the same (only) Apache child.
    other = {}

    def other_site():
        try:
            other["r"] = httpd.get("/other/slow?2", timeout=10).status_code
        except Exception as e:
            other["r"] = repr(e)

    t = threading.Thread(target=other_site)
    t.start()
    time.sleep(0.3)
    out, how = slow_reader(httpd, "/trunc?after=0.05&size=3900000",
                           b"Accept-Encoding: gzip\r\n")
    t.join(15)
    time.sleep(1)
    crashed = httpd.log.find(r"AH00052|exit signal", since=mark)
    assert not crashed, (crashed, other)
    assert other["r"] == 200, other
    assert set(httpd.mpm_children()) == children

"""A tenant's daemon holds only what its own group needs, and Apache holds
no Python.

Two tenants share one Apache: tenant-a.test runs memdump.wsgi in group
tenanta; tenant-b.test has `SetEnv DB_PASSWORD <secret>` and an SSL vhost
with a private key made for this run (file mode 0600, read by the root
parent).  A comment line of httpd.conf carries a marker.  Then:

  - tenant A's code reads its own writable memory (memdump.wsgi streams
    it; the test searches the dump): it must find neither B's secret,
    nor the marker (the raw config text), nor the key's private exponent
    or primes (either byte order) or a line of its PEM text.  Controls:
    A's own SetEnv value and a request header value, which reach A's
    daemon in the request, must be found.
  - mod_pyworker.so does not link libpython, and no process running
    Apache's program (the parent, the MPM children, the module's own
    helpers) maps it.  The children's RSS is printed.
  - a daemon's descriptors are its own: no regular file but the error
    log, no TCP/UDP socket (Apache's listeners), no Unix socket of
    another group, nothing shared with an MPM child.

On a daemon that is a fork() of the Apache parent the first two fail:
the fork inherits the parent's memory (its parsed config, mod_ssl's
keys) and the libpython the module links.
"""
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import time

import pytest

from pyworker_t import procs
from pyworker_t.httpd import IS_ROOT, MODDIR, free_port, module_path
from pyworker_t.tls import RsaKey

NEEDED = [os.path.join(MODDIR, m) for m in ("mod_ssl.so",
                                            "mod_socache_shmcb.so")]
GROUPS = ("tenanta", "tenantb")
HOSTS = {"tenanta": "tenant-a.test", "tenantb": "tenant-b.test"}
USERS = {"tenanta": "user=pywtest1" if IS_ROOT else "",
         "tenantb": "user=pywtest2" if IS_ROOT else ""}
MAX_DAEMON_FDS = 16         # at idle: 0-2, listener, status pipe, a few
                            # of the daemon's own (self-pipe, epoll...)

CONF = """
# Isolation test: %(marker)s (only here, in a comment line)
<IfModule !ssl_module>
    LoadModule ssl_module %(moddir)s/mod_ssl.so
</IfModule>
<IfModule !socache_shmcb_module>
    LoadModule socache_shmcb_module %(moddir)s/mod_socache_shmcb.so
</IfModule>
SSLSessionCache shmcb:{run}/ssl_scache(512000)
Listen 127.0.0.1:%(ssl_port)d

PyWorkerDaemonProcess tenanta threads=2 %(user_a)s display-name=pyw-tenanta
PyWorkerDaemonProcess tenantb threads=2 %(user_b)s display-name=pyw-tenantb

<VirtualHost 127.0.0.1:{port}>
    ServerName tenant-a.test
    SetEnv TENANT_A_CONTROL %(control)s
    PyWorkerScriptAlias /memdump {apps}/memdump.wsgi process-group=tenanta
    PyWorkerScriptAlias /hello {apps}/hello.wsgi process-group=tenanta
</VirtualHost>

<VirtualHost 127.0.0.1:{port}>
    ServerName tenant-b.test
    SetEnv DB_PASSWORD %(db_password)s
    PyWorkerScriptAlias /hello {apps}/hello.wsgi process-group=tenantb
</VirtualHost>

<VirtualHost 127.0.0.1:%(ssl_port)d>
    ServerName tenant-b.test
    SSLEngine on
    SSLCertificateFile %(cert)s
    SSLCertificateKeyFile %(key)s
    SetEnv DB_PASSWORD %(db_password)s
    PyWorkerScriptAlias /hello {apps}/hello.wsgi process-group=tenantb
</VirtualHost>
"""


class World:
    """The running Apache and what this run made secret."""

    def __init__(self, httpd, key, ssl_port, values):
        self.httpd, self.key, self.ssl_port = httpd, key, ssl_port
        self.values = values


@pytest.fixture(scope="module")
def world(apache, request):
    missing = [m for m in NEEDED if not os.path.isfile(m)]
    if missing:
        pytest.skip("not on this machine: %s" % " ".join(missing))
    if IS_ROOT:
        request.getfixturevalue("test_users")
    keydir = tempfile.mkdtemp(prefix="pyw-isolation-key-", dir="/tmp")
    try:
        key = RsaKey(keydir, "tenant-b.test")
        ssl_port = free_port()
        values = {"marker": "pyw-conf-marker-" + secrets.token_hex(16),
                  "control": "pyw-a-control-" + secrets.token_hex(16),
                  "db_password": "pyw-b-dbpw-" + secrets.token_hex(16),
                  "ssl_port": ssl_port, "moddir": MODDIR,
                  "cert": key.cert_path, "key": key.key_path,
                  "user_a": USERS["tenanta"], "user_b": USERS["tenantb"]}
        httpd = apache(CONF % values, ready=["/hello"])
        yield World(httpd, key, ssl_port, values)
    finally:
        shutil.rmtree(keydir, ignore_errors=True)


def served_cert(port):
    """The DER certificate the SSL vhost presents (the handshake needs
    the private key: this proves mod_ssl loaded it)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="tenant-b.test") as t:
            return t.getpeercert(binary_form=True)


def memory_dump(httpd, probe):
    """(daemon pid, planned bytes, dump) from tenant A's memdump.wsgi."""
    r = httpd.get("/memdump", stream=True, timeout=60,
                  headers={"Host": "tenant-a.test", "X-Probe": probe})
    assert r.status_code == 200, r.text[:500]
    dump = b"".join(r.iter_content(1 << 20))
    return int(r.headers["X-Dump-Pid"]), int(r.headers["X-Dump-Planned"]), \
        dump


def test_tenant_daemon_memory_holds_no_secret_of_apache_or_other_vhost(
        world):
    httpd, v = world.httpd, world.values
    assert served_cert(world.ssl_port) == world.key.cert_der()
    probe = "pyw-probe-" + secrets.token_hex(16)
    t0 = time.monotonic()
    pid, planned, dump = memory_dump(httpd, probe)
    took = time.monotonic() - t0
    assert pid in httpd.daemon_pids("tenanta"), (pid, httpd.children())
    # Whole: each region is followed by 16 zero bytes, and only pages
    # that went away meanwhile are skipped.
    assert (1 << 20) < planned * 0.9 <= len(dump), \
        "dump of %d bytes of %d planned" % (len(dump), planned)

    controls = {"A's own SetEnv": v["control"].encode(),
                "request header": probe.encode()}
    forbidden = {"B's SetEnv DB_PASSWORD": v["db_password"].encode(),
                 "httpd.conf comment marker": v["marker"].encode()}
    for name, needle in world.key.secret_forms().items():
        forbidden["ssl key " + name] = needle
    found = {n: dump.count(b) for n, b in controls.items()}
    leaked = {n: dump.count(b) for n, b in forbidden.items()}
    print("daemon %d: dumped %d of %d planned bytes in %.1f s; controls %s; "
          "forbidden %s" % (pid, len(dump), planned, took, found, leaked))
    del dump
    assert all(found.values()), "the scan missed its controls: %s" % found
    leaked = {n: c for n, c in leaked.items() if c}
    assert leaked == {}, ("tenant A's daemon holds, in memory it can read "
                          "(name: occurrences): %s" % leaked)


def _apache_side_pids(httpd):
    """The parent and every child of it running Apache's program that is
    not a daemon of a group (MPM children, the module's helpers, the
    daemons' keepers)."""
    daemons = set(httpd.all_daemon_pids())
    image = procs.exe(httpd.pid)
    return [httpd.pid] + [p for p in httpd.children() + httpd.keepers()
                          if p not in daemons and procs.exe(p) == image]


def _rss_report(httpd):
    rows = []
    for pid in _apache_side_pids(httpd):
        rows.append("%d %-22s VmRSS %6s kB RssAnon %6s kB RssFile %6s kB"
                    % (pid, (procs.cmdline(pid) or "?")[:22],
                       procs.status_field(pid, "VmRSS"),
                       procs.status_field(pid, "RssAnon"),
                       procs.status_field(pid, "RssFile")))
    kids = [procs.status_field(p, "VmRSS") or 0
            for p in httpd.mpm_children()]
    rows.append("MPM children: %d, VmRSS total %d kB, mean %d kB"
                % (len(kids), sum(kids), sum(kids) // max(len(kids), 1)))
    for pid in httpd.all_daemon_pids():
        rows.append("daemon %d %s VmRSS %s kB"
                    % (pid, procs.cmdline(pid),
                       procs.status_field(pid, "VmRSS")))
    return "\n".join(rows)


def test_apache_processes_neither_link_nor_map_libpython(world):
    httpd = world.httpd
    for group in GROUPS:
        r = httpd.get("/hello", headers={"Host": HOSTS[group]})
        assert r.status_code == 200, r.text[:300]
    assert len(httpd.mpm_children()) >= 1
    assert any(path == module_path() for _, _, _, path
               in procs.maps(httpd.pid)), "the scan of maps does not work"

    ldd = subprocess.run(["ldd", module_path()], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=30).stdout
    linked = [l.strip() for l in ldd.decode().splitlines()
              if "libpython" in l]
    mapped = {}
    for pid in _apache_side_pids(httpd):
        libs = sorted({path for _, _, _, path in procs.maps(pid)
                       if "libpython" in os.path.basename(path)})
        if libs:
            mapped["%d (%s)" % (pid, procs.cmdline(pid))] = libs
    print("Apache processes, RSS:\n" + _rss_report(httpd))
    assert (linked, mapped) == ([], {}), (
        "%s links %s; Apache processes mapping libpython: %s"
        % (module_path(), linked, mapped))


def _own_socket(path, group, httpd):
    return path is not None and path.startswith(httpd.root) and \
        group in os.path.basename(path).split(".")


def _foreign_fds(httpd, pid, group):
    """{fd: why} for each descriptor of daemon pid that is not its own."""
    errlog = httpd.path("logs", "error.log")
    inet = procs.inet_socket_inodes()
    unix = procs.unix_socket_paths()
    held_by_apache = {}
    for child in httpd.mpm_children():
        for target in procs.fds(child).values():
            held_by_apache[target] = child
    bad = {}
    for fd, target in sorted(procs.fds(pid).items()):
        inode = target.partition("[")[2].rstrip("]")
        if target.startswith("/memfd:pyworker-stacks"):
            pass            # its own: where faulthandler writes a dump
        elif target.startswith("/"):
            if target not in (errlog, "/dev/null"):
                bad[fd] = "file " + target
        elif target.startswith("socket:") and inode in inet:
            bad[fd] = "%s: %s" % (target, inet[inode])
        elif target.startswith("socket:") and inode in unix and \
                not _own_socket(unix[inode], group, httpd):
            bad[fd] = "%s: unix %s" % (target, unix[inode])
        elif target.startswith(("socket:", "pipe:")) and \
                target in held_by_apache:
            bad[fd] = "%s: also open in MPM child %d" % (
                target, held_by_apache[target])
        elif not target.startswith(("socket:", "pipe:", "anon_inode:",
                                    "/")):
            bad[fd] = "unknown " + target
    return bad


def test_daemon_holds_no_descriptor_of_apache_or_other_groups(world):
    httpd = world.httpd
    seen = {}
    for group in GROUPS:
        # a persistent connection from an MPM child stays open
        r = httpd.get("/hello", headers={"Host": HOSTS[group]})
        assert r.status_code == 200, r.text[:300]
        pids = httpd.daemon_pids(group)
        assert pids, "no daemon of %s" % group
        for pid in pids:
            fds = procs.fds(pid)
            seen[pid] = fds
            assert fds, "cannot read /proc/%d/fd" % pid
            assert fds.get(0) == "/dev/null", fds
            assert fds.get(2) == httpd.path("logs", "error.log"), fds
            assert _foreign_fds(httpd, pid, group) == {}, fds
            assert len(fds) <= MAX_DAEMON_FDS, fds
    print("daemon descriptors: %s" % seen)


def test_home_is_entered_with_the_daemon_users_rights(fresh_apache,
                                                      test_users):
    """A tenant makes its home= a symlink into another user's directory
    it may not enter (0700): entered as root, before the privilege drop,
    the daemon sat there and read the other user's files by relative
    name.  Entered as the tenant, it fails to start there (PYW0208)."""
    top = tempfile.mkdtemp(prefix="pyw-home-", dir="/tmp")
    os.chmod(top, 0o755)
    other, tenant = os.path.join(top, "other"), os.path.join(top, "tenant")
    try:
        os.makedirs(os.path.join(other, "pub"))
        with open(os.path.join(other, "pub", "secret.txt"), "w") as f:
            f.write("OTHER-SECRET\n")
        os.makedirs(tenant)
        ou, og = test_users["pywtest2"]
        tu, tg = test_users["pywtest1"]
        for p in (other, os.path.join(other, "pub"),
                  os.path.join(other, "pub", "secret.txt")):
            os.chown(p, ou, og)
        os.chmod(other, 0o700)
        os.chown(tenant, tu, tg)
        os.symlink(os.path.join(other, "pub"), os.path.join(tenant, "site"))
        a = fresh_apache("""
PyWorkerDaemonProcess tenant threads=1 user=pywtest1 home=%s/site \\
    startup-timeout=2 connect-timeout=2
PyWorkerScriptAlias /cwd {apps}/cwd.wsgi process-group=tenant
""" % tenant, wait_daemons=False)
        a.log.expect(r"PYW0208", r"PYW0023", r"PYW0110", r"PYW0024")
        r = a.get("/cwd", timeout=20)
        assert "OTHER-SECRET" not in r.text
        assert r.status_code == 503, r.text
        assert a.log.wait_for(r"PYW0208.*cannot change to home directory "
                              r".*Permission denied")
    finally:
        shutil.rmtree(top, ignore_errors=True)

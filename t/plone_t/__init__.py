"""Real Plone sites for t/test_plone.py: the virtualenv (plone/build-env),
a ZEO server with one storage per site, and one Zope instance per site,
each served by its own daemon group under its own user.

    world = PloneWorld(venv, [("one", "Plone Site One", "pywtest1"), ...])
    world.create()      # sites (mksite.py, in parallel), ZEO, instances
    world.snippet()     # httpd.conf lines for the test's Apache
    world.stop()        # ZEO down, temp tree removed

Layout under a fresh /tmp/pyw-plone-XXXX (mode 755):

    zeo/zeo.conf, zeo/zeo.log         runzeo's config and log
    zeo/<name>/Data.fs, blobs/        one FileStorage per site, made by
                                      mksite.py once and then copied from
                                      <venv>/../sites/<key>/
    <name>/zope.wsgi                  copy of plone/zope.wsgi
    <name>/etc/zope.conf              <zeoclient> to storage <name>
    <name>/var/                       owned by the site's user
"""
import hashlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time

T_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(T_DIR)
BUILD_ENV = os.path.join(REPO, "plone", "build-env")
ZOPE_WSGI = os.path.join(REPO, "plone", "zope.wsgi")
MKSITE = os.path.join(T_DIR, "plone_t", "mksite.py")
ADMIN, ADMIN_PASSWORD = "admin", "secret"     # as mksite.py makes them
SITE_ID, PAGE_ID = "Plone", "test-page"

ZEO_CONF = """\
<zeo>
    address 127.0.0.1:{port}
</zeo>
{storages}
<eventlog>
    level INFO
    <logfile>
        path {root}/zeo/zeo.log
    </logfile>
</eventlog>
"""

ZEO_STORAGE = """\
<filestorage {name}>
    path {root}/zeo/{name}/Data.fs
    blob-dir {root}/zeo/{name}/blobs
</filestorage>
"""

# What README's Plone section shows.  One ZODB connection per worker
# thread, each with its own object cache of cache-size objects: memory
# grows with threads x cache-size.  The ZEO client cache (cache-size in
# <zeoclient>) and the blob cache are per process.
ZOPE_CONF = """\
%define INSTANCE {inst}
instancehome $INSTANCE
clienthome $INSTANCE/var
<zodb_db main>
    cache-size 30000
    pool-size {threads}
    <zeoclient>
        server 127.0.0.1:{port}
        storage {name}
        name {name}
        cache-size 64MB
        blob-dir $INSTANCE/var/blobcache
        shared-blob-dir off
    </zeoclient>
    mount-point /
</zodb_db>
<environment>
    CHAMELEON_CACHE $INSTANCE/var/cache
</environment>
"""


class BuildError(Exception):
    """plone/build-env failed; .missing says the machine lacks something
    (no PyPI, no venv module): the one reason to skip."""

    def __init__(self, msg, missing):
        super().__init__(msg)
        self.missing = missing


def build_env(timeout=1800):
    """(venv path, seconds) from plone/build-env, building if needed."""
    t0 = time.monotonic()
    p = subprocess.run([BUILD_ENV], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    err = p.stderr.decode("utf-8", "replace").strip()
    if p.returncode != 0:
        raise BuildError("plone/build-env exit %d:\n%s"
                         % (p.returncode, err[-3000:]), p.returncode == 3)
    return p.stdout.decode().strip().splitlines()[-1], time.monotonic() - t0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Site:
    def __init__(self, world, name, title, user, threads):
        self.world, self.name, self.title = world, name, title
        self.user, self.threads = user, threads
        self.inst = os.path.join(world.root, name)
        self.storage = os.path.join(world.root, "zeo", name)
        self.group = "plone" + name
        self.script = os.path.join(self.inst, "zope.wsgi")
        self.prefix = "/" + name                 # the PyWorkerScriptAlias
        self.host = "www.%s.test" % name         # its virtual host

    def event_log(self):
        try:
            with open(os.path.join(self.inst, "var", "log", "event.log"),
                      errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def write_instance(self, port):
        write_instance(self.inst, port, self.name, self.threads, self.user)


def write_instance(inst, port, storage, threads, user):
    """A Zope instance at `inst` (etc/zope.conf, zope.wsgi, var/) whose
    database is ZEO storage `storage` on 127.0.0.1:port, with a pool of
    `threads` ZODB connections.  var/ belongs to `user` when we are root.
    Several instances may use the same storage (bench/run-plone serves
    one site through each WSGI server it compares)."""
    # blobcache/tmp made here: ZODB makes it with a check-then-mkdir, which
    # fails (FileExistsError) for one of two processes starting together
    # on one instance (two groups over it: t/test_balancer_plone.py).
    # So is its layout marker: the second process can find the file the
    # first just created still empty and refuse to start ("marker found
    # for layout ``", seen in a CI run).
    for d in ("etc", "var", "var/log", "var/cache", "var/blobcache",
              "var/blobcache/tmp"):
        os.makedirs(os.path.join(inst, d), exist_ok=True)
    with open(os.path.join(inst, "var", "blobcache", ".layout"), "w") as f:
        f.write("zeocache")
    with open(os.path.join(inst, "etc", "zope.conf"), "w") as f:
        f.write(ZOPE_CONF.format(inst=inst, port=port, name=storage,
                                 threads=threads))
    script = os.path.join(inst, "zope.wsgi")
    shutil.copy(ZOPE_WSGI, script)
    os.chmod(inst, 0o755)
    for path in (os.path.join(inst, "etc"), script,
                 os.path.join(inst, "etc", "zope.conf")):
        os.chmod(path, 0o755 if os.path.isdir(path) else 0o644)
    if os.geteuid() == 0:
        pw = pwd.getpwnam(user)
        for dirpath, dirnames, filenames in os.walk(
                os.path.join(inst, "var")):
            os.chown(dirpath, pw.pw_uid, pw.pw_gid)
            os.chmod(dirpath, 0o700)
            for fn in filenames:
                os.chown(os.path.join(dirpath, fn), pw.pw_uid, pw.pw_gid)


class PloneWorld:
    def __init__(self, venv, sites, threads=2):
        self.venv = venv
        self.python = os.path.join(venv, "bin", "python")
        self.root = tempfile.mkdtemp(prefix="pyw-plone-", dir="/tmp")
        os.chmod(self.root, 0o755)
        self.sites = [Site(self, n, t, u, threads) for n, t, u in sites]
        self.zeo = None
        self.port = None
        self.timings = {}

    def create(self):
        t0 = time.monotonic()
        self._make_sites()
        self.timings["sites"] = time.monotonic() - t0
        t0 = time.monotonic()
        self._start_zeo()
        self.timings["zeo"] = time.monotonic() - t0
        for s in self.sites:
            s.write_instance(self.port)
        return self

    def _cache_dir(self, s):
        """Where a site's made storage is kept: beside the venv, keyed by
        mksite.py's text and the site's name and title."""
        with open(MKSITE, "rb") as f:
            key = hashlib.sha256(f.read() + repr((s.name, s.title))
                                 .encode()).hexdigest()[:16]
        return os.path.join(os.path.dirname(self.venv), "sites", key)

    def _make_sites(self):
        """Each site's storage (Data.fs + blobs): copied from the cache,
        else made by mksite.py (all sites at once; each opens its own
        FileStorage, no ZEO yet) and then cached."""
        todo = []
        for s in self.sites:
            cached = self._cache_dir(s)
            if os.path.exists(os.path.join(cached, "complete")):
                shutil.copytree(cached, s.storage)
                self.timings["cached " + s.name] = 1
            else:
                todo.append(s)
        self._run_mksite(todo)
        for s in todo:
            self._cache(s)

    def _cache(self, s):
        cached = self._cache_dir(s)
        tmp = "%s.tmp%d" % (cached, os.getpid())
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(os.path.dirname(cached), mode=0o755, exist_ok=True)
        shutil.copytree(s.storage, tmp, ignore=shutil.ignore_patterns(
            "*.lock", "*.tmp", "etc", "var", "mksite.log"))
        open(os.path.join(tmp, "complete"), "w").close()
        try:
            os.rename(tmp, cached)
        except OSError:             # another run cached it meanwhile
            shutil.rmtree(tmp, ignore_errors=True)

    def _run_mksite(self, sites):
        procs = []
        for s in sites:
            os.makedirs(s.storage)
            log = open(os.path.join(s.storage, "mksite.log"), "wb")
            procs.append((s, log, subprocess.Popen(
                [self.python, MKSITE, s.storage, s.title],
                stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, cwd=s.storage,
                env=self._env())))
        failed = []
        for s, log, p in procs:
            try:
                rc = p.wait(600)
            except subprocess.TimeoutExpired:
                p.kill()
                rc = p.wait()
            log.close()
            if rc != 0:
                with open(log.name, errors="replace") as f:
                    failed.append("%s: exit %s\n%s" % (s.name, rc,
                                                       f.read()[-3000:]))
        if failed:
            raise RuntimeError("mksite.py failed:\n" + "\n".join(failed))

    def _env(self):
        return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8",
                "HOME": self.root}

    def _start_zeo(self, timeout=60):
        self.port = free_port()
        conf = os.path.join(self.root, "zeo", "zeo.conf")
        storages = "".join(ZEO_STORAGE.format(root=self.root, name=s.name)
                           for s in self.sites)
        with open(conf, "w") as f:
            f.write(ZEO_CONF.format(port=self.port, root=self.root,
                                    storages=storages))
        out = open(os.path.join(self.root, "zeo", "runzeo.out"), "wb")
        self.zeo = subprocess.Popen(
            [os.path.join(self.venv, "bin", "runzeo"), "-C", conf],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            cwd=os.path.join(self.root, "zeo"), env=self._env())
        out.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.zeo.poll() is not None:
                raise RuntimeError("runzeo exited %s:\n%s"
                                   % (self.zeo.returncode, self.zeo_log()))
            try:
                socket.create_connection(("127.0.0.1", self.port),
                                         timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("ZEO did not listen:\n"
                                       + self.zeo_log())
                time.sleep(0.1)

    def zeo_log(self):
        text = ""
        for fn in ("runzeo.out", "zeo.log"):
            try:
                with open(os.path.join(self.root, "zeo", fn),
                          errors="replace") as f:
                    text += f.read()[-3000:]
            except FileNotFoundError:
                pass
        return text

    def snippet(self, processes=2, threads=2, extra_import=None):
        """httpd.conf lines: one group per site (under the site's user when
        Apache starts as root), its script preloaded and aliased at
        /<name>, and a virtual host www.<name>.test whose every URL is
        rewritten into the site through Zope's virtual host monster."""
        moddir = "/usr/lib/apache2/modules"
        lines = ["<IfModule !rewrite_module>",
                 "    LoadModule rewrite_module %s/mod_rewrite.so" % moddir,
                 "</IfModule>",
                 # plone.restapi's Basic and Bearer (JWT) logins
                 "PyWorkerPassAuthorization On",
                 "<Directory %s>" % self.root,
                 "    Require all granted",
                 "</Directory>"]
        for s in self.sites:
            user = "user=%s " % s.user if os.geteuid() == 0 else ""
            lines += [
                "PyWorkerDaemonProcess %s processes=%d threads=%d %s"
                "python-home=%s home=%s display-name=%%{GROUP}"
                % (s.group, processes, threads, user, self.venv, s.inst),
                "PyWorkerImportScript %s process-group=%s "
                "application-group=%%{GLOBAL}" % (s.script, s.group)]
            if extra_import:
                lines.append("PyWorkerImportScript %s process-group=%s "
                             "application-group=%%{GLOBAL}"
                             % (extra_import, s.group))
            lines.append("PyWorkerScriptAlias %s %s process-group=%s"
                         % (s.prefix, s.script, s.group))
        # The first virtual host of the address is the default: plain
        # 127.0.0.1 requests keep reaching the aliases above.
        lines += ["<VirtualHost 127.0.0.1:{port}>",
                  "    ServerName 127.0.0.1",
                  "</VirtualHost>"]
        # Both ways to write it: the first site's host rewrites into the
        # alias /one of the main server; the others have their own alias
        # at / (README's form).  VirtualHostRoot drops SCRIPT_NAME either
        # way, so links carry no /one.
        for i, s in enumerate(self.sites):
            into = s.prefix if i == 0 else ""
            lines += [
                "<VirtualHost 127.0.0.1:{port}>",
                "    ServerName %s" % s.host]
            if i > 0:
                lines.append("    PyWorkerScriptAlias / %s process-group=%s"
                             % (s.script, s.group))
            lines += [
                "    RewriteEngine On",
                "    RewriteRule ^/(.*)$ %s/VirtualHostBase/http/%s:{port}/"
                "%s/VirtualHostRoot/$1 [PT,L]" % (into, s.host, SITE_ID),
                "</VirtualHost>"]
        return "\n".join(lines) + "\n"

    def stop(self, keep=False):
        if self.zeo is not None and self.zeo.poll() is None:
            self.zeo.send_signal(signal.SIGTERM)
            try:
                self.zeo.wait(20)
            except subprocess.TimeoutExpired:
                self.zeo.kill()
                self.zeo.wait(5)
        if not keep:
            shutil.rmtree(self.root, ignore_errors=True)

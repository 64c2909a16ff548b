"""The Debian package.  debian/ builds libapache2-mod-pyworker with
`dpkg-buildpackage -us -uc -b` from a clean copy of the tree (so the
checkout stays as it is); lintian finds no error in it; `dpkg -i` puts
the module and the daemon program in /usr/lib/apache2/modules, the
a2enmod files in /etc/apache2/mods-available and pyworker-migrate in
/usr/sbin; a2enmod and a2dismod link and unlink it; a private Apache
serves a request through the installed files; `dpkg -P` leaves the
system exactly as it was.

This installs into the real system, so it needs root and a Debian (dpkg)
system.  It never starts, stops or reloads the system's Apache: the
package does not enable the module on installation, and the module is
disabled again before every purge, so no maintainer script has a reason
to restart it.  The package already installed before the test is a
failure (the test would remove it), not a reason to skip.

Private Apache, httpd.conf snippet (module: the installed one):

    Include /etc/apache2/mods-available/pyworker.conf
    PyWorkerDaemonProcess debpkg processes=1 threads=2 display-name=%{GROUP}
    PyWorkerScriptAlias /hello "{apps}/hello.wsgi" process-group=debpkg
"""
import glob
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest
import requests

from pyworker_t import procs
from pyworker_t.httpd import (IS_ROOT, MODDIR, REPO, Apache, _apache_env,
                              free_port, httpd_path)

PACKAGE = "libapache2-mod-pyworker"
MODULE = MODDIR + "/mod_pyworker.so"
MODS_AVAILABLE = "/etc/apache2/mods-available"
MODS_ENABLED = "/etc/apache2/mods-enabled"
SYSTEM_PYTHON = "/usr/bin/python3"     # the package's: configure's default
BUILD_TIMEOUT = 600        # seconds; about 60 s on a shared 2-core machine
BUILD_TOOLS = ("dpkg-buildpackage", "dh", "lintian", "fakeroot", "git")
KEEP = os.environ.get("PYW_KEEP") == "1"
SYS_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:"
                   "/sbin:/bin", "LANG": "C.UTF-8"}

# Whole trees compared before and after; elsewhere only names that
# mention pyworker (other packages may change while this test runs).
WATCHED_TREES = ("/etc/apache2", "/var/lib/apache2", MODDIR)
WATCHED_NAMES = ("/usr/sbin", "/usr/bin", "/usr/share/doc",
                 "/usr/share/man/man8", "/usr/share/man/man1",
                 "/var/lib/dpkg/info")

SNIPPET = """
Include %s/pyworker.conf
PyWorkerDaemonProcess debpkg processes=1 threads=2 display-name=%%{GROUP}
PyWorkerScriptAlias /hello "{apps}/hello.wsgi" process-group=debpkg
""" % MODS_AVAILABLE


def python_version():
    """X.Y of the python3 the package builds its daemon for."""
    return subprocess.run(
        [SYSTEM_PYTHON, "-c", "import sysconfig; "
         "print(sysconfig.get_config_var('VERSION'))"],
        stdout=subprocess.PIPE, text=True, check=True, timeout=30
    ).stdout.strip()


PYVER = python_version() if os.path.exists(SYSTEM_PYTHON) else "?"
DAEMON = "%s/pyworker-daemon-python%s" % (MODDIR, PYVER)


def _run(args, timeout=120, cwd=None, env=None):
    return subprocess.run(args, cwd=cwd, env=env or SYS_ENV, timeout=timeout,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)


# ---- what the system holds ----------------------------------------------

def _entry(path):
    if os.path.islink(path):
        return "-> " + os.readlink(path)
    if os.path.isdir(path):
        return "dir"
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def system_state():
    """{path: link target, 'dir' or content hash} of what the package
    and a2enmod may touch."""
    state = {}
    for top in WATCHED_TREES:
        for d, dirs, files in os.walk(top):
            for n in dirs + files:
                state[os.path.join(d, n)] = _entry(os.path.join(d, n))
    for top in WATCHED_NAMES:
        for n in os.listdir(top):
            if "pyworker" in n:
                state[os.path.join(top, n)] = _entry(os.path.join(top, n))
    return state


def _state_diff(before, after):
    changed = sorted(p for p in set(before) | set(after)
                     if before.get(p) != after.get(p))
    return ["%s: %s -> %s" % (p, before.get(p, "absent"),
                              after.get(p, "absent")) for p in changed]


def forget_a2enmod_dirs(before):
    """rmdir the state directories a2enmod made (enabled_by_admin...)
    and left empty: a2enmod's bookkeeping, not the package's."""
    made = [p for p in system_state() if p.startswith("/var/lib/apache2/")
            and p not in before]
    for path in sorted(made, reverse=True):
        if os.path.isdir(path) and not os.listdir(path):
            os.rmdir(path)


def is_installed():
    """In any state but not-installed (config-files, half-installed...)."""
    r = _run(["dpkg-query", "-W", "-f=${db:Status-Status}", PACKAGE])
    return r.returncode == 0 and r.stdout.strip() not in ("",
                                                          "not-installed")


def dpkg(*args):
    """dpkg, waiting (up to 2 min) for a lock another apt/dpkg holds."""
    deadline = time.monotonic() + 120
    while True:
        r = _run(["dpkg"] + list(args))
        if r.returncode == 0 or "lock" not in r.stdout or \
                time.monotonic() > deadline:
            return r
        time.sleep(2)


def enabled_links():
    return sorted(glob.glob(MODS_ENABLED + "/pyworker.*"))


# ---- building ----------------------------------------------------------

def clean_copy(dst):
    """The files git knows or would add (not ignored build products),
    as they are in the work tree."""
    r = subprocess.run(["git", "-C", REPO, "ls-files", "-z", "--cached",
                        "--others", "--exclude-standard"],
                       stdout=subprocess.PIPE, check=True, timeout=60)
    for name in r.stdout.decode().split("\0"):
        src = os.path.join(REPO, name)
        if not name or not os.path.lexists(src):
            continue
        target = os.path.join(dst, name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(src, target, follow_symlinks=False)


@pytest.fixture(scope="module")
def before():
    """The system before this module touched it; the package must not be
    there (the test would take it away)."""
    if not IS_ROOT or not shutil.which("dpkg"):
        pytest.skip("needs root on a Debian system (installs a package)")
    missing = [t for t in BUILD_TOOLS if not shutil.which(t, path=SYS_ENV[
        "PATH"])]
    if missing:
        pytest.fail("missing %s: ./dev installs them" % ", ".join(missing),
                    pytrace=False)
    if is_installed():
        pytest.fail("%s is on the system already: the test would remove it; "
                    "remove it first (dpkg -P %s)" % (PACKAGE, PACKAGE),
                    pytrace=False)
    strays = [p for p in (MODULE, MODS_AVAILABLE + "/pyworker.load",
                          "/usr/sbin/pyworker-migrate",
                          "/usr/bin/pyworker-express") if os.path.lexists(p)]
    if strays:
        pytest.fail("not from the package, the test would remove them: %s "
                    "(make uninstall?)" % strays, pytrace=False)
    return system_state()


@pytest.fixture(scope="module")
def deb(before):
    """Build the package from a clean copy; the .deb's path."""
    top = tempfile.mkdtemp(prefix="pyw-debpkg-", dir="/tmp")
    src = os.path.join(top, "mod-pyworker")
    clean_copy(src)
    env = dict(SYS_ENV, DEB_BUILD_OPTIONS="parallel=2")
    r = _run(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, env=env,
             timeout=BUILD_TIMEOUT)
    with open(os.path.join(top, "build.log"), "w") as f:
        f.write(r.stdout)
    assert r.returncode == 0, "dpkg-buildpackage failed (%s kept):\n%s" % (
        top, r.stdout[-6000:])
    debs = glob.glob(os.path.join(top, PACKAGE + "_*.deb"))
    assert len(debs) == 1, os.listdir(top)
    yield debs[0]
    if not KEEP:
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture
def installed(deb, before):
    """The package installed for one test; purged (after a2dismod, so
    that no maintainer script reloads the system's Apache) at its end,
    and the system then compared with what it was."""
    r = dpkg("-i", deb)
    assert r.returncode == 0, r.stdout
    try:
        yield deb
    finally:
        if enabled_links():
            _run(["a2dismod", "-q", "-f", "pyworker"])
        dpkg("-P", PACKAGE)         # also takes config files left by -r
        forget_a2enmod_dirs(before)
    diff = _state_diff(before, system_state())
    assert not diff, "system not restored:\n  " + "\n  ".join(diff)


# ---- the package as built ------------------------------------------------

def deb_files(path):
    out = _run(["dpkg-deb", "-c", path]).stdout
    files = {}
    for line in out.splitlines():
        mode, name = line.split()[0], line.split()[5]
        files[name.lstrip(".")] = mode
    return files


def deb_field(path, field):
    return _run(["dpkg-deb", "-f", path, field]).stdout.strip()


def test_lintian_finds_no_error(deb):
    changes = glob.glob(os.path.join(os.path.dirname(deb), "*.changes"))
    assert len(changes) == 1
    r = _run(["lintian", "--pedantic", "--display-info", changes[0]],
             timeout=300)
    tags = [line for line in r.stdout.splitlines()
            if re.match(r"[EWIPX]: ", line)]
    print("lintian:\n  " + "\n  ".join(tags or ["(nothing)"]))
    errors = [t for t in tags if t.startswith("E: ")]
    assert not errors, "\n".join(errors)


def test_files_in_apaches_layout(deb):
    files = deb_files(deb)
    assert files.get(MODULE, "").startswith("-rw-r--r--")
    daemons = [f for f in files if f.startswith(MODDIR + "/pyworker-daemon")]
    assert sorted(daemons) == [DAEMON, DAEMON + ".ext"], \
        "the default python3's daemon and its extension, only"
    assert files[DAEMON].startswith("-rwxr-xr-x")
    assert files[DAEMON + ".ext"].startswith("-rw-r--r--")
    for conf in ("pyworker.load", "pyworker.conf"):
        assert MODS_AVAILABLE + "/" + conf in files
    assert files.get("/usr/sbin/pyworker-migrate", "").startswith("-rwxr-xr")
    assert "/usr/share/man/man8/pyworker-migrate.8.gz" in files
    assert files.get("/usr/bin/pyworker-express", "").startswith("-rwxr-xr")
    assert "/usr/share/man/man1/pyworker-express.1.gz" in files
    doc = "/usr/share/doc/" + PACKAGE
    for name in ("copyright", "changelog.gz", "README.md.gz"):
        assert "%s/%s" % (doc, name) in files


def test_depends(deb):
    """The Apache API it was built for (which apache2-bin provides), the
    libpython its daemon links, python3 for pyworker-migrate."""
    depends = [d.strip() for d in deb_field(deb, "Depends").split(",")]
    api = [d for d in depends if re.fullmatch(r"apache2-api-\d{8}\d*", d)]
    assert len(api) == 1, depends
    provides = _run(["dpkg-query", "-W", "-f=${Provides}",
                     "apache2-bin"]).stdout
    assert api[0] in re.split(r"[ ,]+", provides)
    assert any(d.startswith("libpython%s " % PYVER) or
               d == "libpython" + PYVER for d in depends), depends
    assert "python3" in depends


def test_conffiles_and_no_enable_on_install(deb, tmp_path):
    r = _run(["dpkg-deb", "-e", deb, str(tmp_path / "ctl")])
    assert r.returncode == 0, r.stdout
    with open(tmp_path / "ctl" / "conffiles") as f:
        conffiles = f.read().split()
    assert sorted(conffiles) == [MODS_AVAILABLE + "/pyworker.conf",
                                 MODS_AVAILABLE + "/pyworker.load"]
    postinst = tmp_path / "ctl" / "postinst"
    assert not postinst.exists() or "enmod" not in postinst.read_text()


# ---- the package installed -------------------------------------------------

def dump_modules(root):
    """`apache2 -t -D DUMP_MODULES` of a tiny config that includes the
    mods-enabled files of pyworker, as the system's apache2.conf does."""
    conf = os.path.join(root, "dump.conf")
    with open(conf, "w") as f:
        f.write('ServerRoot "%s"\nDefaultRuntimeDir "%s"\n'
                'PidFile "%s/pid"\nErrorLog "%s/error.log"\n'
                "LoadModule mpm_event_module %s/mod_mpm_event.so\n"
                "LoadModule authz_core_module %s/mod_authz_core.so\n"
                "IncludeOptional %s/pyworker.load\n"
                "IncludeOptional %s/pyworker.conf\n"
                "ServerName 127.0.0.1\nListen 127.0.0.1:%d\n"
                % (root, root, root, root, MODDIR, MODDIR, MODS_ENABLED,
                   MODS_ENABLED, free_port()))
    r = _run([httpd_path(), "-t", "-D", "DUMP_MODULES", "-f", conf],
             env=_apache_env())
    assert r.returncode == 0, r.stdout
    return r.stdout


def test_a2enmod_and_a2dismod(installed, tmp_path):
    assert enabled_links() == [], "installing must not enable it"
    assert "pyworker_module" not in dump_modules(str(tmp_path))

    r = _run(["a2enmod", "pyworker"])
    assert r.returncode == 0, r.stdout
    assert enabled_links() == [MODS_ENABLED + "/pyworker.conf",
                               MODS_ENABLED + "/pyworker.load"]
    for link in enabled_links():
        assert os.path.realpath(link) == os.path.join(
            MODS_AVAILABLE, os.path.basename(link))
    assert "pyworker_module (shared)" in dump_modules(str(tmp_path))

    r = _run(["a2dismod", "pyworker"])
    assert r.returncode == 0, r.stdout
    assert enabled_links() == []
    assert "pyworker_module" not in dump_modules(str(tmp_path))


def runs_installed_daemon(pid):
    """pid is a daemon of the installed package: the system's Python
    running the package's daemon extension (src/python/pyw_hosted.c)."""
    return (procs.exe(pid) == os.path.realpath(SYSTEM_PYTHON)
            and DAEMON + ".ext" in {m[3] for m in procs.maps(pid)})


def test_serves_through_installed_files(installed):
    a = Apache("debian_package", SNIPPET, module=MODULE, ready=["/hello"])
    try:
        a.start()
        r = requests.get(a.url("/hello"), timeout=10)
        assert r.status_code == 200 and r.text == "Hello, World!\n"
        pids = a.daemon_pids("debpkg")
        assert pids, a.log.tail()
        assert all(runs_installed_daemon(p) for p in pids), pids
        assert a.log.check() == []
    finally:
        a.stop()
        if not KEEP:
            a.remove()
    assert a.leftovers == [] and a.stop_errors == []


def test_migrate_tool_on_path(installed):
    assert shutil.which("pyworker-migrate", path=SYS_ENV["PATH"]) == \
        "/usr/sbin/pyworker-migrate"
    p = subprocess.run(["pyworker-migrate", "-"], env=SYS_ENV, timeout=30,
                       input="WSGIDaemonProcess shop threads=4\n",
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "PyWorkerDaemonProcess shop threads=4"


def test_launcher_on_path_serves_through_the_installed_module(installed):
    """/usr/bin/pyworker-express, as a user runs it: the installed module
    and daemon serve the app; SIGINT leaves no process behind."""
    assert shutil.which("pyworker-express", path=SYS_ENV["PATH"]) == \
        "/usr/bin/pyworker-express"
    d = tempfile.mkdtemp(prefix="pyw-debpkg-express-", dir="/tmp")
    os.chmod(d, 0o755)
    shutil.copy(os.path.join(REPO, "t", "apps", "hello.wsgi"), d)
    os.chmod(os.path.join(d, "hello.wsgi"), 0o644)
    port = free_port()
    p = subprocess.Popen(["pyworker-express", "start", "hello.wsgi",
                          "--port", str(port), "--server-root",
                          os.path.join(d, "root")],
                         cwd=d, env=SYS_ENV, start_new_session=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    try:
        deadline, r = time.monotonic() + 30, None
        while time.monotonic() < deadline and p.poll() is None:
            try:
                r = requests.get("http://127.0.0.1:%d/" % port, timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert r is not None and r.status_code == 200, p.poll()
        assert r.text.startswith("Hello"), r.text
        apache = procs.children(p.pid)
        daemons = [x for a in apache for x in procs.descendants(a)
                   if runs_installed_daemon(x)]
        assert daemons, "no daemon of the installed program"
        p.send_signal(2)
        assert p.wait(timeout=30) == 0, p.stdout.read()
        assert procs.wait_gone({x: None for x in apache + daemons}, 10) == {}
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        shutil.rmtree(d, ignore_errors=True)


def test_purge_leaves_no_file(installed, before):
    files = [f for f, mode in deb_files(installed).items()
             if not mode.startswith("d")]
    r = _run(["a2enmod", "-q", "pyworker"])
    assert r.returncode == 0, r.stdout
    r = _run(["a2dismod", "-q", "pyworker"])
    assert r.returncode == 0, r.stdout
    r = dpkg("-P", PACKAGE)
    assert r.returncode == 0, r.stdout
    assert not is_installed()
    assert [f for f in files if os.path.lexists(f)] == []
    forget_a2enmod_dirs(before)
    diff = _state_diff(before, system_state())
    assert not diff, "\n".join(diff)

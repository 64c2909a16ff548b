"""Several Pythons in one build.  `./configure --with-python=A
--with-python=B` makes one daemon program per Python beside
mod_pyworker.so, and a group picks its own with python-executable=
(default: the first).  Checked here: two versions serving at once in one
Apache, a virtualenv of the second one, the configtest refusals (PYW0005),
a daemon program that cannot be run any more (PYW0027, back-off PYW0023,
the other group unaffected), and --with-static-libpython.

The second Python is a pyenv build (/root/.pyenv/versions, shared
libpython) of another major.minor than /usr/bin/python3, copied out of
root's home (mode 0700) to /opt/pyw-test/pythonX.Y so that a daemon user
can read it; the copy is kept for later runs (complete once it holds
COPY_MARKER).  Without such a Python the tests that need it are skipped.
Each build variant is a copy of the source tree, configured and built
once per test module, both at once in the background.

httpd.conf, two Pythons (module: the two-Python build):

    PyWorkerDaemonProcess deb threads=2 user=pywtest1 display-name=pywd-deb
    PyWorkerDaemonProcess alt threads=2 user=pywtest2 display-name=pywd-alt \\
        python-executable=/opt/pyw-test/pythonX.Y/bin/pythonX.Y
    PyWorkerDaemonProcess venv threads=1 user=pywtest2 display-name=pywd-venv \\
        python-executable=/opt/pyw-test/pythonX.Y/bin/pythonX.Y \\
        python-home=VENV
    PyWorkerScriptAlias /deb {apps}/pyversion.wsgi process-group=deb
    PyWorkerScriptAlias /alt {apps}/pyversion.wsgi process-group=alt
    PyWorkerScriptAlias /venv {apps}/pyversion.wsgi process-group=venv
"""
import datetime
import glob
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import types

import pytest
import requests

from pyworker_t import procs
from pyworker_t.httpd import IS_ROOT, configtest, module_path
from pyworker_t.pythons import (DEBIAN_PYTHON, KEEP, Build,
                                major_minor as _major_minor,
                                module_copy as _module_copy,
                                need as _need)

USER1 = "user=pywtest1" if IS_ROOT else ""
USER2 = "user=pywtest2" if IS_ROOT else ""


# ---- builds ------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def builds(second_python, two_python):
    """Both variants, started together at the first test of the module:
    'two' (Debian's Python and the second one, shared with the session;
    absent without a second Python) and 'static' (Debian's,
    --with-static-libpython)."""
    out = {}
    static = Build("static", ["--with-python=" + DEBIAN_PYTHON,
                              "--with-static-libpython"])
    try:
        if two_python is not None:
            out["two"] = two_python
        out["static"] = static
        yield out
    finally:
        static.remove()


@pytest.fixture(scope="module")
def two(builds, second_python):
    _need(second_python)
    builds["two"].wait()
    return builds["two"]


# ---- what a group reports ----------------------------------------------

def info(httpd, path, timeout=30):
    r = httpd.get(path, timeout=timeout)
    assert r.status_code == 200, (path, r.status_code, r.text[:500])
    return r.json()


def assert_runs(report, mm, executable, prefix):
    assert "%d.%d" % tuple(report["version_info"][:2]) == mm, report
    assert report["version"].startswith(mm + "."), report["version"]
    assert os.path.realpath(report["executable"]) == \
        os.path.realpath(executable), report
    assert report["prefix"] == prefix, report
    assert report["uid"] != 0 or not IS_ROOT, report
    ext = report["extensions"]
    assert ext["decimal"] == "0.125" and ext["expat"].startswith("expat_")


def program_of(pid):
    return os.path.realpath("/proc/%d/exe" % pid)


def _links_libpython(exe):
    out = subprocess.run(["readelf", "-d", os.path.realpath(exe)],
                         stdout=subprocess.PIPE, text=True, timeout=30,
                         check=True).stdout
    return "libpython" in out


def assert_hosted(pid, python, build, mm):
    """The daemon runs in its Python's own executable, with this build's
    daemon extension for that Python loaded (src/python/pyw_hosted.c)."""
    assert program_of(pid) == os.path.realpath(python), pid
    ext = build.program(mm) + ".ext"
    assert ext in {path for _s, _e, _p, path in procs.maps(pid)}, ext


# ---- configtest: PYW0005 -----------------------------------------------

def test_unknown_python_executable_is_refused_naming_the_builds_pythons():
    rc, out = configtest("PyWorkerDaemonProcess g1 %s "
                         "python-executable=/usr/bin/nonexistent-python\n"
                         % USER1)
    assert rc != 0, out
    assert "PYW0005" in out, out
    assert "/usr/bin/nonexistent-python" in out, out
    assert re.search(r"it has: /\S+ \(3\.\d+\)", out), out


def test_two_python_build_names_both_when_refusing(two, second_python):
    rc, out = configtest("PyWorkerDaemonProcess g1 %s "
                         "python-executable=/usr/bin/nonexistent-python\n"
                         % USER1, module=two.module)
    assert rc != 0, out
    assert "PYW0005" in out, out
    assert "%s (%s)" % (DEBIAN_PYTHON, second_python.debian_mm) in out, out
    assert "%s (%s)" % (second_python.exe, second_python.mm) in out, out


@pytest.mark.parametrize("case,reason", [
    ("missing", "No such file or directory"),
    ("not-executable", "Permission denied"),
])
def test_daemon_program_that_cannot_run_is_refused_naming_its_path(
        case, reason):
    src = os.path.dirname(module_path())
    programs = [os.path.basename(p) for p in glob.glob(
        os.path.join(src, "pyworker-daemon-python*"))
        if not p.endswith(".tmp")]
    assert programs, "no daemon program beside %s" % module_path()
    d = _module_copy(src, [] if case == "missing" else programs,
                     mode=0o644)
    try:
        rc, out = configtest("PyWorkerDaemonProcess g1 %s\n" % USER1,
                             module=os.path.join(d, "mod_pyworker.so"))
    finally:
        shutil.rmtree(d)
    assert rc != 0, out
    assert "PYW0005" in out, out
    m = re.search(re.escape(d) + r"/pyworker-daemon-python3\.\d+\S*", out)
    assert m, out
    assert os.path.basename(m.group(0)) in programs, out
    assert reason in out, out


# ---- two Pythons in one Apache -----------------------------------------

@pytest.fixture(scope="module")
def venv(second_python):
    """A virtualenv of the second Python (readable by the daemon user)
    with a probe package in its site-packages and a .pth file there that
    adds one more directory."""
    py = _need(second_python)
    top = tempfile.mkdtemp(prefix="pyw-venv-", dir="/tmp")
    os.chmod(top, 0o755)
    path = os.path.join(top, "venv")
    subprocess.run([py.exe, "-m", "venv", "--without-pip", path],
                   check=True, timeout=120, env=py.env)
    site = os.path.join(path, "lib", "python" + py.mm, "site-packages")
    os.makedirs(os.path.join(site, "pyw_venv_probe"))
    with open(os.path.join(site, "pyw_venv_probe", "__init__.py"), "w") as f:
        f.write("PROBE = True\n")
    extra = os.path.join(top, "extra")
    os.makedirs(extra)
    with open(os.path.join(site, "pyw_probe.pth"), "w") as f:
        f.write(extra + "\n")
    subprocess.run(["chmod", "-R", "go+rX", top], check=True, timeout=30)
    yield types.SimpleNamespace(path=path, site=site, extra=extra)
    if not KEEP:
        shutil.rmtree(top, ignore_errors=True)


TWO_CONF = """
PyWorkerDaemonProcess deb threads=2 %(user1)s display-name=pywd-deb
PyWorkerDaemonProcess alt threads=2 %(user2)s display-name=pywd-alt \\
    python-executable=%(alt)s
PyWorkerDaemonProcess venv threads=1 %(user2)s display-name=pywd-venv \\
    python-executable=%(alt)s python-home=%(venv)s
PyWorkerScriptAlias /deb {apps}/pyversion.wsgi process-group=deb
PyWorkerScriptAlias /alt {apps}/pyversion.wsgi process-group=alt
PyWorkerScriptAlias /venv {apps}/pyversion.wsgi process-group=venv
"""


@pytest.fixture(scope="module")
def two_httpd(apache, request, two, second_python, venv):
    if IS_ROOT:
        request.getfixturevalue("test_users")
    conf = TWO_CONF % {"user1": USER1, "user2": USER2,
                       "alt": second_python.exe, "venv": venv.path}
    return apache(conf, name="pythons-two", module=two.module,
                  ready=["/deb", "/alt", "/venv"])


def test_each_group_runs_its_own_python(two_httpd, two, second_python):
    deb = info(two_httpd, "/deb")
    assert_runs(deb, second_python.debian_mm, DEBIAN_PYTHON, "/usr")
    alt = info(two_httpd, "/alt")
    assert_runs(alt, second_python.mm, second_python.exe,
                second_python.prefix)
    assert alt["base_prefix"] == second_python.prefix
    assert alt["extensions"]["decimal_file"].startswith(
        second_python.prefix + "/"), alt
    # Each daemon runs in its Python, with that Python's daemon extension
    # from this build.
    assert_hosted(deb["pid"], DEBIAN_PYTHON, two, second_python.debian_mm)
    if _links_libpython(second_python.exe):
        # Its executable runs the shared libpython too: nothing to gain,
        # so Python is embedded in this build's program, and one line
        # says why.
        assert program_of(alt["pid"]) == two.program(second_python.mm)
        assert two_httpd.log.find(r"PYW0306: .*links the shared libpython"
                                  r".*pid=%d\b" % alt["pid"])
    else:
        assert_hosted(alt["pid"], second_python.exe, two, second_python.mm)
    assert deb["probe"] is None and alt["probe"] is None


def test_both_pythons_answer_at_the_same_time(two_httpd, second_python):
    """Two 1 s requests per group, all at once: every one is answered
    by its group's Python, and all four ran at the same time."""
    results, errors = [], []

    def get(path):
        try:
            results.append((path, info(two_httpd, path + "?sleep=1")))
        except Exception as e:          # reported by the main thread
            errors.append(repr(e))

    threads = [threading.Thread(target=get, args=(p,))
               for p in ("/deb", "/alt", "/deb", "/alt")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(results) == 4
    want = {"/deb": second_python.debian_mm, "/alt": second_python.mm}
    for path, r in results:
        assert "%d.%d" % tuple(r["version_info"][:2]) == want[path], r
    assert max(r["start"] for _, r in results) < \
        min(r["end"] for _, r in results), results


def test_python_home_is_a_virtualenv_of_the_groups_python(
        two_httpd, second_python, venv):
    r = info(two_httpd, "/venv")
    assert "%d.%d" % tuple(r["version_info"][:2]) == second_python.mm, r
    assert r["prefix"] == venv.path, r
    assert r["base_prefix"] == second_python.prefix, r
    assert os.path.dirname(r["executable"]) == \
        os.path.join(venv.path, "bin"), r
    assert r["probe"] == os.path.join(venv.site, "pyw_venv_probe",
                                      "__init__.py"), r
    assert venv.site in r["path"], r["path"]
    assert venv.extra in r["path"], r["path"]     # its .pth file ran
    # The plain group of the same Python does not see the venv.
    alt = info(two_httpd, "/alt")
    assert alt["probe"] is None and venv.site not in alt["path"]


# ---- a daemon program that cannot be run any more ----------------------

EXEC_CONF = """
PyWorkerDaemonProcess deb threads=2 %(user1)s display-name=pywd-xdeb
PyWorkerDaemonProcess alt threads=2 %(user2)s display-name=pywd-xalt \\
    python-executable=%(alt)s
PyWorkerScriptAlias /deb {apps}/pyversion.wsgi process-group=deb
PyWorkerScriptAlias /alt {apps}/pyversion.wsgi process-group=alt
"""

OUTAGE = 3.0    # seconds the alt program stays away


def test_exec_failure_backs_off_and_the_other_group_keeps_serving(
        fresh_apache, request, two, second_python):
    if IS_ROOT:
        request.getfixturevalue("test_users")
    moddir = _module_copy(two.wait())
    request.addfinalizer(lambda: shutil.rmtree(moddir, ignore_errors=True))
    program = os.path.join(moddir, "pyworker-daemon-python" +
                           second_python.mm)
    httpd = fresh_apache(EXEC_CONF % {"user1": USER1, "user2": USER2,
                                      "alt": second_python.exe},
                         module=os.path.join(moddir, "mod_pyworker.so"),
                         ready=["/deb", "/alt"])
    old = httpd.daemon_pids("alt")
    assert len(old) == 1, old
    httpd.log.expect(codes=[22, 23, 27])

    mark = httpd.log.mark()
    os.rename(program, program + ".away")
    os.kill(old[0], signal.SIGKILL)
    first = httpd.log.wait_for(r"\bPYW0027\b", since=mark, timeout=15)
    assert first, httpd.log.tail()
    # The errno, as Apache prints a status, and the program's path.
    assert re.search(r"\(2\)No such file or directory: .*PYW0027", first[0]), \
        first[0]
    assert program in first[0], first[0]
    assert "group=alt" in first[0], first[0]
    t0 = time.monotonic()
    answers = []
    while time.monotonic() - t0 < OUTAGE:
        answers.append(httpd.get("/deb").status_code)
        time.sleep(0.2)
    attempts = httpd.log.find(r"\bPYW0027\b", since=mark)
    failed = httpd.log.find(r"\bPYW0023\b.*\(group=alt ", since=mark)
    assert set(answers) == {200}, answers
    assert failed, httpd.log.tail()
    # Back-off 0, 1, 2 s...: a handful of attempts, not a fork loop;
    # from the third on, each at least a second after the one before.
    assert 2 <= len(attempts) <= 5, "%d exec attempts in %.0f s:\n%s" % (
        len(attempts), OUTAGE, "\n".join(attempts[:10]))
    times = [_logged_at(line) for line in attempts]
    gaps = [b - a for a, b in zip(times[1:], times[2:])]
    assert all(g >= 0.9 for g in gaps), (gaps, attempts)

    os.rename(program + ".away", program)
    # Back-off is 4 s by now, then the program waits its own 8 s at most.
    status, deadline = None, time.monotonic() + 45
    while time.monotonic() < deadline:
        try:
            r = httpd.get("/alt", timeout=30)
            status = r.status_code
        except requests.RequestException as e:
            status = repr(e)
        if status == 200:
            break
        time.sleep(0.5)
    assert status == 200, (status, httpd.log.tail())
    assert "%d.%d" % tuple(r.json()["version_info"][:2]) == \
        second_python.mm
    assert r.json()["pid"] in httpd.daemon_pids("alt")
    assert info(httpd, "/deb")["pid"] in httpd.daemon_pids("deb")


def _logged_at(line):
    """The time stamp of an error log line, in seconds."""
    stamp = line[1:line.index("]")]
    return datetime.datetime.strptime(
        stamp, "%a %b %d %H:%M:%S.%f %Y").timestamp()


# ---- --with-static-libpython -------------------------------------------

STATIC_CONF = """
PyWorkerDaemonProcess static threads=2 %(user1)s display-name=pywd-static
PyWorkerScriptAlias /static {apps}/pyversion.wsgi process-group=static
"""


def _static_libpython_gaps():
    """The archives of CPython's build tree (relative paths in MODLIBS)
    that Debian's static libpython needs and its package does not
    install: Modules/_hacl/libHacl_Hash_SHA2.a for Python 3.12 and 3.13
    (CPython gh-131298, Debian 13).  Empty when it can be linked."""
    out = subprocess.run([DEBIAN_PYTHON, "-c", """if 1:
        import os, sysconfig
        for w in (sysconfig.get_config_var("MODLIBS") or "").split():
            if w.endswith(".a") and not os.path.isabs(w):
                print(w)"""], stdout=subprocess.PIPE, check=True, timeout=30)
    return out.stdout.decode().split()


def _elf_type(path):
    """ELF e_type of a program: 2 (ET_EXEC) for one that is no PIE, 3
    (ET_DYN) for a PIE."""
    with open(os.path.realpath(path), "rb") as f:
        head = f.read(18)
    assert head[:4] == b"\x7fELF", path
    return int.from_bytes(head[16:18], "little" if head[5] == 1 else "big")


def test_static_libpython_daemon_links_no_libpython_and_serves(
        fresh_apache, request, builds):
    gaps = _static_libpython_gaps()
    if gaps:
        pytest.skip("the static libpython of %s is incomplete on this "
                    "machine (no %s)" % (DEBIAN_PYTHON, " ".join(gaps)))
    if IS_ROOT:
        request.getfixturevalue("test_users")
    build = builds["static"]
    mm = _major_minor(DEBIAN_PYTHON)
    program = build.program(mm)
    ldd = subprocess.run(["ldd", program], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=30)
    assert ldd.returncode == 0, ldd.stdout
    assert b"libpython" not in ldd.stdout, ldd.stdout.decode()
    # Linked as the Python's own executable is (Debian's is no PIE: the
    # daemon is built from the same plain archive, for the same speed).
    assert _elf_type(program) == _elf_type(DEBIAN_PYTHON), program
    httpd = fresh_apache(STATIC_CONF % {"user1": USER1},
                         module=build.module, ready=["/static"])
    r = info(httpd, "/static")
    assert_runs(r, mm, DEBIAN_PYTHON, "/usr")
    # An extension module of the system's lib-dynload resolved its
    # symbols in the program itself.
    assert "/lib-dynload/" in r["extensions"]["decimal_file"], r
    assert program_of(r["pid"]) == program


def test_static_libpython_refused_with_the_reason_when_incomplete(builds):
    """Debian 13's python3.13-dev: configure stops, naming what is
    missing, instead of the linker's "cannot find Modules/_hacl/..."."""
    gaps = _static_libpython_gaps()
    if not gaps:
        pytest.skip("the static libpython of %s is complete on this "
                    "machine" % DEBIAN_PYTHON)
    rc, out = builds["static"].outcome()
    assert rc != 0, out[-4000:]
    assert "the static libpython of %s is incomplete" % DEBIAN_PYTHON \
        in out, out[-4000:]
    assert "need %s from CPython's build tree" % " ".join(gaps) in out, \
        out[-4000:]
    assert "cannot be embedded: see the reason above" in out, out[-4000:]
    assert not glob.glob(os.path.join(builds["static"].dir,
                                      "pyworker-daemon-*")), out[-4000:]

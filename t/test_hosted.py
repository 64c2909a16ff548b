"""The daemon runs in its group's own Python executable (Debian's
python3: libpython's non-PIC objects, as fast as `python3` itself), not
embedded in the daemon program (src/python/pyw_hosted.c): the daemon
program does the steps before Python, then execs the Python, which loads
this build's daemon extension and runs the daemon.  What users see must
not change: title, sys.argv, sys.path, the virtualenv of python-home,
the descriptors; and a daemon user who cannot read the extension gets
Python embedded, with one line saying why."""
import glob
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from pyworker_t import codes, procs
from pyworker_t.httpd import IS_ROOT, module_path
from pyworker_t.pythons import DEBIAN_PYTHON, module_copy

USER1 = "pywtest1"

CONF = """
PyWorkerDaemonProcess plain threads=2 %(user)s
PyWorkerDaemonProcess titled threads=1 display-name=%%{GROUP} %(user)s
PyWorkerDaemonProcess venv threads=1 python-home=%(venv)s %(user)s
PyWorkerDaemonProcess prefix threads=1 python-home=/usr %(user)s
PyWorkerScriptAlias /plain {apps}/hostinfo.wsgi process-group=plain
PyWorkerScriptAlias /prefix {apps}/hostinfo.wsgi process-group=prefix
PyWorkerScriptAlias /titled {apps}/hostinfo.wsgi process-group=titled
PyWorkerScriptAlias /venv {apps}/hostinfo.wsgi process-group=venv
"""


def _build_dir():
    return os.path.dirname(module_path())


def _program():
    mm = subprocess.run([DEBIAN_PYTHON, "-c", "import sys; print("
                         "'%d.%d' % sys.version_info[:2])"],
                        stdout=subprocess.PIPE, text=True,
                        check=True).stdout.strip()
    return os.path.join(_build_dir(), "pyworker-daemon-python" + mm)


@pytest.fixture(scope="module")
def venv():
    """A virtualenv of Debian's Python the daemon user can read."""
    top = tempfile.mkdtemp(prefix="pyw-hosted-venv-", dir="/tmp")
    os.chmod(top, 0o755)
    path = os.path.join(top, "venv")
    subprocess.run([DEBIAN_PYTHON, "-m", "venv", "--without-pip", path],
                   check=True, timeout=120)
    yield path
    shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="module")
def hosted(apache, venv):
    user = "user=%s" % USER1 if IS_ROOT else ""
    return apache(CONF % {"user": user, "venv": venv},
                  ready=["/plain", "/titled", "/venv", "/prefix"])


def test_daemon_runs_in_the_python_executable_with_this_builds_extension(
        hosted):
    r = hosted.get("/plain").json()
    assert r["exe"] == os.path.realpath(DEBIAN_PYTHON), r["exe"]
    assert _program() + ".ext" in r["mapped"], r["mapped"]
    # Debian's python3 has libpython built in: nothing maps the slower
    # shared one.
    assert not [m for m in r["mapped"] if "libpython" in m], r["mapped"]
    lines = hosted.log.wait_for(r"PYW0302: .*pid=%d\b" % r["pid"])
    assert lines and " started in %s," % os.path.realpath(DEBIAN_PYTHON) \
        in lines[0], lines


def test_what_the_application_sees_is_as_when_embedded(hosted):
    r = hosted.get("/plain").json()
    assert r["argv"] == ["mod_pyworker"], r["argv"]
    # -c would put the working directory first; the daemon removes it.
    assert "" not in r["path"] and r["cwd"] not in r["path"], r["path"]
    assert os.path.realpath(r["executable"]) == \
        os.path.realpath(DEBIAN_PYTHON), r
    assert r["prefix"] == "/usr", r
    # __main__ holds nothing but what any module has (the boot code's
    # names are not left behind for the application to find).
    assert [n for n in r["main"] if not n.startswith("__")] == [], r["main"]


def test_title_is_the_daemon_programs_not_pythons(hosted):
    plain = hosted.get("/plain").json()["pid"]
    titled = hosted.get("/titled").json()["pid"]
    assert procs.cmdline(titled) == "(pyworker:titled)", \
        procs.cmdline(titled)
    assert procs.comm(titled) == "(pyworker:titled)"[:15], procs.comm(titled)
    words = procs.cmdline(plain).split()
    assert len(words) == 2, words
    assert os.path.basename(words[0]) == os.path.basename(_program())
    assert words[1] == "plain"


def test_python_home_virtualenv_runs_in_the_venvs_python(hosted, venv):
    r = hosted.get("/venv").json()
    assert r["prefix"] == venv, r
    assert r["executable"] == os.path.join(venv, "bin", "python3"), r
    assert r["exe"] == os.path.realpath(DEBIAN_PYTHON), r["exe"]
    assert _program() + ".ext" in r["mapped"], r["mapped"]


def test_python_home_prefix_runs_hosted_and_leaves_no_pythonhome(hosted):
    r = hosted.get("/prefix").json()
    assert r["prefix"] == "/usr", r
    assert r["exe"] == os.path.realpath(DEBIAN_PYTHON), r["exe"]
    # PYTHONHOME told the Python where it lives; nothing the application
    # starts inherits it.
    assert r["pythonhome"] is None, r
    assert r["executable"].startswith("/usr/bin/python3"), r


@pytest.mark.skipif(not IS_ROOT, reason="needs root to run daemons as "
                    "another user")
def test_extension_the_daemon_user_cannot_read_means_embedded_python(
        fresh_apache):
    d = module_copy(_build_dir())
    try:
        ext = os.path.join(d, os.path.basename(_program()) + ".ext")
        os.chmod(ext, 0o600)
        a = fresh_apache("PyWorkerDaemonProcess g threads=1 user=%s\n"
                         "PyWorkerScriptAlias /h {apps}/hostinfo.wsgi "
                         "process-group=g\n" % USER1,
                         module=os.path.join(d, "mod_pyworker.so"),
                         ready=["/h"])
        r = a.get("/h").json()
        assert r["exe"] == os.path.join(d, os.path.basename(_program())), r
        lines = a.log.wait_for(r"PYW0306: ")
        assert len(lines) == 1, lines
        assert ext in lines[0] and "cannot read" in lines[0], lines
        assert "pid=%d" % r["pid"] in lines[0], lines
        started = a.log.find(r"PYW0302: .*pid=%d\b" % r["pid"])
        assert started and " started embedded in %s," % os.path.join(
            d, os.path.basename(_program())) in started[0], started
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_python_that_dies_before_the_daemon_module_loads_is_named(
        fresh_apache, venv):
    """A .pth file that exits: the group's Python dies inside its own
    start, before any daemon code runs to log why.  Python's lines reach
    the error log; the parent's line after them names the group and pid
    and says it failed to start, and a request gets 503 naming that
    cause, not a wait with no answer."""
    broken = tempfile.mkdtemp(prefix="pyw-broken-venv-", dir="/tmp")
    try:
        os.chmod(broken, 0o755)
        home = os.path.join(broken, "venv")
        shutil.copytree(venv, home, symlinks=True)
        site = glob.glob(os.path.join(home, "lib", "python3*",
                                      "site-packages"))[0]
        with open(os.path.join(site, "broken.pth"), "w") as f:
            f.write("import sys; sys.exit('pyw-test: this site is broken')\n")
        user = "user=%s" % USER1 if IS_ROOT else ""
        a = fresh_apache("PyWorkerDaemonProcess g threads=1 "
                         "connect-timeout=1 python-home=%s %s\n"
                         "PyWorkerScriptAlias /h {apps}/hostinfo.wsgi "
                         "process-group=g\n" % (home, user),
                         wait_daemons=False)
        a.log.expect(r"group=g\b", codes=[codes.DAEMON_START_FAILED,
                                          110])
        lines = a.log.wait_for(r"\bPYW0023\b.*\(group=g pid=\d+\)")
        assert lines, a.log.text()
        # The parent may learn only the value, not whether it was an
        # exit status or a signal (pyw_procmgr_exit.c).
        assert re.search(r"failed to start \(exited before it was ready, "
                         r"exit status 1( or signal 1 \(\w+\))?; its last "
                         r"output is just above\)", lines[0]), lines
        text = a.log.text()
        assert text.index("pyw-test: this site is broken") \
            < text.index(lines[0]), text
        r = a.get("/h")
        assert r.status_code == 503, r
        assert a.log.wait_for(r"\bPYW0110\b: no daemon running; last start "
                              r"failed \(exited before it was ready")
    finally:
        shutil.rmtree(broken, ignore_errors=True)

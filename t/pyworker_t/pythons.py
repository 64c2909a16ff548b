"""Pythons and builds for the tests that need a second Python or another
build of the tree (t/test_pythons.py, t/test_app_groups.py).

The second Python is a pyenv build (/root/.pyenv/versions, shared
libpython) of another major.minor than /usr/bin/python3, copied out of
root's home (mode 0700) to /opt/pyw-test/pythonX.Y so that a daemon user
can read it; the copy is kept for later runs (complete once it holds
COPY_MARKER).  A build is a copy of the source tree, configured and
built with make in the background (Build); conftest.py shares the
two-Python build between the test modules of a session.
"""
import glob
import os
import re
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
import types

import pytest

from .httpd import REPO

DEBIAN_PYTHON = "/usr/bin/python3"
PYENV_VERSIONS = "/root/.pyenv/versions"
COPY_ROOT = "/opt/pyw-test"
COPY_MARKER = ".pyw-test-complete"
BUILD_TIMEOUT = 600             # seconds; ~30 s each on an idle machine
KEEP = os.environ.get("PYW_KEEP") == "1"


# ---- the Pythons -------------------------------------------------------

def major_minor(python, env=None):
    out = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        stdout=subprocess.PIPE, check=True, timeout=30, env=env)
    return out.stdout.decode().strip()


def _pyenv_candidate(avoid):
    """(directory, 'X.Y') of the newest pyenv Python 3 with a shared
    libpython and headers whose X.Y is not `avoid`, or None."""
    found = []
    for path in glob.glob(os.path.join(PYENV_VERSIONS, "3.*")):
        m = re.match(r"^3\.(\d+)\.(\d+)$", os.path.basename(path))
        if not m:
            continue
        mm = "3.%s" % m.group(1)
        complete = all(os.path.exists(os.path.join(path, f)) for f in (
            "bin/python" + mm, "lib/libpython%s.so" % mm,
            "include/python%s/Python.h" % mm))
        if mm != avoid and complete:
            found.append(((int(m.group(1)), int(m.group(2))), path, mm))
    if not found:
        return None
    _, path, mm = max(found)
    return path, mm


def _copy_python(src, mm):
    """A readable copy of the Python at src: COPY_ROOT/pythonX.Y.  Made
    beside it under a temporary name, marked complete, then renamed, so
    a copy that has its name is whole."""
    dst = os.path.join(COPY_ROOT, "python" + mm)
    if os.path.exists(os.path.join(dst, COPY_MARKER)):
        return dst
    os.makedirs(COPY_ROOT, exist_ok=True)
    os.chmod(COPY_ROOT, 0o755)
    tmp = tempfile.mkdtemp(prefix=".python%s-" % mm, dir=COPY_ROOT)
    try:
        subprocess.run(["cp", "-a", src + "/.", tmp], check=True,
                       timeout=300)
        subprocess.run(["chmod", "-R", "go+rX", tmp], check=True, timeout=60)
        os.chmod(tmp, 0o755)
        with open(os.path.join(tmp, COPY_MARKER), "w") as f:
            f.write("copied from %s\n" % src)
        if os.path.exists(dst) and \
                not os.path.exists(os.path.join(dst, COPY_MARKER)):
            shutil.rmtree(dst)              # an older, unfinished copy
        try:
            os.rename(tmp, dst)
        except OSError:                     # a concurrent run was first
            if not os.path.exists(os.path.join(dst, COPY_MARKER)):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dst


def find_second_python():
    """The copied Python: .exe, .mm ('X.Y'), .prefix, .env (to run it:
    its own libpython, not the one its RUNPATH names in root's home), or
    None when the machine has no Python besides Debian's version."""
    debian_mm = major_minor(DEBIAN_PYTHON)
    found = _pyenv_candidate(debian_mm)
    if found is None:
        return None
    prefix = _copy_python(*found)
    mm = found[1]
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(prefix, "lib"))
    exe = os.path.join(prefix, "bin", "python" + mm)
    assert major_minor(exe, env) == mm
    return types.SimpleNamespace(exe=exe, mm=mm, prefix=prefix, env=env,
                                 debian_mm=debian_mm)


def need(py):
    if py is None:
        pytest.skip("no Python other than %s's version on this machine "
                    "(looked in %s)" % (DEBIAN_PYTHON, PYENV_VERSIONS))
    return py


# ---- builds ------------------------------------------------------------

def _copy_sources(dst):
    """The tracked files of the checkout (as they are now), or the tree
    without build outputs when it is not a git checkout."""
    try:
        files = subprocess.run(["git", "-C", REPO, "ls-files", "-z"],
                               stdout=subprocess.PIPE, check=True,
                               timeout=60).stdout.split(b"\0")
    except (OSError, subprocess.CalledProcessError):
        shutil.rmtree(dst)
        shutil.copytree(REPO, dst, ignore=shutil.ignore_patterns(
            ".git", "autom4te.cache", ".libs", "*.o", "*.lo", "*.slo",
            "*.la", "*.so", "pyworker-daemon-*", "Makefile", "configure",
            "config.status", "config.log", "pyw_build.h", "pyw_daemons.mk"))
        return
    for name in (f.decode() for f in files if f):
        src = os.path.join(REPO, name)
        if os.path.isfile(src):
            os.makedirs(os.path.dirname(os.path.join(dst, name)),
                        exist_ok=True)
            shutil.copy2(src, os.path.join(dst, name))


class Build:
    """A copy of the source tree configured with `args` and built with
    make, in the background.  wait() returns the directory, which holds
    mod_pyworker.so and the daemon programs at its top."""

    def __init__(self, name, args, env=None):
        self.name, self.args = name, args
        self.dir = tempfile.mkdtemp(prefix="pyw-build-%s-" % name,
                                    dir="/tmp")
        os.chmod(self.dir, 0o755)
        _copy_sources(self.dir)
        self.log = os.path.join(self.dir, "build.log")
        cmd = "autoconf && ./configure %s && make -j2" % " ".join(
            shlex.quote(a) for a in args)
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                ["sh", "-c", cmd], cwd=self.dir, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, env=env,
                start_new_session=True)
        self.started = time.monotonic()
        self.seconds = None

    def outcome(self):
        """(exit status or a reason, the build's output) once it ended."""
        if self.seconds is None:
            try:
                rc = self.proc.wait(BUILD_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._kill()
                rc = "timed out after %d s" % BUILD_TIMEOUT
            self.seconds = time.monotonic() - self.started
            self.rc = rc
        with open(self.log, errors="replace") as f:
            return self.rc, f.read()

    def wait(self):
        rc, out = self.outcome()
        if rc != 0:
            pytest.fail("build %s (%s) failed: %s\n%s"
                        % (self.name, " ".join(self.args), rc, out[-4000:]),
                        pytrace=False)
        print("build %s: %.0f s" % (self.name, self.seconds))
        return self.dir

    @property
    def module(self):
        return os.path.join(self.wait(), "mod_pyworker.so")

    def program(self, mm):
        return os.path.join(self.wait(), "pyworker-daemon-python" + mm)

    def _kill(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(30)

    def remove(self):
        self._kill()
        if not KEEP:
            shutil.rmtree(self.dir, ignore_errors=True)


def two_python_build(second_python):
    """Debian's Python and the second one in one build (started now)."""
    return Build("two", ["--with-python=" + DEBIAN_PYTHON,
                         "--with-python=" + second_python.exe],
                 env=second_python.env)


def module_copy(build_dir, programs=None, mode=None):
    """A directory with mod_pyworker.so of build_dir and the daemon
    programs named (default: all of them), each chmod'ed to mode."""
    d = tempfile.mkdtemp(prefix="pyw-moddir-", dir="/tmp")
    os.chmod(d, 0o755)
    shutil.copy2(os.path.join(build_dir, "mod_pyworker.so"), d)
    if programs is None:
        programs = [os.path.basename(p) for p in glob.glob(
            os.path.join(build_dir, "pyworker-daemon-*"))
            if not p.endswith(".tmp")]
    for name in programs:
        shutil.copy2(os.path.join(build_dir, name), d)
        if mode is not None:
            os.chmod(os.path.join(d, name), mode)
    return d

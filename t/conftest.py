"""Fixtures for mod_pyworker's HTTP-side tests.

Environment (set by `make check`):
  PYW_MODULE  the built mod_pyworker.so   (default: ./mod_pyworker.so)
  PYW_HTTPD   the httpd binary            (default: /usr/sbin/apache2)
  PYW_KEEP=1  keep the temp ServerRoots under /tmp for inspection

Each test module states its httpd.conf snippet at the top and gets its
own Apache through the module-scoped `apache` factory.  After every test
the error log lines it produced at level error or worse must have been
declared with `httpd.log.expect(...)`.
"""
import glob
import os
import re
import pwd
import random
import shutil
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from pyworker_t.httpd import Apache, IS_ROOT, module_path  # noqa: E402
from pyworker_t import pythons  # noqa: E402

_running = []           # every Apache started and not yet stopped
TEST_USERS = ("pywtest1", "pywtest2")
_snapshot_dir = None


def pytest_configure(config):
    """Load a private copy of the module and its daemon programs: `make`
    rewrites them, and a rebuild while Apache runs would crash it."""
    global _snapshot_dir
    src = module_path()
    if os.path.isfile(src):
        _snapshot_dir = tempfile.mkdtemp(prefix="pyw-module-", dir="/tmp")
        os.chmod(_snapshot_dir, 0o755)
        dst = os.path.join(_snapshot_dir, "mod_pyworker.so")
        shutil.copy2(src, dst)
        # The daemon programs live beside the module, where it looks.
        for daemon in glob.glob(os.path.join(os.path.dirname(src),
                                             "pyworker-daemon-*")):
            if not daemon.endswith(".tmp"):
                shutil.copy2(daemon, _snapshot_dir)
        os.environ["PYW_MODULE"] = dst


def pytest_collection_modifyitems(session, config, items):
    """PYW_TEST_ORDER=reverse or random[:SEED] runs the test modules (and
    the tests in each) in another order, to find a test that leans on
    what an earlier one left behind.  Modules stay whole, so each starts
    its Apache once."""
    order = os.environ.get("PYW_TEST_ORDER", "")
    if not order:
        return
    modules = {}
    for item in items:
        modules.setdefault(item.module.__name__, []).append(item)
    groups = list(modules.values())
    if order == "reverse":
        groups.reverse()
        for g in groups:
            g.reverse()
    elif order.startswith("random"):
        seed = order.partition(":")[2] or str(random.randrange(1 << 30))
        rng = random.Random(seed)
        rng.shuffle(groups)
        for g in groups:
            rng.shuffle(g)
        sys.stderr.write("PYW_TEST_ORDER=random:%s\n" % seed)
    else:
        raise pytest.UsageError("PYW_TEST_ORDER: reverse or random[:SEED]")
    items[:] = [item for g in groups for item in g]


def pytest_unconfigure(config):
    if _snapshot_dir:
        shutil.rmtree(_snapshot_dir, ignore_errors=True)


def _require_module():
    if not os.path.isfile(module_path()):
        pytest.fail("%s does not exist: build it with `make` (or run "
                    "./dev test)" % module_path(), pytrace=False)


def _make_factory(request, default_name):
    started = []

    def factory(snippet, ready=(), name=None, **kw):
        _require_module()
        a = Apache(name or default_name, snippet, ready=ready, **kw)
        _running.append(a)
        started.append(a)
        try:
            a.start()
        except Exception:
            _stop(a)
            raise
        return a

    return factory, started


def _stop(a):
    if a in _running:
        _running.remove(a)
    a.stop()
    problems = []
    if a.stop_errors:
        problems.append("error log lines during shutdown:\n  "
                        + "\n  ".join(a.stop_errors))
    if a.leftovers:
        problems.append("processes outlived Apache (killed): %s"
                        % a.leftovers)
    if os.environ.get("PYW_KEEP") != "1":
        a.remove()
    return problems


def _finish(started):
    problems = []
    for a in started:
        problems.extend(_stop(a))
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def apache(request):
    """Factory: apache(snippet, ready=[paths]) -> started Apache, stopped
    when the test module ends."""
    name = request.module.__name__.rsplit(".", 1)[-1]
    factory, started = _make_factory(request, name)
    yield factory
    _finish(started)


@pytest.fixture
def fresh_apache(request):
    """Same as `apache`, but stopped at the end of the test."""
    # A parametrized test's id ("[prefork]") would make the ServerRoot's
    # <Directory> a glob pattern.
    factory, started = _make_factory(
        request, re.sub(r"[^A-Za-z0-9_.-]", "-", request.node.name)[:40])
    yield factory
    _finish(started)


def _ensure_test_users():
    """{name: (uid, gid)}, creating the users with useradd -r if missing."""
    out = {}
    for name in TEST_USERS:
        try:
            pw = pwd.getpwnam(name)
        except KeyError:
            subprocess.run(["useradd", "-r", "-M", "-U", "-d", "/nonexistent",
                            "-s", "/usr/sbin/nologin", name], check=True,
                           timeout=30)
            pw = pwd.getpwnam(name)
        out[name] = (pw.pw_uid, pw.pw_gid)
    return out


@pytest.fixture(scope="session", autouse=True)
def _test_users_exist():
    """As root, the test users exist before any test runs, whatever the
    order: a snippet may name them without asking for `test_users`."""
    if IS_ROOT:
        _ensure_test_users()


@pytest.fixture(scope="session")
def test_users():
    """{name: (uid, gid)} of system users for the privilege tests (root
    only: Apache must start as root to switch users)."""
    if not IS_ROOT:
        pytest.skip("needs root: Apache must start as root to switch users")
    return _ensure_test_users()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(autouse=True)
def _error_log_window(request):
    """Fail a test on severe error log lines it did not declare."""
    yield
    failed = getattr(request.node, "rep_call", None)
    unexpected = []
    for a in list(_running):
        if failed is not None and failed.failed:
            print("--- %s error log (tail) ---\n%s" % (a.name, a.log.tail(60)))
        unexpected.extend(a.log.check())
    if unexpected:
        pytest.fail("unexpected error log lines:\n  "
                    + "\n  ".join(unexpected), pytrace=False)


@pytest.fixture(scope="session")
def second_python():
    """A Python of another version than Debian's, readable by the daemon
    users (pyworker_t/pythons.py), or None."""
    return pythons.find_second_python()


@pytest.fixture(scope="session")
def two_python(second_python):
    """The build with Debian's Python and the second one, started at its
    first use and shared by the test modules of the session (None
    without a second Python).  Call .wait() for its directory."""
    if second_python is None:
        yield None
        return
    build = pythons.two_python_build(second_python)
    try:
        yield build
    finally:
        build.remove()

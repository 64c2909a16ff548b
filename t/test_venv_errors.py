"""A python-home the daemon cannot use says what is wrong in one line
(PYW0305), not in CPython's path dump: a virtualenv of another Python
version, one whose base Python the daemon's user cannot read (a pyenv
build in root's 0700 home), or a pyvenv.cfg it cannot read.  Then the
usual back-off, and a request's 503 says that the last start failed."""
import os
import shutil
import sys
import tempfile

import pytest

from pyworker_t import codes
from pyworker_t.httpd import IS_ROOT

MINE = "%d.%d.%d" % sys.version_info[:3]     # /usr/bin/python3 runs us


@pytest.fixture
def venv_dir():
    top = tempfile.mkdtemp(prefix="pyw-venv-")
    os.chmod(top, 0o755)
    yield top
    shutil.rmtree(top, ignore_errors=True)


def _venv(top, version, home, cfg_mode=0o644):
    d = os.path.join(top, "venv")
    os.makedirs(os.path.join(d, "bin"), exist_ok=True)
    cfg = os.path.join(d, "pyvenv.cfg")
    with open(cfg, "w") as f:
        f.write("home = %s\ninclude-system-site-packages = false\n"
                "version = %s\n" % (home, version))
    os.chmod(cfg, cfg_mode)
    return d


def _private_base(top):
    """A base Python directory only root can enter (like /root/.pyenv)."""
    base = os.path.join(top, "private", "bin")
    os.makedirs(base)
    os.chmod(os.path.dirname(base), 0o700)
    return base


CASES = {
    "other-version": lambda top: (_venv(top, "3.99.1", "/opt/py399/bin"),
                                  r"virtualenv of Python 3\.99\.1"),
    "unreadable-base": lambda top: (_venv(top, MINE, _private_base(top)),
                                    r"which uid \d+ cannot read"),
    "unreadable-cfg": lambda top: (_venv(top, MINE, "/usr/bin", 0o600),
                                   r"pyvenv\.cfg cannot be read by uid"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_unusable_virtualenv_is_named_in_one_line(fresh_apache, venv_dir,
                                                  test_users, case):
    venv, says = CASES[case](venv_dir)
    a = fresh_apache("""
PyWorkerDaemonProcess bad threads=1 user=pywtest1 connect-timeout=2 \\
    python-home=%s
PyWorkerDaemonProcess good threads=1 user=pywtest1
PyWorkerScriptAlias /bad {apps}/hello.wsgi process-group=bad
PyWorkerScriptAlias /good {apps}/hello.wsgi process-group=good
""" % venv, ready=["/good"], wait_daemons=False)
    a.log.expect(r"group=bad\b", codes=[codes.BAD_VENV,
                                        codes.DAEMON_START_FAILED,
                                        codes.PYTHON_START, 110])
    lines = a.log.wait_for(r"\bPYW%04d\b.*group=bad\b" % codes.BAD_VENV)
    assert lines and "python-home %s" % venv in lines[0], a.log.tail()
    assert a.log.find(says), lines
    assert a.log.wait_for(r"\bPYW%04d\b.*group=bad\b"
                          % codes.DAEMON_START_FAILED)
    # One line of ours per attempt; none of CPython's start-up noise.
    assert not a.log.find(r"Could not find platform|init_fs_encoding|"
                          r"Python path configuration")
    r = a.get("/bad")
    assert r.status_code == 503
    assert a.log.wait_for(r"\bPYW0110\b: no daemon running; last start "
                          r"failed \(exit status 254")
    assert a.get("/good").status_code == 200

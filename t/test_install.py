"""`make install` puts the module, one daemon program per --with-python,
the a2enmod files, pyworker-migrate and pyworker-express in Apache's
layout; `make
uninstall` takes every one of them away again.  Both run into a DESTDIR,
never the real system."""
import os
import subprocess

import pytest

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _make(*args):
    return subprocess.run(["make", "-s", "-C", TOP] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=600, text=True)


def _files(root):
    out = set()
    for d, _, names in os.walk(root):
        out.update(os.path.relpath(os.path.join(d, n), root) for n in names)
    return out


def test_install_then_uninstall_into_destdir(tmp_path):
    if not os.path.exists(os.path.join(TOP, "Makefile")):
        pytest.fail("no Makefile: run ./configure (./dev build) first")
    dest = str(tmp_path / "root")
    r = _make("install", "DESTDIR=" + dest)
    assert r.returncode == 0, r.stdout
    files = _files(dest)
    modules = [f for f in files if f.endswith("/mod_pyworker.so")]
    assert len(modules) == 1, files
    moddir = os.path.dirname(modules[0])
    daemons = [f for f in files if os.path.basename(f).startswith(
        "pyworker-daemon-python") and not f.endswith(".ext")]
    assert daemons and all(os.path.dirname(d) == moddir for d in daemons)
    for d in daemons:
        assert os.access(os.path.join(dest, d), os.X_OK)
        # Each program's extension module, which it execs its Python with,
        # readable by every daemon user.
        mode = os.stat(os.path.join(dest, d + ".ext")).st_mode
        assert mode & 0o777 == 0o644, oct(mode)
    assert any(f.endswith("mods-available/pyworker.load") for f in files)
    assert any(f.endswith("mods-available/pyworker.conf") for f in files)
    tools = [f for f in files if f.endswith("sbin/pyworker-migrate")]
    assert len(tools) == 1, files
    assert os.access(os.path.join(dest, tools[0]), os.X_OK)
    # The launcher, outside a checkout, uses the installed module.
    express = [f for f in files if f.endswith("bin/pyworker-express")]
    assert len(express) == 1, files
    out = subprocess.run([os.path.join(dest, express[0]), "start", "--help"],
                         capture_output=True, text=True, timeout=60).stdout
    assert "(default: /%s/mod_pyworker.so)" % moddir in " ".join(out.split())

    r = _make("uninstall", "DESTDIR=" + dest)
    assert r.returncode == 0, r.stdout
    assert _files(dest) == set()

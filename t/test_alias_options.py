"""Per-alias and per-group request checks from mod_wsgi: the
pass-authorization= option of PyWorkerScriptAlias (over
PyWorkerPassAuthorization), and script-user= / script-group= of
PyWorkerDaemonProcess (only scripts of that owner run in the group)."""
import os
import pwd
import shutil
import time

import pytest

from pyworker_t.httpd import IS_ROOT, configtest
from pyworker_t.swap import script_dirs, swapped_while_queued

CONF = """
PyWorkerDaemonProcess opts threads=2 display-name=pyw-opts
PyWorkerScriptAlias /auth-on {apps}/environ.wsgi process-group=opts \\
    pass-authorization=On
PyWorkerScriptAlias /auth-off {apps}/environ.wsgi process-group=opts \\
    pass-authorization=off
PyWorkerScriptAlias /auth-dir {apps}/environ.wsgi process-group=opts
<Location /auth-off>
    PyWorkerPassAuthorization On
</Location>
<Location /auth-dir>
    PyWorkerPassAuthorization On
</Location>
PyWorkerScriptAlias /plain {apps}/environ.wsgi process-group=opts
"""

AUTH = {"Authorization": "Basic dTpw"}


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/plain"])


@pytest.mark.parametrize("path,passed", [
    ("/auth-on", True),      # the alias says On
    ("/auth-off", False),    # the alias says Off: wins over the Location
    ("/auth-dir", True),     # no alias option: the Location decides
    ("/plain", False),       # default Off
])
def test_pass_authorization_per_alias(httpd, path, passed):
    r = httpd.get(path, headers=AUTH)
    assert r.status_code == 200
    env = r.json()["environ"]
    assert ("HTTP_AUTHORIZATION" in env) == passed
    if passed:
        assert env["HTTP_AUTHORIZATION"] == "Basic dTpw"


def test_a_bad_pass_authorization_value_is_refused():
    rc, out = configtest("PyWorkerDaemonProcess g1\n"
                         "PyWorkerScriptAlias /a {apps}/environ.wsgi "
                         "process-group=g1 pass-authorization=maybe\n")
    assert rc != 0 and "pass-authorization" in out, out


@pytest.mark.skipif(not IS_ROOT, reason="chown needs root")
def test_script_user_and_group_run_only_scripts_they_own(fresh_apache):
    a = fresh_apache("""
PyWorkerDaemonProcess mine threads=1 script-user=pywtest1 \\
    display-name=pyw-mine
PyWorkerDaemonProcess ours threads=1 script-group=pywtest2 \\
    display-name=pyw-ours
PyWorkerScriptAlias /mine {run}/scripts/mine.wsgi process-group=mine
PyWorkerScriptAlias /other {run}/scripts/other.wsgi process-group=mine
PyWorkerScriptAlias /ours {run}/scripts/ours.wsgi process-group=ours
""", wait_daemons=True)
    scripts = a.path("run", "scripts")
    os.makedirs(scripts, exist_ok=True)
    owners = {"mine": ("pywtest1", "pywtest1"), "other": ("root", "root"),
              "ours": ("root", "pywtest2")}
    for name, (user, group) in owners.items():
        path = os.path.join(scripts, name + ".wsgi")
        shutil.copy(a.path("apps", "hello.wsgi"), path)
        shutil.chown(path, user, group)
    assert a.get("/mine").status_code == 200
    assert a.get("/ours").status_code == 200
    a.log.expect(r"\bPYW0106\b")
    mark = a.log.mark()
    assert a.get("/other").status_code == 403
    line = a.log.wait_for(r"\bPYW0106\b.*script-user=pywtest1", since=mark)
    assert line and "uri=/other" in line[0], a.log.tail()


@pytest.mark.parametrize("option", ["script-user=pyw-no-such-user",
                                    "script-group=pyw-no-such-group"])
def test_unknown_script_owner_is_refused(option):
    rc, out = configtest("PyWorkerDaemonProcess g1 %s\n" % option)
    assert rc != 0 and option.split("=")[1] in out, out


@pytest.mark.skipif(not IS_ROOT, reason="chown needs root")
def test_script_swapped_after_apaches_check_does_not_run(fresh_apache):
    """Apache checks the script's owner when the request arrives; the
    daemon opens the file when a worker takes the request.  A tenant who
    swaps a symlink in between (here while the group's only worker is
    busy) must not get its own file run: the daemon checks the file it
    opened."""
    a = fresh_apache("""
PyWorkerDaemonProcess gb threads=1 user=pywtest2 script-user=pywtest2 \\
    display-name=pyw-gb
PyWorkerScriptAlias /b {run}/scripts/b/slow.wsgi process-group=gb
PyWorkerScriptAlias /x {run}/scripts/a/x.wsgi process-group=gb
""", wait_daemons=True)
    b_dir, a_dir = script_dirs(a)
    other = os.path.join(a_dir, "other.wsgi")
    shutil.copy(a.path("apps", "whoami.wsgi"), other)
    shutil.chown(other, "pywtest1", "pywtest1")
    link = os.path.join(a_dir, "x.wsgi")
    os.symlink(os.path.join(b_dir, "slow.wsgi"), link)
    a.log.expect(r"PermissionError|PYW0311")
    mark = a.log.mark()
    r = swapped_while_queued(a, "/x", link, other)
    assert r.status_code == 500, r.text
    line = a.log.wait_for(r"PermissionError: .*x\.wsgi is owned by uid %d"
                          % pwd.getpwnam("pywtest1").pw_uid, since=mark)
    assert line, a.log.tail()

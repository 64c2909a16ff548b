"""Configuration: `apache2 -t` accepts every directive and option of this
issue and stops on anything else with a message naming it.

Each case is the base httpd.conf plus one snippet; no server is started
except by the last test.
"""
import re

import pytest

from pyworker_t.httpd import IS_ROOT, configtest

USER = "user=www-data group=www-data" if IS_ROOT else ""

VALID = """
PyWorkerSocketPrefix {run}/pyw
PyWorkerPythonHome /usr
PyWorkerPythonPath {apps}/lib
PyWorkerDaemonProcess site1 processes=2 threads=8 %(user)s \\
    home={apps} python-home=/usr python-path={apps}/lib:{apps} \\
    display-name=%%{GROUP} lang=C.UTF-8 locale=C.UTF-8 umask=0022 \\
    cpu-priority=0 virtual-memory-limit=8G stack-size=1M \\
    python-eggs=/tmp send-buffer-size=128K receive-buffer-size=128K \\
    response-socket-timeout=30
PyWorkerDaemonProcess site2
PyWorkerImportScript {apps}/preload.wsgi process-group=site1 \\
    application-group=%%{GLOBAL}
PyWorkerScriptAlias /site1 {apps}/hello.wsgi process-group=site1 \\
    application-group=%%{GLOBAL}
PyWorkerScriptAlias /site2 {apps}/hello.wsgi process-group=site2
PyWorkerScriptAliasMatch ^/m/([a-z]+) {apps}/$1.wsgi process-group=site2 \
    callable-object=app
<Location /other>
    PyWorkerProcessGroup site1
    PyWorkerApplicationGroup %%{GLOBAL}
    PyWorkerCallableObject app
    PyWorkerPassAuthorization On
    PyWorkerChunkedRequest Off
</Location>
<VirtualHost 127.0.0.1:{port}>
    ServerName vh.test
    PyWorkerDaemonProcess vh1 threads=2
    PyWorkerScriptAlias / {apps}/hello.wsgi process-group=vh1
</VirtualHost>
""" % {"user": USER}


def test_valid_config_with_every_directive_and_option_passes():
    rc, out = configtest(VALID)
    assert rc == 0, out
    assert "Syntax OK" in out


def test_module_alone_without_directives_passes():
    rc, out = configtest("")
    assert rc == 0, out


def _rejected(snippet):
    rc, out = configtest(snippet)
    assert rc != 0, "configtest accepted:\n%s\n%s" % (snippet, out)
    return out


@pytest.mark.parametrize("options,named", [
    ("foo=1", "foo"),
    ("threads=0", "threads"),
    ("threads=abc", "threads"),
    ("threads=", "threads"),
    ("processes=-1", "processes"),
    ("processes=0", "processes"),
    ("umask=0999", "umask"),
    ("threads=2 threads=3", "threads"),
    ("display-name", "display-name"),
    # Too small to run: every request killed the daemon (SIGSEGV), or
    # failed (500); mod_wsgi refuses a header buffer under 8K too.
    ("stack-size=1", "stack-size"),
    ("stack-size=32K", "stack-size"),
    ("header-buffer-size=1", "header-buffer-size"),
])
def test_bad_daemon_option_is_rejected_by_name(options, named):
    out = _rejected("PyWorkerDaemonProcess g1 %s\n" % options)
    assert named in out, out


@pytest.mark.parametrize("option", [
    "socket-rotation=On",
    "server-metrics=On",
    "chroot=/srv/jail",
    "response-buffer-size=65536",
])
def test_option_of_a_later_issue_is_refused_as_not_supported_yet(option):
    out = _rejected("PyWorkerDaemonProcess g1 %s\n" % option)
    name = option.split("=")[0]
    assert name in out, out
    assert re.search(r"not (yet )?supported|unsupported", out, re.I), out


# Application group names and forms: t/test_app_groups.py.


def test_duplicate_daemon_group_is_rejected():
    out = _rejected("PyWorkerDaemonProcess dupgroup\n"
                    "PyWorkerDaemonProcess dupgroup threads=2\n")
    assert "dupgroup" in out, out


def test_unknown_user_is_rejected():
    out = _rejected("PyWorkerDaemonProcess g1 user=pyw-no-such-user\n")
    assert "pyw-no-such-user" in out, out


@pytest.mark.parametrize("options", ["user=root", "user=#0",
                                     "user=www-data group=root",
                                     "user=www-data group=#0"])
def test_root_is_refused_by_configtest(options):
    """The daemon refuses to run Python as root: configtest passed, then
    every start failed (PYW0207) in a back-off loop, every request 503."""
    out = _rejected("PyWorkerDaemonProcess g1 %s\n" % options)
    assert "daemons never run as root" in out, out


def test_a_socket_path_too_long_is_refused_by_configtest():
    """It passed configtest, and the next start or graceful restart took
    the whole of Apache down (PYW0010, File name too long)."""
    out = _rejected("PyWorkerSocketPrefix /run/%s/p\n"
                    "PyWorkerDaemonProcess %s\n" % ("d" * 40, "g" * 50))
    assert "PYW0008" in out and "g" * 50 in out, out


def test_a_socket_prefix_under_a_file_is_refused_by_configtest():
    """It passed configtest, and the graceful restart that read it took
    all of Apache down (PYW0010, then AH00020)."""
    out = _rejected("PyWorkerSocketPrefix /etc/passwd/pyw\n"
                    "PyWorkerDaemonProcess g1\n")
    assert "PYW0008" in out and "/etc/passwd is not a directory" in out, out


@pytest.mark.parametrize("target", ["{apps}/", "{apps}"])
def test_an_alias_to_a_directory_is_refused_by_configtest(target):
    """mod_wsgi's directory form passed configtest, and Apache's core then
    answered every URL of it 500 (AH00033) naming no group."""
    out = _rejected("PyWorkerDaemonProcess g1\n"
                    "PyWorkerScriptAlias /d %s process-group=g1\n" % target)
    assert "is a directory" in out and "PyWorkerScriptAliasMatch" in out, out


@pytest.mark.parametrize("option,words", [
    ("deadlock-timeout=100ms", "deadlock-timeout is at least 1 second"),
    ("memory-limit=512", "memory-limit is at least 32M"),
])
def test_limits_that_could_only_misbehave_are_refused(option, words):
    """Under the watchdog's 250 ms look, deadlock-timeout saw deadlocks
    that were not; a memory-limit under a daemon's size at rest replaced
    every new daemon at once, for ever."""
    out = _rejected("PyWorkerDaemonProcess g1 %s\n" % option)
    assert words in out, out


def test_a_socket_user_no_account_has_is_refused():
    """It passed, and every request got 503 (PYW0110, Permission
    denied) at the socket: as mod_wsgi, refuse it."""
    out = _rejected("PyWorkerDaemonProcess g1 socket-user=#99999\n")
    assert "socket-user: unknown user '#99999'" in out, out


def test_a_missing_home_is_named_by_configtest():
    rc, out = configtest("PyWorkerDaemonProcess g1 home=/nonexistent/pyw\n")
    assert rc == 0 and "PYW0007" in out and "/nonexistent/pyw" in out, out


def test_unknown_unix_group_is_rejected():
    out = _rejected("PyWorkerDaemonProcess g1 group=pyw-no-such-group\n")
    assert "pyw-no-such-group" in out, out


@pytest.mark.parametrize("snippet,named", [
    ("PyWorkerDaemonProcess g1\n"
     "PyWorkerScriptAlias /a {apps}/hello.wsgi proces-group=g1\n",
     "proces-group"),
    ("PyWorkerDaemonProcess\n", "PyWorkerDaemonProcess"),
    ("PyWorkerScriptAlias /a\n", "PyWorkerScriptAlias"),
    ("PyWorkerScriptAliasMatch ^/(( {apps}/x.wsgi\n",
     "PyWorkerScriptAliasMatch"),
    ("<Location /a>\n  PyWorkerChunkedRequest Maybe\n</Location>\n",
     "PyWorkerChunkedRequest"),
    ("<Location /a>\n  PyWorkerPassAuthorization Maybe\n</Location>\n",
     "PyWorkerPassAuthorization"),
    ("<VirtualHost 127.0.0.1:{port}>\n  PyWorkerSocketPrefix /tmp/x\n"
     "</VirtualHost>\n", "PyWorkerSocketPrefix"),
])
def test_bad_directive_use_is_rejected(snippet, named):
    out = _rejected(snippet)
    assert named in out, out


def test_module_without_groups_serves_static_files(fresh_apache):
    httpd = fresh_apache("", ready=["/index.html"])
    r = httpd.get("/index.html")
    assert r.status_code == 200
    assert "pyworker test" in r.text
    assert httpd.all_daemon_pids() == []


@pytest.mark.parametrize("snippet,named", [
    ("PyWorkerDaemonProcess g python-home=/nonexistent-pyw-venv\n",
     "/nonexistent-pyw-venv"),
    ("PyWorkerDaemonProcess g python-home={apps}/hello.wsgi\n",
     "not a directory"),
    ("PyWorkerPythonHome /nonexistent-pyw-venv\n", "/nonexistent-pyw-venv"),
    ("PyWorkerDaemonProcess g\n"
     "PyWorkerImportScript {apps}/nonexistent-pyw.wsgi process-group=g\n",
     "nonexistent-pyw.wsgi"),
])
def test_paths_the_daemon_needs_must_exist(snippet, named):
    out = _rejected(snippet)
    assert "PYW0006" in out and named in out, out


def test_missing_script_or_python_path_is_a_warning_naming_the_line():
    rc, out = configtest("""
PyWorkerPythonPath /nonexistent-pyw-path-a
PyWorkerDaemonProcess g python-path={apps}/lib:/nonexistent-pyw-path-b
PyWorkerScriptAlias /x {apps}/nonexistent-pyw-app.wsgi process-group=g
""")
    assert rc == 0, out
    warnings = [l for l in out.splitlines() if "PYW0007" in l]
    assert len(warnings) == 3, out
    assert "nonexistent-pyw-path-a does not exist" in warnings[0]
    assert "nonexistent-pyw-path-b does not exist" in warnings[1]
    assert "nonexistent-pyw-app.wsgi does not exist" in warnings[2]
    assert "404" in warnings[2] and "httpd.conf:" in warnings[2]

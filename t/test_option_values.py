"""Option values are read as mod_wsgi reads them (quotes stripped, so
Django's documented lang='en_US.UTF-8' works), and a daemon starts with
a fixed, small environment and a command line that shows no settings.
"""
import os

from pyworker_t.httpd import IS_ROOT, configtest

APACHE_SECRET = "pyw-apache-env-7c41f0"

CONF = """
PyWorkerDaemonProcess quoted threads=2 lang='C.UTF-8' locale="C.UTF-8" \\
    display-name='pyw quoted title' python-path='{apps}/lib' \\
    python-eggs="/tmp"
PyWorkerDaemonProcess plain threads=1
PyWorkerScriptAlias /quoted {apps}/envinfo.wsgi process-group='quoted'
PyWorkerScriptAlias /plain {apps}/envinfo.wsgi process-group=plain
"""

# What a daemon may find in os.environ: Apache's PATH, TZ, LANG, LC_ALL,
# what the daemon sets itself (user, lang/locale, python-eggs) and what
# Python's C-locale coercion may add.
ALLOWED = {"PATH", "TZ", "LANG", "LC_ALL", "LC_CTYPE", "HOME", "USER",
           "LOGNAME", "PYTHON_EGG_CACHE"}


def _start(apache):
    return apache(CONF, ready=["/quoted", "/plain"],
                  env={"PYW_T_SECRET": APACHE_SECRET, "TZ": "UTC"})


def test_quoted_values_lose_their_quotes(apache):
    a = _start(apache)
    info = a.get("/quoted").json()
    assert info["env"]["LANG"] == "C.UTF-8"
    assert info["env"]["LC_ALL"] == "C.UTF-8"
    assert info["env"]["PYTHON_EGG_CACHE"] == "/tmp"
    assert info["argv"] == ["pyw quoted title"]
    assert os.path.join(a.values()["apps"], "lib") in info["path"]


def test_daemon_environment_is_only_what_it_needs(apache):
    a = _start(apache)
    for path in ("/quoted", "/plain"):
        env = a.get(path).json()["env"]
        assert APACHE_SECRET not in env.values()
        assert "PYW_T_SECRET" not in env
        assert set(env) <= ALLOWED, set(env) - ALLOWED
        assert env["TZ"] == "UTC"
        assert env["PATH"]


def test_command_line_shows_program_and_group_never_settings(apache):
    a = _start(apache)
    argv = a.get("/plain").json()["argv"]
    assert len(argv) == 2, argv
    assert os.path.basename(argv[0]).startswith("pyworker-daemon-python")
    assert argv[1] == "plain"


def test_quoted_value_with_a_space_is_one_value():
    rc, out = configtest("PyWorkerDaemonProcess g display-name='a b c' "
                         "threads=\"2\"\n")
    assert rc == 0, out
    rc, out = configtest("PyWorkerDaemonProcess g threads='x y'\n")
    assert rc != 0
    assert "threads=x y" in out

"""pyworker-migrate (tools/pyworker-migrate): Apache configuration written
for mod_wsgi in, mod_pyworker configuration and flags out.

Each t/migrate/NAME.conf is a mod_wsgi configuration written for these
tests after the daemon-mode set-ups that mod_wsgi's and Django's
documentation describe; NAME.expected is the tool's output for it
(regenerate with `cd t/migrate && ../../tools/pyworker-migrate NAME.conf
> NAME.expected`, then read the diff).  Fixture paths live under /srv/:
for configtest they are mapped to a temp tree holding the directories and
files they name, and base httpd.conf + the converted text must pass
`apache2 -t` with the built module.
"""
import glob
import os
import re
import shutil
import subprocess
import tempfile

import pytest

from pyworker_t.httpd import MODDIR, configtest

T_DIR = os.path.dirname(os.path.abspath(__file__))
TOOL = os.path.join(os.path.dirname(T_DIR), "tools", "pyworker-migrate")
FIXTURES = os.path.join(T_DIR, "migrate")
NAMES = sorted(os.path.basename(p)[:-len(".conf")]
               for p in glob.glob(os.path.join(FIXTURES, "*.conf")))

# Modules auth.conf needs beyond the harness's base set.
EXTRA_MODULES = [("authn_core_module", "mod_authn_core.so"),
                 ("auth_basic_module", "mod_auth_basic.so"),
                 ("authz_user_module", "mod_authz_user.so")]

# name: [(original line starts with, converted line starts with, words the
# flag right above the converted line must contain)].  The flag must also
# be on stderr as NAME.conf:LINE: of the original line.
FLAGS = {
    "quick-start": [
        ("WSGIDaemonProcess shop", "PyWorkerDaemonProcess shop",
         "'(pyworker:NAME)', not '(wsgi:NAME)'"),
        ("WSGIScriptAlias /store", "PyWorkerScriptAlias /store",
         "add 'PyWorkerChunkedRequest Off'"),
    ],
    "django-daemon": [
        ("WSGIScriptAlias /", "PyWorkerScriptAlias /",
         "mod_wsgi answered chunked request bodies with 411"),
    ],
    "django-embedded": [
        ("WSGIScriptAlias /", "PyWorkerScriptAlias /",
         "mod_pyworker has no embedded mode"),
        ("WSGIScriptAlias /", "PyWorkerScriptAlias /",
         "No WSGIDaemonProcess is defined in these files"),
        ("WSGIPythonPath", "PyWorkerPythonPath", "in embedded mode only"),
    ],
    "preload": [
        ("WSGIRestrictEmbedded On", "# WSGIRestrictEmbedded On",
         "no embedded mode"),
        ("WSGIPythonOptimize 1", "# WSGIPythonOptimize 1",
         "PYTHONOPTIMIZE does not reach them"),
        ("WSGIDaemonProcess wiki", "PyWorkerDaemonProcess wiki",
         "option response-buffer-size=1048576 removed: mod_pyworker does "
         "not support it yet"),
        ("WSGIDaemonProcess tracker", "PyWorkerDaemonProcess tracker",
         "option chroot=/srv/jail removed"),
        ("WSGIDaemonProcess tracker", "PyWorkerDaemonProcess tracker",
         "add queue-limit=N to bound them"),
        ("WSGIScriptAlias /wiki", "PyWorkerScriptAlias /wiki",
         "PyWorkerChunkedRequest Off"),
        ("WSGIScriptAlias /tracker-api", "PyWorkerScriptAlias /tracker-api",
         "share the daemon's main interpreter"),
        ("WSGIScriptReloading On", "PyWorkerScriptReloading On",
         "restarts its whole daemon group one process at a time"),
    ],
    "oddities": [
        ("wsgidaemonprocess", "PyWorkerDaemonProcess  gallery",
         "option newrelic-config-file=/srv/newrelic.ini removed"),
        ("wsgidaemonprocess", "PyWorkerDaemonProcess  gallery",
         "option keep-alive=On removed: not a mod_wsgi option"),
        ("WsgiSocketPrefix run/wsgi", "PyWorkerSocketPrefix run/wsgi",
         "relative to DefaultRuntimeDir"),
        ("WSGIPythonEggs", "# WSGIPythonEggs", "python-eggs=DIR"),
        ("WSGIRestrictSignal Off", "# WSGIRestrictSignal Off",
         "cannot be turned off"),
        ("WSGIFancyFeature On", "# WSGIFancyFeature On",
         "unknown mod_wsgi directive"),
        ("WSGIScriptAlias /photos", "PyWorkerScriptAlias /photos",
         "Suggestion: 'process-group=gallery'"),
        ("WSGIScriptAlias /thumbs/", "# WSGIScriptAlias /thumbs/",
         "the target is a directory"),
        ("WSGIScriptAlias /old", "PyWorkerScriptAlias /old",
         "application-group=%{SCRIPT} removed"),
        ("WSGIRestrictProcess", "PyWorkerRestrictProcess gallery",
         "'%{GLOBAL}' removed from the list"),
        ("AddHandler wsgi-script", "AddHandler pyworker-script",
         "handler wsgi-script renamed pyworker-script"),
        ("WSGIProcessGroup %{GLOBAL}", "# WSGIProcessGroup %{GLOBAL}",
         "Suggestion: 'PyWorkerProcessGroup gallery'"),
    ],
    "auth": [
        ("AuthBasicProvider wsgi", "# AuthBasicProvider wsgi",
         "no 'wsgi' provider"),
        ("WSGIAuthUserScript", "# WSGIAuthUserScript", "no 'wsgi' provider"),
        ("WSGIAuthGroupScript", "# WSGIAuthGroupScript",
         "no 'wsgi-group' provider"),
        ("Require wsgi-group", "Require all denied",
         "replaced by 'Require all denied'"),
    ],
    "plain": [],
}


def run(*args, stdin=None, cwd=FIXTURES):
    return subprocess.run([TOOL] + list(args), input=stdin, cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=60)


def fixture(name, ext):
    with open(os.path.join(FIXTURES, name + ext)) as f:
        return f.read()


def flag_above(lines, i):
    """The text of the flags right above lines[i], joined."""
    block = []
    while i > 0 and re.match(r"\s*#( pyworker-migrate: |     )",
                             lines[i - 1]):
        i -= 1
        block.insert(0, re.sub(r"^\s*#( pyworker-migrate:)?\s+", "",
                               lines[i]))
    return " ".join(block)


def line_index(lines, start):
    for i, line in enumerate(lines):
        if line.strip().startswith(start):
            return i
    raise AssertionError("no line starts with %r" % start)


def make_tree(text, top):
    """Create the directories and files the configuration names."""
    for path in set(re.findall(re.escape(top) + r"/[^\s\"':]*", text)):
        if "*" in path or "$" in path:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        elif path.endswith("/") or "." not in os.path.basename(path):
            os.makedirs(path, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            open(path, "a").close()
    for d, dirs, files in os.walk(top):
        os.chmod(d, 0o755)


@pytest.mark.parametrize("name", NAMES)
def test_output_matches_the_committed_expected_output(name):
    r = run(name + ".conf")
    assert r.returncode == 0, r.stderr
    assert r.stdout == fixture(name, ".expected")


@pytest.mark.parametrize("name", NAMES)
def test_converted_configuration_passes_configtest(name):
    top = tempfile.mkdtemp(prefix="pyw-migrate-", dir="/tmp")
    try:
        text = fixture(name, ".expected").replace("/srv/", top + "/")
        # Nothing of mod_wsgi's is left (it may be installed here too).
        live = "".join(line for line in text.splitlines(True)
                       if not line.lstrip().startswith("#"))
        assert not re.search(r"(?im)^\s*(WSGI|LoadModule\s+wsgi_module|"
                             r"<IfModule\s+!?(mod_wsgi|wsgi_module))", live)
        assert "wsgi-script" not in live
        make_tree(text, top)
        loads = "".join("<IfModule !%s>\nLoadModule %s %s/%s\n</IfModule>\n"
                        % (m, m, MODDIR, so) for m, so in EXTRA_MODULES)
        rc, out = configtest(loads + text, name="migrate-" + name)
        assert rc == 0, out
        assert "Syntax OK" in out
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.mark.parametrize("name", NAMES)
def test_each_refused_or_different_item_is_flagged(name):
    r = run(name + ".conf")
    original = fixture(name, ".conf").splitlines()
    out = r.stdout.splitlines()
    for before, after, words in FLAGS[name]:
        assert words in flag_above(out, line_index(out, after)), \
            (after, words)
        where = "%s.conf:%d: " % (name, line_index(original, before) + 1)
        assert any(line.startswith(where) and words in line
                   for line in r.stderr.splitlines()), (where, words)
    # One stderr line per flag written, and the total on the last line.
    flags = [line for line in r.stderr.splitlines()
             if re.match(r"%s\.conf:\d+: " % re.escape(name), line)
             and "left alone" not in line]
    assert len(flags) == r.stdout.count("# pyworker-migrate: ")
    assert r.stderr.splitlines()[-1].endswith(" %d flag(s)" % len(flags))


def test_include_lines_are_left_alone_and_reported():
    r = run("oddities.conf")
    assert "    IncludeOptional /srv/conf.d/*.conf\n" in r.stdout
    assert re.search(r"^oddities\.conf:\d+: IncludeOptional left alone",
                     r.stderr, re.M)


def test_file_without_wsgi_lines_is_left_unchanged(tmp_path):
    text = fixture("plain", ".conf")
    r = run("plain.conf")
    assert r.returncode == 0
    assert r.stdout == text
    conf = tmp_path / "plain.conf"
    shutil.copy(os.path.join(FIXTURES, "plain.conf"), conf)
    mtime = os.stat(conf).st_mtime_ns
    r = run("--in-place", str(conf))
    assert r.returncode == 0, r.stderr
    assert "left unchanged" in r.stderr
    assert conf.read_text() == text
    assert os.stat(conf).st_mtime_ns == mtime
    assert sorted(os.listdir(tmp_path)) == ["plain.conf"]


def test_in_place_rewrites_and_keeps_a_backup(tmp_path):
    conf = tmp_path / "quick-start.conf"
    shutil.copy(os.path.join(FIXTURES, "quick-start.conf"), conf)
    os.chmod(conf, 0o640)
    r = run("-i", str(conf))
    assert r.returncode == 0, r.stderr
    assert conf.read_text() == fixture("quick-start", ".expected")
    assert (tmp_path / "quick-start.conf.bak").read_text() == \
        fixture("quick-start", ".conf")
    assert os.stat(conf).st_mode & 0o777 == 0o640
    # Converted once: a second run finds nothing and keeps the backup.
    r = run("-i", str(conf))
    assert r.returncode == 0, r.stderr
    assert "left unchanged" in r.stderr
    assert (tmp_path / "quick-start.conf.bak").read_text() == \
        fixture("quick-start", ".conf")


def test_in_place_suffix_and_an_existing_backup(tmp_path):
    conf = tmp_path / "site.conf"
    shutil.copy(os.path.join(FIXTURES, "django-daemon.conf"), conf)
    (tmp_path / "site.conf.orig").write_text("older backup\n")
    r = run("--in-place", "--suffix", ".orig", str(conf))
    assert r.returncode == 1
    assert "site.conf.orig exists" in r.stderr
    assert conf.read_text() == fixture("django-daemon", ".conf")
    assert (tmp_path / "site.conf.orig").read_text() == "older backup\n"
    r = run("--in-place", "--suffix", ".pre-pyworker", str(conf))
    assert r.returncode == 0, r.stderr
    assert conf.read_text() == fixture("django-daemon", ".expected")
    assert (tmp_path / "site.conf.pre-pyworker").read_text() == \
        fixture("django-daemon", ".conf")


def test_in_place_keeps_a_symlink_and_rewrites_its_target(tmp_path):
    (tmp_path / "sites-available").mkdir()
    (tmp_path / "sites-enabled").mkdir()
    target = tmp_path / "sites-available" / "shop.conf"
    shutil.copy(os.path.join(FIXTURES, "quick-start.conf"), target)
    link = tmp_path / "sites-enabled" / "shop.conf"
    link.symlink_to("../sites-available/shop.conf")
    r = run("-i", str(link))
    assert r.returncode == 0, r.stderr
    assert link.is_symlink()
    assert target.read_text() == fixture("quick-start", ".expected")
    assert (tmp_path / "sites-available" / "shop.conf.bak").exists()
    assert os.listdir(tmp_path / "sites-enabled") == ["shop.conf"]


def test_groups_defined_in_one_file_serve_aliases_in_another(tmp_path):
    (tmp_path / "wsgi.conf").write_text(
        "WSGIDaemonProcess site threads=4\nWSGIProcessGroup site\n")
    (tmp_path / "site.conf").write_text(
        "<VirtualHost *:80>\n    WSGIScriptAlias / /srv/site/app.wsgi\n"
        "</VirtualHost>\n")
    r = run("wsgi.conf", "site.conf", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "embedded mode" not in r.stdout
    assert "# pyworker-migrate: file wsgi.conf\n" \
           "PyWorkerDaemonProcess site threads=4\n" in r.stdout
    assert "# pyworker-migrate: file site.conf\n" in r.stdout
    assert "    PyWorkerScriptAlias / /srv/site/app.wsgi\n" in r.stdout


def test_values_are_written_as_both_parsers_read_them():
    conf = r"""LoadModule wsgi_module modules/mod_wsgi.so
WSGIDaemonProcess g lang= C.UTF-8 display-name="my \"site\"" \
    python-path='/a b' threads=2
WSGIScriptAlias / /srv/x.py process-group=g application-group=''
"""
    r = run("--module-path", "/opt/pyw/mod_pyworker.so", "-", stdin=conf)
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines(True)
             if not line.startswith("#")]
    want = r"""LoadModule pyworker_module /opt/pyw/mod_pyworker.so
PyWorkerDaemonProcess g lang=C.UTF-8 display-name="my \"site\"" \
    python-path='/a b' threads=2
PyWorkerScriptAlias / /srv/x.py process-group=g application-group=%{GLOBAL}
"""
    assert "".join(lines) == want
    rc, out = configtest("".join(lines[1:]), name="migrate-values")
    assert rc == 0, out


def test_htaccess_directives_mod_pyworker_keeps_out_of_htaccess(tmp_path):
    (tmp_path / ".htaccess").write_text(
        "WSGIScriptReloading Off\nWSGIChunkedRequest Off\n"
        "WSGIPassAuthorization On\nWSGIProcessGroup site\n"
        "WSGIErrorOverride On\nWSGIMapHEADToGET Off\n")
    r = run("-i", ".htaccess", cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    text = (tmp_path / ".htaccess").read_text()
    assert "# WSGIScriptReloading Off\n" in text
    assert "# WSGIChunkedRequest Off\n" in text
    assert "PyWorkerPassAuthorization On\n" in text
    assert "PyWorkerProcessGroup site\n" in text
    assert "PyWorkerErrorOverride On\n" in text
    assert "PyWorkerMapHEADToGET Off\n" in text
    assert text.count("not allowed in .htaccess") == 2
    assert "AllowOverride AuthConfig" in text


def flag_on(out, start):
    """The flags right above the converted line starting with start."""
    lines = out.splitlines()
    return flag_above(lines, line_index(lines, start))


def test_option_given_twice_keeps_the_last_value_and_says_so():
    """mod_wsgi uses the last of an option given twice (templated
    configurations write such lines); the tool kept both, which
    mod_pyworker's configtest refuses ("given twice"), without a flag."""
    conf = ("WSGIDaemonProcess site threads=2 processes=2 threads=4\n"
            "WSGIScriptAlias /site {apps}/hello.wsgi process-group=site "
            "process-group=site\n")
    r = run("-", stdin=conf)
    assert r.returncode == 0, r.stderr
    assert "PyWorkerDaemonProcess site processes=2 threads=4\n" in r.stdout
    assert "option threads=2 removed: given again later on this line, " \
           "and threads=4 is kept" in flag_on(r.stdout,
                                              "PyWorkerDaemonProcess")
    assert "hello.wsgi process-group=site\n" in r.stdout
    rc, out = configtest(r.stdout, name="migrate-twice")
    assert rc == 0, out


def test_group_names_differing_only_in_case_are_flagged():
    """mod_wsgi tells groups 'Shop' and 'shop' apart; mod_pyworker's
    configtest refuses the second (mod_proxy lower-cases pyworker://
    hosts), and the tool converted it without a flag."""
    r = run("-", stdin="WSGIDaemonProcess Shop threads=2\n"
                       "WSGIDaemonProcess shop threads=2\n")
    assert r.returncode == 0, r.stderr
    assert flag_on(r.stdout, "PyWorkerDaemonProcess Shop") == ""
    assert "group 'shop' differs from group 'Shop' (-:1) only in case" \
        in flag_on(r.stdout, "PyWorkerDaemonProcess shop")
    assert re.search(r"^-:2: .*only in case", r.stderr, re.M)
    rc, out = configtest(r.stdout, name="migrate-case")
    assert rc != 0 and "names must differ in more than case" in out, out


def test_group_name_mod_pyworker_refuses_is_flagged_where_used():
    """mod_wsgi takes any word as a group name; mod_pyworker only
    letters, digits, '_', '.' and '-', and the tool converted such a
    name without a flag."""
    name = "www.example.com:8080"
    r = run("-", stdin="WSGIDaemonProcess %s threads=2\n"
                       "WSGIScriptAlias /a /srv/a.wsgi process-group=%s\n"
                       "WSGIProcessGroup %s\n" % (name, name, name))
    assert r.returncode == 0, r.stderr
    assert "refuses the process group name '%s'" % name in flag_on(
        r.stdout, "PyWorkerDaemonProcess")
    for line in ("PyWorkerScriptAlias", "PyWorkerProcessGroup"):
        assert "a group name mod_pyworker's configtest refuses" in \
            flag_on(r.stdout, line), line
    rc, out = configtest(r.stdout, name="migrate-group-name")
    assert rc != 0 and "invalid process group name" in out, out


@pytest.mark.parametrize("form", ["%{RESOURCE}", "%{HOST}", "%{ENV:APP}"])
def test_import_script_request_only_application_group_is_flagged(form):
    """mod_wsgi's WSGIImportScript takes any application-group=;
    PyWorkerImportScript refuses the forms that need a request, and the
    tool kept them (it checked them as for an alias) without a flag."""
    conf = ("WSGIDaemonProcess site threads=2\n"
            "WSGIImportScript {apps}/hello.wsgi process-group=site "
            "application-group=%s\n" % form)
    r = run("-", stdin=conf)
    assert r.returncode == 0, r.stderr
    assert "application-group=%s removed: an import script runs at " \
           "daemon start" % form in flag_on(r.stdout, "PyWorkerImportScript")
    assert "PyWorkerImportScript {apps}/hello.wsgi process-group=site\n" \
        in r.stdout
    rc, out = configtest(r.stdout, name="migrate-import-group")
    assert rc == 0, out


def test_numbers_mod_pyworker_refuses_are_rewritten_or_removed():
    """Values configtest refuses, flagged and fixed: the tool kept
    threads=+4, stack-size=32768, header-buffer-size=0 and others as
    written, and the converted configuration failed configtest."""
    conf = ("WSGIDaemonProcess g threads=+4 stack-size=32768 "
            "header-buffer-size=0 socket-timeout=1.5 request-timeout=10x "
            "memory-limit=512 deadlock-timeout=0.5 processes=two umask=9 "
            "graceful-timeout=500ms maximum-requests=1e3\n"
            "WSGIScriptAlias / {apps}/hello.wsgi process-group=g\n")
    r = run("-", stdin=conf)
    assert r.returncode == 0, r.stderr
    assert "PyWorkerDaemonProcess g threads=4 socket-timeout=1.5 " \
           "request-timeout=10 graceful-timeout=500ms " \
           "maximum-requests=1\n" in r.stdout
    flags = " ".join(flag_on(r.stdout, "PyWorkerDaemonProcess").split())
    for words in ("threads=+4 written as threads=4: mod_pyworker's "
                  "configtest refuses '+4' (it expects an integer)",
                  "request-timeout=10x written as request-timeout=10",
                  "maximum-requests=1e3 written as maximum-requests=1",
                  "stack-size=32768 removed: mod_pyworker's range is 64K "
                  "to 1G",
                  "header-buffer-size=0 removed: mod_pyworker's range is "
                  "8K to 1M",
                  "memory-limit=512 removed: mod_pyworker takes 0 (off) or "
                  "at least 32M",
                  "deadlock-timeout=0.5 removed: mod_pyworker takes 0 (off) "
                  "or at least 1s",
                  "processes=two removed: mod_pyworker's configtest "
                  "refuses the value (it expects an integer)",
                  "umask=9 removed: mod_pyworker's configtest refuses the "
                  "value (it expects an octal number)"):
        assert words in flags, words
    rc, out = configtest(r.stdout, name="migrate-numbers")
    assert rc == 0, out

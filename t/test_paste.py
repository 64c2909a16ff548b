"""PyWorkerPasteApp (issue 12 part 1): applications PasteDeploy loads from
an ini file, as `pserve` and Zope's `runwsgi` load them.

  - [app:main], or the section #name selects (an app, a pipeline);
  - paste's defaults (`here`, `__file__`) reach the factory;
  - the file's [loggers]/[handlers]/[formatters] are applied: a console
    handler to sys.stderr lands in the error log at each record's level
    with the request's uri=, a FileHandler writes its file, not the log;
  - a missing section, an import error, a bad logging section: 500 for
    those URLs and ONE error line (PYW0313) naming the file and the
    application, retried on the next request;
  - a changed ini file asks for a rolling restart (PYW0333);
  - configtest refuses a file that does not exist (PYW0006), and
    options a paste application cannot have;
  - the daemon reads the file itself, once, from the descriptor it
    checked (script-user=), and hands PasteDeploy and logging its text:
    a '#' in a directory name is part of the path.
"""
import os
import pwd
import re
import shutil
import tempfile
import threading
import time
import uuid

import pytest

from pyworker_t.httpd import IS_ROOT, configtest
from pyworker_t.proxy import load_proxy
from pyworker_t.swap import script_dirs, swapped_while_queued

PASTE_FAILED = 313          # error: PasteDeploy application not loaded
FILE_CHANGED = 333          # notice: file changed; rolling restart asked
RECORD = 363                # a logging record, at its level
PATH_MISSING = 6            # configtest: a path that must exist does not
ROLLING_DONE = 37           # parent: rolling restart finished

CONF = """
PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess paste threads=4 python-path={apps}/paste \\
    display-name=pyw-paste
PyWorkerPasteApp /min {apps}/paste/minimal.ini process-group=paste
PyWorkerPasteApp /other {apps}/paste/minimal.ini#other process-group=paste
PyWorkerPasteApp /piped {apps}/paste/minimal.ini#piped process-group=paste
PyWorkerPasteApp /nosection {apps}/paste/minimal.ini#nosuch \\
    process-group=paste
PyWorkerPasteApp /broken {apps}/paste/minimal.ini#broken process-group=paste
PyWorkerPasteApp /gone {apps}/paste/gone.ini process-group=paste

PyWorkerDaemonProcess pyramid threads=4 python-path={apps}/paste \\
    display-name=pyw-pyramid
PyWorkerPasteApp /pyramid {apps}/paste/production.ini process-group=pyramid
PyWorkerPasteApp /pyrnamed {apps}/paste/production.ini process-group=pyramid \\
    application-group=named

PyWorkerDaemonProcess badlog threads=2 python-path={apps}/paste \\
    display-name=pyw-badlog
PyWorkerPasteApp /badlog {apps}/paste/badlogging.ini process-group=badlog

PyWorkerDaemonProcess reload threads=2 python-path={apps}/paste \\
    display-name=pyw-reload
PyWorkerPasteApp /reload {apps}/paste/reload.ini process-group=reload
"""


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/min/", "/pyramid/", "/reload/"])


def severe(lines):
    return [l for l in lines if l.severe]


def test_main_app_gets_paste_defaults_and_mount_point(httpd):
    r = httpd.get("/min/a/b")
    assert r.status_code == 200, r.text
    d = r.json()
    ini = httpd.path("apps", "paste", "minimal.ini")
    assert d["greeting"] == "main-app"
    assert d["file"] == ini and d["script_filename"] == ini
    assert d["here"] == os.path.dirname(ini)
    assert d["paste_app"] == "main"
    assert (d["script_name"], d["path_info"]) == ("/min", "/a/b")


def test_name_selects_the_section(httpd):
    d = httpd.get("/other/").json()
    assert d["greeting"] == "other-app" and d["paste_app"] == "other"


def test_name_may_be_a_pipeline(httpd):
    r = httpd.get("/piped/x")
    assert r.status_code == 200
    assert r.headers["X-Tag"] == "pywpaste-tag"
    assert r.json()["greeting"] == "other-app"


def test_app_is_loaded_once_per_process(httpd):
    assert httpd.get("/other/").status_code == 200
    # The factory logs a warning (through logging.lastResort) each time
    # it makes the application.
    assert httpd.log.wait_for(r"pywpaste-factory other-app")
    time.sleep(0.1)
    mark = httpd.log.mark()
    pids = {httpd.get("/other/").json()["pid"] for _ in range(10)}
    assert len(pids) == 1
    time.sleep(0.1)
    assert not httpd.log.find(r"pywpaste-factory other-app", since=mark)


@pytest.mark.parametrize("path,name,what", [
    ("/nosection", "nosuch", r"LookupError: No section 'nosuch'"),
    ("/broken", "broken", r"No module named 'pyw_paste_no_such_module'"),
])
def test_failure_is_500_and_one_line_naming_file_and_section(httpd, path,
                                                             name, what):
    httpd.log.expect(codes=[PASTE_FAILED])
    ini = httpd.path("apps", "paste", "minimal.ini")
    for attempt in range(2):            # retried: one line each time
        mark = httpd.log.mark()
        r = httpd.get(path + "/")
        assert r.status_code == 500
        assert "Traceback" not in r.text and ini not in r.text
        lines = httpd.log.wait_for(r"PYW%04d" % PASTE_FAILED, since=mark)
        time.sleep(0.2)
        errors = severe(httpd.log.lines(mark))
        assert len(errors) == 1, "\n".join(errors)
        line = errors[0]
        assert line.code == PASTE_FAILED and line.level == "error", line
        assert ini in line and "'%s'" % name in line, line
        assert re.search(what, line), line
        assert "uri=%s/" % path in line and "group=paste" in line, line
        # The traceback follows at debug (LogLevel pyworker:debug here).
        tb = [l for l in httpd.log.lines(mark)
              if l.level == "debug" and l.code == PASTE_FAILED]
        assert any("Traceback" in l for l in tb), lines
    # The group's other applications are not affected.
    assert httpd.get("/min/").status_code == 200


def test_file_gone_before_its_first_request_is_500_and_one_line(httpd):
    """configtest saw it; deleted before any daemon loaded it, it is the
    daemon that answers (not Apache's 404 for scripts)."""
    httpd.log.expect(codes=[PASTE_FAILED])
    ini = httpd.path("apps", "paste", "gone.ini")
    os.unlink(ini)
    mark = httpd.log.mark()
    assert httpd.get("/gone/").status_code == 500
    httpd.log.wait_for(r"PYW0313", since=mark)
    time.sleep(0.2)
    errors = severe(httpd.log.lines(mark))
    assert len(errors) == 1, "\n".join(errors)
    assert errors[0].code == PASTE_FAILED and ini in errors[0]
    assert "FileNotFoundError" in errors[0] and "'main'" in errors[0]


def test_pyramid_production_ini_serves_and_logs_like_pserve(httpd):
    m = uuid.uuid4().hex[:12]
    mark = httpd.log.mark()
    r = httpd.get("/pyramid/?m=" + m)
    assert r.status_code == 200
    assert r.text.startswith("pyramid production /pyramid ")
    # [handler_console] (StreamHandler to sys.stderr): each record at its
    # level, formatted by [formatter_generic], with the request's uri.
    info = httpd.log.wait_for(r"pywpaste-view " + m, since=mark)
    assert len(info) == 1, httpd.log.text(mark)
    assert info[0].level == "info" and info[0].code == RECORD, info[0]
    assert "INFO  [pywpaste] pywpaste-view " + m in info[0]
    assert "uri=/pyramid/" in info[0] and "group=pyramid" in info[0]
    debug = httpd.log.find(r"pywpaste-debug " + m, since=mark)
    assert len(debug) == 1 and debug[0].level == "debug", debug
    # [handler_accesslog] (a FileHandler): the file, never the error log.
    assert not httpd.log.find(r"pywpaste-access " + m, since=mark)
    access = httpd.path("state", "pywpaste-access.log")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if os.path.exists(access) and m in open(access).read():
            break
        time.sleep(0.05)
    with open(access) as f:
        assert "INFO  [pywpaste.access] pywpaste-access " + m in f.read()


def test_paste_app_in_a_named_application_group(httpd):
    """The same ini file in a sub-interpreter: loaded there once more, its
    logging sections applied there, its records at their levels."""
    m = uuid.uuid4().hex[:12]
    mark = httpd.log.mark()
    r = httpd.get("/pyrnamed/?m=" + m)
    assert r.status_code == 200, r.text
    assert r.text.startswith("pyramid production /pyrnamed ")
    info = httpd.log.wait_for(r"pywpaste-view " + m, since=mark)
    assert len(info) == 1 and info[0].level == "info", info
    assert info[0].code == RECORD and "uri=/pyrnamed/" in info[0]
    assert not severe(httpd.log.lines(mark)), httpd.log.text(mark)


def test_pyramid_load_time_warning_went_to_the_log_at_warn(httpd):
    # main() logged while the first request loaded it: after fileConfig,
    # through the console handler, at warn.
    lines = httpd.log.find(r"pywpaste-loaded from ")
    assert lines, httpd.log.tail()
    assert all(l.level == "warn" and l.code == RECORD for l in lines), lines
    assert httpd.path("apps", "paste", "production.ini") in lines[0]


def test_bad_logging_section_is_500_and_one_line(httpd):
    httpd.log.expect(codes=[PASTE_FAILED])
    mark = httpd.log.mark()
    r = httpd.get("/badlog/")
    assert r.status_code == 500
    httpd.log.wait_for(r"PYW0313", since=mark)
    time.sleep(0.2)
    errors = severe(httpd.log.lines(mark))
    assert len(errors) == 1, "\n".join(errors)
    assert errors[0].code == PASTE_FAILED
    assert httpd.path("apps", "paste", "badlogging.ini") in errors[0]
    assert "[loggers]" in errors[0] and "nosuch" in errors[0], errors[0]


def test_changed_ini_file_rolls_the_group(httpd):
    ini = httpd.path("apps", "paste", "reload.ini")
    first = httpd.get("/reload/").json()["pid"]
    time.sleep(1.1)                     # files are looked at once a second
    mark = httpd.log.mark()
    with open(ini) as f:
        text = f.read()
    with open(ini, "w") as f:
        f.write(text.replace("greeting = main-app", "greeting = reloaded"))
    assert httpd.get("/reload/").json()["pid"] == first   # still the old
    changed = httpd.log.wait_for(r"PYW%04d" % FILE_CHANGED, since=mark)
    assert changed and ini in changed[0] and "uri=/reload/" in changed[0]
    assert changed[0].level == "notice"
    assert httpd.log.wait_for(r"PYW%04d.*group=reload" % ROLLING_DONE,
                              since=mark, timeout=20)
    d = httpd.get("/reload/").json()
    assert d["pid"] != first and d["greeting"] == "reloaded"


def test_configtest_refuses_a_missing_file():
    rc, out = configtest("""
PyWorkerDaemonProcess g
PyWorkerPasteApp /x {root}/nowhere/site.ini#main process-group=g
""")
    assert rc != 0
    assert "PYW%04d" % PATH_MISSING in out and "/nowhere/site.ini" in out, \
        out
    assert "PyWorkerPasteApp" in out


@pytest.mark.parametrize("args,what", [
    ("/x {apps}/paste/minimal.ini process-group=g callable-object=app",
     "callable-object"),
    ("/x {apps}/paste/minimal.ini# process-group=g", "no application name"),
    ("x {apps}/paste/minimal.ini process-group=g", "URL path"),
    ("/x", "ini file"),
])
def test_configtest_refuses_bad_arguments(args, what):
    rc, out = configtest("PyWorkerDaemonProcess g\nPyWorkerPasteApp %s\n"
                         % args)
    assert rc != 0 and what in out, out


def test_configtest_accepts_name_and_options():
    rc, out = configtest("""
PyWorkerDaemonProcess g
PyWorkerPasteApp /x {apps}/paste/minimal.ini#other process-group=g \\
    application-group=%{GLOBAL} pass-authorization=On
""")
    assert rc == 0, out


def test_paste_option_with_hash_in_a_directory_name(fresh_apache):
    """An ini file in a directory whose name has a '#' (configtest accepts
    /x/rel#1/site.ini).  The daemon called paste.deploy.loadapp("config:"
    + path), and PasteDeploy cuts a config: URI at its FIRST '#': it
    opened /x/rel -> 500 (FileNotFoundError) for every request, through
    PyWorkerPasteApp and through the group's paste= (mod_proxy).  The
    daemon now gives PasteDeploy the file's text and its path, never a
    URI; "use = config:base.ini" is still found beside it, and `here` /
    `__file__` are the path as configured."""
    top = tempfile.mkdtemp(prefix="pyw-paste-", dir="/tmp")
    os.chmod(top, 0o755)
    d = os.path.join(top, "rel#1")
    os.makedirs(d)
    os.chmod(d, 0o755)
    ini = os.path.join(d, "site.ini")
    with open(ini, "w") as f:
        f.write("[app:main]\nuse = config:base.ini\ngreeting = hashdir\n")
    with open(os.path.join(d, "base.ini"), "w") as f:
        f.write("[app:main]\npaste.app_factory = pyw_paste_min:app_factory"
                "\n")
    for name in ("site.ini", "base.ini"):
        os.chmod(os.path.join(d, name), 0o644)
    try:
        a = fresh_apache(load_proxy() + """
PyWorkerDaemonProcess hd threads=2 python-path={apps}/paste \\
    display-name=pyw-hd paste=%s
PyWorkerPasteApp /alias %s process-group=hd
<Directory "%s">
    Require all granted
</Directory>
ProxyPass /proxied pyworker://hd/
""" % (ini, ini, top))
        for url in ("/alias/", "/proxied/"):
            r = a.get(url)
            assert r.status_code == 200, a.log.find(r"PYW0313")
            got = r.json()
            assert got["greeting"] == "hashdir", got
            assert (got["file"], got["here"]) == (ini, d), got
    finally:
        shutil.rmtree(top)


@pytest.mark.skipif(not IS_ROOT, reason="chown needs root")
def test_paste_file_swapped_after_apaches_owner_check_is_not_loaded(
        fresh_apache):
    """README (script-user=): "The daemon checks the file it opens again
    (a symlink swapped after Apache's check: 500, PermissionError)".  It
    did for a WSGI script, not for a PyWorkerPasteApp ini: PasteDeploy
    opened whatever the path named when a worker took the request.  Here
    the group's only worker is busy, Apache checks the ini (a symlink to a
    file of pywtest2) and queues the request; the tenant then points the
    symlink at a file of pywtest1, which must not be loaded."""
    a = fresh_apache("""
PyWorkerDaemonProcess gb threads=1 user=pywtest2 script-user=pywtest2 \\
    python-path={apps}/paste display-name=pyw-gb
PyWorkerScriptAlias /b {run}/scripts/b/slow.wsgi process-group=gb
PyWorkerPasteApp /x {apps}/paste/greeting.ini process-group=gb
""", wait_daemons=True)
    b_dir, a_dir = script_dirs(a)
    link = a.path("apps", "paste", "greeting.ini")
    with open(link) as f:
        text = f.read()
    good = os.path.join(b_dir, "good.ini")
    other = os.path.join(a_dir, "other.ini")
    for path, owner, greeting in ((good, "pywtest2", "good"),
                                  (other, "pywtest1", "evil")):
        with open(path, "w") as f:
            f.write(text.replace("greeting = good", "greeting = " + greeting))
        os.chmod(path, 0o644)
        shutil.chown(path, owner, owner)
    os.unlink(link)
    os.symlink(good, link)
    a.log.expect(codes=[PASTE_FAILED])
    mark = a.log.mark()
    r = swapped_while_queued(a, "/x/", link, other)
    assert r.status_code == 500, "served %r" % r.text
    lines = a.log.wait_for(r"PYW%04d.*PermissionError: .*greeting\.ini is "
                           r"owned by uid %d" % (PASTE_FAILED,
                                                 pwd.getpwnam("pywtest1")
                                                 .pw_uid), since=mark)
    assert lines and lines[0].level == "error", a.log.tail()

"""pyworker-express: one command runs an application through a private
Apache (tools/pyworker-express).

Each test runs the launcher as a subprocess in its own session, as a
shell would, on a free 127.0.0.1 port, with a copy of t/apps/express
(app.wsgi imports greeting.py) or another app, and talks HTTP to it.
The launcher writes its httpd.conf itself; there is no snippet here.
"""
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest
import requests

from pyworker_t import procs
from pyworker_t.errorlog import ErrorLog
from pyworker_t.httpd import IS_ROOT, REPO, T_DIR, free_port, httpd_path, \
    module_path
from pyworker_t.load import Load

LAUNCHER = os.path.join(REPO, "tools", "pyworker-express")
# PYWnnnn codes (README "Log codes").
SIGUSR2_ROLLING = 250           # daemon: SIGUSR2, rolling restart asked
ROLLING_FINISHED = 37           # parent: rolling restart finished
HANDED_OVER = 39                # Apache restart: daemons handed over
APP_LOG_LINE = 363              # a logging record at its own level
WSGI_ERRORS = 360               # a wsgi.errors line
IMPORT_SCRIPT_FAILED = 310      # a new daemon cannot import the app,
PYTHON_START = 210              # ... so it exits 254
START_FAILED = 23               # ... and is retried with back-off


class Launcher:
    """One `pyworker-express start ...` and its server root."""

    def __init__(self, workdir, app_args, extra=(), port=None, cwd=None):
        self.port = port or free_port()
        self.cwd = cwd
        self.root = os.path.join(workdir, "root")
        self.stdout = os.path.join(workdir, "launcher.out")
        self.stderr = os.path.join(workdir, "launcher.err")
        self.args = [LAUNCHER, "start"] + list(app_args) + [
            "--port", str(self.port), "--server-root", self.root,
            "--module-path", module_path(), "--httpd-executable",
            httpd_path()] + list(extra)
        self.proc = None
        self.log = ErrorLog(os.path.join(self.root, "logs", "error.log"))

    def spawn(self):
        """Run it in its own session, as a shell runs a command."""
        # An activated virtualenv would become the daemons' python-home.
        env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
        with open(self.stdout, "wb") as out, open(self.stderr, "wb") as err:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=err,
                                         env=env,
                                         stdin=subprocess.DEVNULL,
                                         start_new_session=True,
                                         cwd=self.cwd)
        return self

    def start(self, timeout=30):
        """spawn(), then wait until it answers HTTP."""
        self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                requests.get(self.url("/"), timeout=5)
                return self
            except requests.ConnectionError:
                time.sleep(0.1)
        raise AssertionError("launcher did not serve within %d s:\n%s"
                             % (timeout, self.stderr_text()))

    def url(self, path="/"):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def get_json(self, path="/"):
        r = requests.get(self.url(path), timeout=30)
        assert r.status_code == 200, r.text
        return r.json()

    def stderr_text(self):
        with open(self.stderr, errors="replace") as f:
            return f.read()

    def apache_pid(self):
        kids = procs.children(self.proc.pid)
        assert len(kids) == 1, kids
        return kids[0]

    def sockets(self):
        run = os.path.join(self.root, "run")
        return [n for n in os.listdir(run) if n.endswith(".sock")]

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """sig to the launcher; its exit status."""
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def kill_all(self):
        """Teardown after a failed test: whatever is left, by pid."""
        if self.proc.poll() is None:
            apache = procs.children(self.proc.pid)
            pids = apache + [d for a in apache for d in procs.descendants(a)]
            self.proc.kill()
            self.proc.wait()
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


@pytest.fixture
def workdir():
    """World-readable (the daemons run as another user when we are root)."""
    d = tempfile.mkdtemp(prefix="pyw-express-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    if os.environ.get("PYW_KEEP") != "1":
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def express_app(workdir):
    """A copy of t/apps/express that the test may edit."""
    dst = os.path.join(workdir, "app")
    shutil.copytree(os.path.join(T_DIR, "apps", "express"), dst)
    return dst


@pytest.fixture
def launch(workdir):
    """launch(app_args, extra_args) -> a started Launcher; stopped (and its
    error log checked for severe lines) when the test ends."""
    started = []

    def factory(app_args, extra=(), **kw):
        launcher = Launcher(workdir, app_args, extra, **kw)
        started.append(launcher)
        return launcher.start()

    yield factory
    problems = []
    for launcher in started:
        if launcher.proc.poll() is None:
            launcher.stop()
        launcher.kill_all()
        problems += launcher.log.check()
    assert not problems, "severe error log lines:\n" + "\n".join(problems)


def _daemon_pids(launcher):
    """The daemons, by their title: ps tells launchers apart by port."""
    title = "(pyworker:express:%d)" % launcher.port
    return [p for p in procs.descendants(launcher.apache_pid())
            if procs.cmdline(p) == title]


def _wait_daemons(launcher, n, timeout=20):
    """The launcher answers once one daemon is ready; the others may still
    be starting (on a loaded machine, seconds later)."""
    deadline = time.monotonic() + timeout
    while len(_daemon_pids(launcher)) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    return _daemon_pids(launcher)


def _edit_greeting(app_dir, text):
    path = os.path.join(app_dir, "greeting.py")
    with open(path, "w") as f:
        f.write("TEXT = %r\n" % text)
    later = time.time() + 2             # a new mtime even within one tick
    os.utime(path, (later, later))


# ---- serving ---------------------------------------------------------------

def test_flask_app_is_served(launch, workdir):
    app = os.path.join(workdir, "flask_app")
    shutil.copytree(os.path.join(T_DIR, "apps", "flask_app"), app)
    launcher = launch([os.path.join(app, "app.wsgi")])
    r = requests.get(launcher.url("/"), timeout=10)
    assert r.status_code == 200
    assert r.text == "flask ok\n"
    assert launcher.get_json("/json")["framework"] == "flask"


def test_status_url_serves_the_status_page_beside_an_app_at_root(
        launch, express_app):
    """--status-url: the group's counters, as JSON, while the app keeps
    the rest of the URL space (mount point /)."""
    launcher = launch([os.path.join(express_app, "app.wsgi")],
                      ["--status-url", "/pyw-status", "--threads", "3"])
    for _ in range(4):
        assert requests.get(launcher.url("/"), timeout=10).status_code == 200
    r = requests.get(launcher.url("/pyw-status?json"), timeout=10)
    assert r.status_code == 200, r.text
    groups = {g["name"]: g for g in r.json()["groups"]}
    assert set(groups) == {"express"}, groups
    assert groups["express"]["requests"]["2xx"] >= 4, groups
    assert requests.get(launcher.url("/pyw-status"),
                        timeout=10).text.count("<table") >= 1


def test_paste_ini_is_served(launch, workdir):
    paste = os.path.join(workdir, "paste")
    shutil.copytree(os.path.join(T_DIR, "apps", "paste"), paste)
    launcher = launch(["--paste", os.path.join(paste, "minimal.ini#other")])
    assert launcher.get_json("/")["greeting"] == "other-app"


def test_project_root_where_the_command_runs_is_importable(launch,
                                                           workdir):
    """A Django layout: run from the project root, mysite/wsgi.py imports
    mysite.settings."""
    project = os.path.join(workdir, "project")
    os.makedirs(os.path.join(project, "mysite"))
    with open(os.path.join(project, "mysite", "__init__.py"), "w"):
        pass
    with open(os.path.join(project, "mysite", "settings.py"), "w") as f:
        f.write("NAME = 'from mysite.settings'\n")
    with open(os.path.join(project, "mysite", "wsgi.py"), "w") as f:
        f.write("import os\nimport mysite.settings\n\n\n"
                "def application(environ, start_response):\n"
                "    body = ('%s in %s' % (mysite.settings.NAME,\n"
                "                          os.getcwd())).encode()\n"
                "    start_response('200 OK', [('Content-Type', "
                "'text/plain')])\n"
                "    return [body]\n")
    launcher = launch(["mysite/wsgi.py"], cwd=project)
    r = requests.get(launcher.url("/"), timeout=10)
    assert r.text == "from mysite.settings in %s" % project


def test_url_alias_serves_static_files_beside_the_app(launch, express_app):
    launcher = launch([os.path.join(express_app, "app.wsgi")],
                      ["--url-alias", "/static",
                       os.path.join(express_app, "static")])
    r = requests.get(launcher.url("/static/hello.txt"), timeout=10)
    assert r.status_code == 200
    assert r.text == "static file from pyworker-express\n"
    assert r.headers["Content-Type"].startswith("text/plain")
    assert launcher.get_json("/other")["greeting"] == "one"


def test_processes_and_threads_reach_the_app(launch, express_app):
    launcher = launch([os.path.join(express_app, "app.wsgi")],
                      ["--processes", "2", "--threads", "3"])
    assert len(_wait_daemons(launcher, 2)) == 2
    # Six requests that each hold a worker: three per process at once.
    seen, lock = [], threading.Lock()

    def one():
        info = launcher.get_json("/?sleep=1")
        with lock:
            seen.append(info)

    threads = [threading.Thread(target=one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(seen) == 6
    assert all(i["multiprocess"] and i["multithread"] for i in seen)
    assert len({i["pid"] for i in seen}) == 2
    assert len({(i["pid"], i["thread"]) for i in seen}) == 6


def test_one_process_one_thread_says_so(launch, express_app):
    launcher = launch([os.path.join(express_app, "app.wsgi")],
                      ["--processes", "1", "--threads", "1"])
    info = launcher.get_json("/")
    assert info["multiprocess"] is False and info["multithread"] is False


# ---- users -----------------------------------------------------------------

def test_as_root_the_app_runs_as_its_owner(launch, express_app, test_users):
    uid, gid = test_users["pywtest1"]
    for name in os.listdir(express_app) + [""]:
        os.chown(os.path.join(express_app, name), uid, gid)
    launcher = launch([os.path.join(express_app, "app.wsgi")])
    assert launcher.get_json("/")["uid"] == uid


def test_as_root_an_app_owned_by_root_runs_as_www_data(launch, express_app):
    if not IS_ROOT:
        pytest.skip("needs root: only root can switch users")
    launcher = launch([os.path.join(express_app, "app.wsgi")])
    assert launcher.get_json("/")["uid"] == pwd.getpwnam("www-data").pw_uid


# ---- reloading -------------------------------------------------------------

def test_edited_module_is_served_without_a_failed_request(launch,
                                                          express_app):
    launcher = launch([os.path.join(express_app, "app.wsgi")],
                      ["--processes", "2", "--reload-on-changes",
                       "--reload-interval", "0.2", "--log-level", "info"])
    assert launcher.get_json("/")["greeting"] == "one"
    mark = launcher.log.mark()
    load = Load(launcher.port, "/", total=100000, concurrency=4,
                keep_body=True, deadline=60).start()
    time.sleep(1)
    _edit_greeting(express_app, "two")
    assert launcher.log.wait_for(r"PYW%04d" % ROLLING_FINISHED, since=mark,
                                 timeout=30)
    time.sleep(0.5)
    load.stop()
    result = load.join()
    bodies = [json.loads(r.body)["greeting"] for r in result.records
              if r.status == 200]
    assert result.failures() == []
    assert "one" in bodies and bodies[-1] == "two"
    assert launcher.get_json("/")["greeting"] == "two"
    assert launcher.log.find(r"PYW%04d.*greeting\.py changed"
                             % APP_LOG_LINE, since=mark)
    assert launcher.log.find(r"PYW%04d" % SIGUSR2_ROLLING, since=mark)


def test_edit_that_does_not_import_leaves_the_old_code_serving(launch,
                                                               express_app):
    launcher = launch([os.path.join(express_app, "app.wsgi")],
                      ["--reload-on-changes", "--reload-interval", "0.2"])
    launcher.log.expect(codes=[IMPORT_SCRIPT_FAILED, PYTHON_START,
                               START_FAILED])
    mark = launcher.log.mark()
    path = os.path.join(express_app, "greeting.py")
    with open(path, "w") as f:
        f.write("TEXT = (\n")                   # a SyntaxError
    later = time.time() + 2
    os.utime(path, (later, later))
    assert launcher.log.wait_for(r"PYW%04d" % START_FAILED, since=mark,
                                 timeout=30)
    assert launcher.get_json("/")["greeting"] == "one"
    _edit_greeting(express_app, "fixed")        # the next retry takes it
    assert launcher.log.wait_for(r"PYW%04d" % ROLLING_FINISHED, since=mark,
                                 timeout=30)
    assert launcher.get_json("/")["greeting"] == "fixed"


def test_without_reload_on_changes_an_edit_is_not_served(launch,
                                                         express_app):
    launcher = launch([os.path.join(express_app, "app.wsgi")])
    _edit_greeting(express_app, "two")
    time.sleep(2)
    assert launcher.get_json("/")["greeting"] == "one"


# ---- logs ------------------------------------------------------------------

def test_log_to_terminal_writes_the_error_log_to_stderr(launch, express_app):
    launcher = launch([os.path.join(express_app, "app.wsgi")],
                      ["--log-to-terminal", "--log-level", "info",
                       "--access-log"])
    launcher.get_json("/?log=pyw-express-marker")
    launcher.stop(signal.SIGINT)
    err = ErrorLog(launcher.stderr)
    assert err.find(r"PYW%04d.*pyw-express-marker" % WSGI_ERRORS)
    assert err.find(r"PYW0200")            # the daemon started
    with open(launcher.stdout) as f:
        assert '"GET /?log=pyw-express-marker HTTP/1.1" 200' in f.read()
    assert not os.path.exists(os.path.join(launcher.root, "logs",
                                           "error.log"))


def test_error_log_goes_to_a_file_by_default(launch, express_app):
    launcher = launch([os.path.join(express_app, "app.wsgi")])
    launcher.log.expect(codes=[WSGI_ERRORS])
    launcher.get_json("/?log=pyw-express-marker")
    assert launcher.log.wait_for("pyw-express-marker")
    assert "pyw-express-marker" not in launcher.stderr_text()
    assert os.path.join(launcher.root, "logs", "error.log") in \
        launcher.stderr_text()


# ---- stopping --------------------------------------------------------------

@pytest.mark.parametrize("how", ["ctrl-c", "sigint", "sigterm"])
def test_stop_leaves_no_process_and_no_socket(launch, express_app, how):
    launcher = launch([os.path.join(express_app, "app.wsgi")],
                      ["--processes", "2"])
    apache = launcher.apache_pid()
    assert len(_wait_daemons(launcher, 2)) == 2
    pids = [launcher.proc.pid, apache] + procs.descendants(apache)
    assert len(launcher.sockets()) == 1
    if how == "ctrl-c":         # the terminal signals the whole group
        os.killpg(launcher.proc.pid, signal.SIGINT)
        status = launcher.proc.wait(timeout=30)
    else:
        status = launcher.stop(signal.SIGINT if how == "sigint"
                               else signal.SIGTERM)
    assert status == 0, launcher.stderr_text()
    assert [p for p in pids if procs.alive(p)] == []
    assert launcher.sockets() == []
    assert not os.path.exists(os.path.join(launcher.root, "run",
                                           "httpd.pid"))


def test_sighup_is_a_graceful_restart(launch, express_app):
    launcher = launch([os.path.join(express_app, "app.wsgi")],
                      ["--log-level", "info"])
    apache = launcher.apache_pid()
    mark = launcher.log.mark()
    launcher.proc.send_signal(signal.SIGHUP)
    assert launcher.log.wait_for(r"PYW%04d" % HANDED_OVER, since=mark)
    assert launcher.get_json("/")["greeting"] == "one"
    assert launcher.proc.poll() is None and launcher.apache_pid() == apache


def test_killed_apache_ends_the_launcher_and_leaves_nothing(launch,
                                                            express_app):
    launcher = launch([os.path.join(express_app, "app.wsgi")])
    apache = launcher.apache_pid()
    pids = [apache] + procs.descendants(apache)
    os.kill(apache, signal.SIGKILL)
    assert launcher.proc.wait(timeout=30) == 128 + signal.SIGKILL
    assert "killed by SIGKILL" in launcher.stderr_text()
    assert [p for p in pids if procs.alive(p)] == []
    assert os.listdir(os.path.join(launcher.root, "run")) == []


def test_killed_launcher_stops_its_apache(launch, express_app):
    launcher = launch([os.path.join(express_app, "app.wsgi")])
    apache = launcher.apache_pid()
    pids = [apache] + procs.descendants(apache)
    launcher.proc.kill()
    launcher.proc.wait(timeout=10)
    deadline = time.monotonic() + 30
    while [p for p in pids if procs.alive(p)] and \
            time.monotonic() < deadline:
        time.sleep(0.1)
    assert [p for p in pids if procs.alive(p)] == []
    assert launcher.sockets() == []


def test_apache_that_cannot_start_ends_the_launcher(launch, express_app,
                                                    workdir):
    busy = launch([os.path.join(express_app, "app.wsgi")])
    second = Launcher(os.path.join(workdir, "second"),
                      [os.path.join(express_app, "app.wsgi")],
                      port=busy.port)
    os.makedirs(os.path.join(workdir, "second"))
    assert second.spawn().proc.wait(timeout=30) != 0
    assert "Address already in use" in second.stderr_text()


# ---- setup-server ----------------------------------------------------------

def test_setup_server_writes_a_config_apachectl_and_systemd_unit(
        express_app, workdir):
    root = os.path.join(workdir, "prod")
    port = free_port()
    subprocess.run([LAUNCHER, "setup-server",
                    os.path.join(express_app, "app.wsgi"), "--port",
                    str(port), "--server-root", root, "--module-path",
                    module_path(), "--httpd-executable", httpd_path(),
                    "--processes", "2"], check=True, timeout=30)
    apachectl = os.path.join(root, "apachectl")
    unit = os.path.join(root, "pyworker-express-%d.service" % port)
    test = subprocess.run([apachectl, "configtest"], capture_output=True,
                          text=True, timeout=30)
    assert test.returncode == 0, test.stderr
    assert "Syntax OK" in test.stderr
    if shutil.which("systemd-analyze"):
        verify = subprocess.run(["systemd-analyze", "verify", unit],
                                capture_output=True, text=True, timeout=60)
        assert verify.returncode == 0, verify.stderr
        assert unit not in verify.stderr, verify.stderr
    with open(unit) as f:
        assert "ExecStart=%s foreground" % apachectl in f.read()
    # The production wrapper starts (daemonised) and stops the server.
    subprocess.run([apachectl, "start"], check=True, timeout=30)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                r = requests.get("http://127.0.0.1:%d/" % port, timeout=5)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert r.status_code == 200 and r.json()["greeting"] == "one"
    finally:
        subprocess.run([apachectl, "stop"], check=True, timeout=30)
    pidfile = os.path.join(root, "run", "httpd.pid")
    deadline = time.monotonic() + 20
    while os.path.exists(pidfile) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists(pidfile)
    assert ErrorLog(os.path.join(root, "logs", "error.log")).check() == []


def _setup_server_configtest(express_app, workdir, *extra):
    """setup-server with extra options, then its apachectl configtest:
    (configtest's exit code and output, the httpd.conf written)."""
    root = os.path.join(workdir, "prod")
    subprocess.run([LAUNCHER, "setup-server",
                    os.path.join(express_app, "app.wsgi"), "--port",
                    str(free_port()), "--server-root", root,
                    "--module-path", module_path(), "--httpd-executable",
                    httpd_path()] + list(extra), check=True, timeout=30)
    test = subprocess.run([os.path.join(root, "apachectl"), "configtest"],
                          capture_output=True, text=True, timeout=30)
    with open(os.path.join(root, "httpd.conf")) as f:
        return test.returncode, test.stdout + test.stderr, f.read()


@pytest.mark.parametrize("host", ["::1", "::ffff:127.0.0.1"])
def test_setup_server_with_an_ipv6_host_passes_configtest(express_app,
                                                          workdir, host):
    """An IPv6 --host was written as 'ServerName ::1', which Apache reads
    as host:port and refuses (it refuses '[::1]' too, as a wildcard)."""
    rc, out, conf = _setup_server_configtest(express_app, workdir,
                                             "--host", host)
    assert rc == 0, out
    assert "\nListen [%s]:" % host in conf
    assert "\nServerName localhost\n" in conf


def test_setup_server_quotes_a_daemon_option_value_with_a_blank(
        express_app, workdir):
    """--daemon-option values were written as given: 'python-eggs=/tmp/egg
    cache' became two words, and configtest refused "unknown option
    'cache'"."""
    rc, out, conf = _setup_server_configtest(
        express_app, workdir, "--daemon-option", "python-eggs=/tmp/egg cache",
        "--daemon-option", "graceful-timeout=30")
    assert rc == 0, out
    assert ' python-eggs="/tmp/egg cache" ' in conf
    assert " graceful-timeout=30\n" in conf


def test_help_gives_every_option_a_default():
    out = subprocess.run([LAUNCHER, "start", "--help"], capture_output=True,
                         text=True, check=True, timeout=30).stdout
    # argparse: each option starts an entry "  --name ..." (help text may
    # follow on the same line or the next ones).
    entries = [e for e in ("\n" + out.split("options:", 1)[1]).split("\n  -")
               if e.strip()]
    options = [e for e in entries if not e.startswith("h, --help")]
    assert len(options) > 20
    for entry in options:
        assert "(default:" in " ".join(entry.split()), entry

#!/usr/bin/python3
"""mod_pyworker benchmark (issue 4): the same WSGI apps behind private
Apache instances with identical event-MPM settings, loaded with wrk on
127.0.0.1, rounds interleaved, medians reported.

Setups:
  A static          the same bytes as a static file (the ceiling, no Python)
  B pyworker        mod_pyworker, 1 daemon process x 8 threads
  C wsgi-daemon     mod_wsgi daemon mode, processes=1 threads=8
  D wsgi-embedded   mod_wsgi embedded mode
  E uwsgi           uWSGI 1 process x 8 threads behind mod_proxy_uwsgi
(--processes / --threads change B, C and E alike; the targets are for 1 x 8.)

Standard library only; run with /usr/bin/python3 (see bench/README.md).
Every process this script starts is recorded and stopped by pid at exit.
"""

import argparse
import atexit
import hashlib
import http.client
import json
import os
import pwd
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import chart                            # bench/chart.py

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
APPS_DIR = os.path.join(BENCH_DIR, 'apps')
RESULTS_DIR = os.path.join(BENCH_DIR, 'results')
MODULES = '/usr/lib/apache2/modules'
APACHE = '/usr/sbin/apache2'
UWSGI = '/usr/bin/uwsgi'
WRK = '/usr/bin/wrk'

ALL_APPS = ['hello', 'io10ms', 'cpu1ms', 'post64k', 'file5m', 'stream100']
# Apps the static ceiling can serve: the same response bytes as a file.
STATIC_APPS = ('hello', 'file5m', 'stream100')
SETUPS = [('A', 'static'), ('B', 'pyworker'), ('C', 'wsgi-daemon'),
          ('D', 'wsgi-embedded'), ('E', 'uwsgi')]
SETUP_NAMES = [name for _, name in SETUPS]
LETTER = dict((name, letter) for letter, name in SETUPS)
REF = 'pyworker'
# --pyworker-module NAME=PATH adds setup 'pyworker-NAME' (letters B1, B2,
# ...): mod_pyworker like B, loaded from another build, in the same run.
EXTRA_PREFIX = 'pyworker-'


def kind_of(name):
    """'pyworker' for B and every --pyworker-module setup, else name."""
    return REF if name.startswith(EXTRA_PREFIX) else name

FILE5M_SIZE = 5200000
STREAM_BODY = (b'x' * 999 + b'\n') * 100
POST_BODY = bytes(range(256)) * 256          # 64 KiB, checks the echo
THREADS_PER_CHILD = 512
BUSY_SHARE_MAX = 0.25       # CPU share in use at start that makes a run
                            # "not quiet"
SERVER_LIMIT = 4

# Apt packages (Debian 12).  apache2-bin instead of apache2 when Apache is
# missing altogether: it has the binary and every module we load but no
# service, so installing it never starts the system's Apache.
PACKAGES = [('wrk', WRK), ('libapache2-mod-wsgi-py3',
                           MODULES + '/mod_wsgi.so'),
            ('uwsgi-core', UWSGI),
            ('uwsgi-plugin-python3', '/usr/lib/uwsgi/plugins/python3_plugin.so'),
            ('libapache2-mod-proxy-uwsgi', MODULES + '/mod_proxy_uwsgi.so'),
            ('apache2-bin', APACHE)]

# Identical for every setup.  Every Python setup holds an Apache worker
# thread for the whole of a request, and when every worker of a process is
# busy the event MPM closes that process's idle keep-alive connections
# ("All workers are busy or dying, will shutdown N keep-alive connections",
# trace1), which wrk counts as read errors.  A process takes up to about
# twice its threads in connections, so with 20 x 64 every setup whose
# backend (not wrk) is the bottleneck lost connections at 1000 (static
# 112, mod_wsgi 324, uWSGI 270, us 438 per cell).  With 4 x 512 a process
# needs over half of all connections to run out of threads.  Not 2 x 1024:
# mod_wsgi embedded mode loses a quarter of its speed there (more threads
# per GIL).  See bench/README.md.
EVENT_MPM = """\
StartServers {servers}
ServerLimit {servers}
ThreadLimit {tpc}
ThreadsPerChild {tpc}
MaxRequestWorkers {total}
MinSpareThreads 64
MaxSpareThreads {total}
MaxConnectionsPerChild 0
ListenBacklog 1024
""".format(tpc=THREADS_PER_CHILD, servers=SERVER_LIMIT,
           total=THREADS_PER_CHILD * SERVER_LIMIT)


class BenchError(Exception):
    pass


def log(msg):
    sys.stderr.write('bench: %s\n' % msg)
    sys.stderr.flush()


# ---------------------------------------------------------------- processes

class Procs:
    """Every process we start, so that all of them are stopped by pid."""

    def __init__(self):
        self.popens = []
        self.trees = {}     # popen pid -> {(pid, start time)} ever seen

    def remember(self, p):
        """Record p's current process tree.  If p dies on its own (a
        crash), its children are re-parented to init and can no longer be
        found from p: stop() kills them from this record."""
        seen = self.trees.setdefault(p.pid, set())
        for pid in descendants(p.pid):
            st = start_time(pid)
            if st is not None:
                seen.add((pid, st))

    def start(self, argv, logpath, env):
        out = open(logpath, 'ab')
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=subprocess.STDOUT, env=env,
                                 start_new_session=True)
        finally:
            out.close()
        self.popens.append(p)
        return p

    def stop(self, p, timeout=10.0):
        """SIGTERM p, wait, then SIGKILL whatever of its process tree (as
        recorded before the SIGTERM and by remember()) is still there."""
        if p.poll() is None:
            self.remember(p)
            try:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        tree = [(pid, st) for pid, st in self.trees.pop(p.pid, ())
                if pid != p.pid]
        deadline = time.time() + 3
        while time.time() < deadline and any(
                start_time(pid) == st for pid, st in tree):
            time.sleep(0.05)
        for pid, st in tree:
            if start_time(pid) == st:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    def stop_all(self):
        for p in reversed(self.popens):
            try:
                self.stop(p)
            except Exception as e:      # keep stopping the others
                log('stopping pid %d: %s' % (p.pid, e))
        self.popens = []


PROCS = Procs()


def read_stat(pid):
    """Fields of /proc/pid/stat after the command name, or None."""
    try:
        with open('/proc/%d/stat' % pid, 'rb') as f:
            data = f.read().decode('ascii', 'replace')
    except OSError:
        return None
    return data[data.rfind(')') + 2:].split()


def start_time(pid):
    st = read_stat(pid)
    return int(st[19]) if st else None


def all_ppids():
    out = {}
    for name in os.listdir('/proc'):
        if name.isdigit():
            st = read_stat(int(name))
            if st:
                out[int(name)] = int(st[1])
    return out


def descendants(root, ppids=None):
    """root and every process below it."""
    ppids = ppids if ppids is not None else all_ppids()
    children = {}
    for pid, ppid in ppids.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


TICK = float(os.sysconf('SC_CLK_TCK'))


def cpu_seconds(roots):
    """utime+stime of every live process under roots, plus cutime+cstime
    (children that exited and were reaped inside the tree)."""
    ppids = all_ppids()
    total = 0
    for root in roots:
        for pid in descendants(root, ppids):
            st = read_stat(pid)
            if st:
                total += sum(int(x) for x in st[11:15])
    return total / TICK


def proc_status(pid, key):
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read()
    except OSError:
        return None


def comm(pid):
    try:
        with open('/proc/%d/comm' % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def pss_kb(pid):
    """Proportional set size (shared pages divided among their users)."""
    try:
        with open('/proc/%d/smaps_rollup' % pid) as f:
            for line in f:
                if line.startswith('Pss:'):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def maps_libpython(pid):
    """1 if the process has libpython mapped."""
    try:
        with open('/proc/%d/maps' % pid) as f:
            return int(any('/libpython' in line for line in f))
    except OSError:
        return 0


# mod_pyworker's helpers of the Apache parent: the short-lived waker
# (pyw_waker.c) and each daemon's keeper (pyw_keeper.c).  Not daemons, so
# they count with Apache.
HELPER_COMMS = ('pyw-waker', 'pyw-keeper')
KEEPER_COMM = 'pyw-keeper'


# ---------------------------------------------------------------- install

def cpu_ticks():
    """All CPUs' time in clock ticks from /proc/stat: (total, idle +
    iowait)."""
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), v[3] + v[4]


def cpu_busy_share(seconds=2.0):
    """Share of all CPUs' time not idle over `seconds` (from /proc/stat).
    The load average is no measure of other users here: it stays high
    for minutes after a cell with 1000 connections (thousands of Apache
    threads were runnable), while the CPUs are idle."""
    t0, i0 = cpu_ticks()
    time.sleep(seconds)
    t1, i1 = cpu_ticks()
    return 1.0 - (i1 - i0) / float(t1 - t0) if t1 > t0 else 0.0


def own_cpu_seconds():
    """CPU of this script and of its reaped children (wrk)."""
    a = resource.getrusage(resource.RUSAGE_SELF)
    b = resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime


def dpkg_installed(pkg):
    r = subprocess.run(['dpkg-query', '-W', '-f=${Status}', pkg],
                       capture_output=True, text=True)
    return r.returncode == 0 and 'install ok installed' in r.stdout


def ensure_installed():
    missing = [pkg for pkg, path in PACKAGES
               if not os.path.exists(path) and not dpkg_installed(pkg)]
    if not missing:
        return
    if os.geteuid() != 0:
        raise BenchError('missing packages %s; run as root or install them'
                         % ' '.join(missing))
    wsgi_load = '/etc/apache2/mods-enabled/wsgi.load'
    had_wsgi = os.path.lexists(wsgi_load)
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    cmd = ['apt-get', 'install', '-y', '-q', '--no-install-recommends']
    log('installing %s' % ' '.join(missing))
    if subprocess.run(cmd + missing, env=env).returncode != 0:
        subprocess.run(['apt-get', 'update', '-q'], env=env)
        if subprocess.run(cmd + missing, env=env).returncode != 0:
            raise BenchError('apt-get install %s failed' % ' '.join(missing))
    # The wsgi package enables itself in the system's Apache; that Apache
    # is not ours to change, so put its configuration back.
    if not had_wsgi and os.path.lexists(wsgi_load) and \
            os.path.exists('/usr/sbin/a2dismod'):
        subprocess.run(['a2dismod', '-q', 'wsgi'], stdout=subprocess.DEVNULL)


# ---------------------------------------------------------------- setups

def sha256_file(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def free_port():
    s = socket.socket()
    try:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]
    finally:
        s.close()


def clean_env():
    return {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C.UTF-8'}


def run_user():
    if os.geteuid() != 0:
        return None
    for user in ('www-data', 'nobody'):
        try:
            pw = pwd.getpwnam(user)
            return user, pw.pw_gid
        except KeyError:
            continue
    raise BenchError('no unprivileged user (www-data) to run Apache as')


def prepare_workdir(apps):
    work = tempfile.mkdtemp(prefix='pyw-bench-', dir='/tmp')
    os.chmod(work, 0o755)
    for sub in ('apps', 'static'):
        os.mkdir(os.path.join(work, sub), 0o755)
    for app in apps:
        shutil.copy(os.path.join(APPS_DIR, app + '.wsgi'),
                    os.path.join(work, 'apps'))
    blob = os.urandom(FILE5M_SIZE)
    for path, data in (('apps/file5m.bin', blob), ('static/file5m', blob),
                       ('static/hello', b'OK'),
                       ('static/stream100', STREAM_BODY)):
        with open(os.path.join(work, path), 'wb') as f:
            f.write(data)
    return work, hashlib.sha256(blob).hexdigest()


class Setup:
    """One private Apache (and for uwsgi its uWSGI) serving all apps."""

    def __init__(self, name, work, apps, args):
        self.name, self.apps, self.args = name, apps, args
        self.kind = kind_of(name)
        self.module = getattr(args, 'pyworker_modules', {}).get(
            name, getattr(args, 'module', None))
        self.module_info = None
        # restart.py and profile.py have no --processes / --threads.
        self.processes = getattr(args, 'processes', 1)
        self.threads = getattr(args, 'threads', 8)
        self.root = os.path.join(work, name)
        self.work = work
        self.port = free_port()
        self.apache = self.uwsgi = None
        self.status = 'not started'
        for sub in ('conf', 'logs', 'run'):
            os.makedirs(os.path.join(self.root, sub), 0o755)
        self.conf = os.path.join(self.root, 'conf', 'httpd.conf')
        self.error_log = os.path.join(self.root, 'logs', 'error_log')

    def serves(self, app):
        return app in STATIC_APPS if self.kind == 'static' else True

    # -- configuration
    def base_conf(self):
        user = run_user()
        lines = [
            'ServerRoot "%s"' % self.root,
            'ServerName 127.0.0.1',
            'Listen 127.0.0.1:%d' % self.port,
            'PidFile "%s/run/httpd.pid"' % self.root,
            'DefaultRuntimeDir "%s/run"' % self.root,
            'ErrorLog "%s"' % self.error_log,
            'LogLevel warn',
            'LoadModule mpm_event_module %s/mod_mpm_event.so' % MODULES,
            'LoadModule authz_core_module %s/mod_authz_core.so' % MODULES,
            'LoadModule alias_module %s/mod_alias.so' % MODULES,
        ]
        if user:
            lines += ['User %s' % user[0], 'Group #%d' % user[1]]
        lines += [EVENT_MPM, 'EnableSendfile %s'
                  % ('On' if self.args.sendfile else 'Off'),
                  'KeepAlive On', 'MaxKeepAliveRequests 0',
                  'KeepAliveTimeout 5', 'Timeout 60',
                  'DocumentRoot "%s/static"' % self.work,
                  '<Directory "%s">' % self.work,
                  '    Options None', '    AllowOverride None',
                  '    Require all granted', '</Directory>']
        return lines

    def app_path(self, app):
        return '%s/apps/%s.wsgi' % (self.work, app)

    def setup_conf(self):
        n = self.kind
        if n == 'static':
            return ['Alias /%s "%s/static/%s"' % (a, self.work, a)
                    for a in self.apps if a in STATIC_APPS]
        if n == 'pyworker':
            return ['LoadModule pyworker_module %s' % self.module_copy(),
                    'PyWorkerDaemonProcess bench processes=%d threads=%d'
                    % (self.processes, self.threads)] + [
                'PyWorkerScriptAlias /%s "%s" process-group=bench'
                % (a, self.app_path(a)) for a in self.apps]
        lines = []
        if n in ('wsgi-daemon', 'wsgi-embedded'):
            lines = ['LoadModule wsgi_module %s/mod_wsgi.so' % MODULES,
                     'WSGISocketPrefix "%s/run/wsgi"' % self.root,
                     'WSGIApplicationGroup %{GLOBAL}']
            if n == 'wsgi-daemon':
                lines += ['WSGIRestrictEmbedded On',
                          'WSGIDaemonProcess bench processes=%d threads=%d'
                          % (self.processes, self.threads),
                          'WSGIProcessGroup bench']
            return lines + ['WSGIScriptAlias /%s "%s"' % (a, self.app_path(a))
                            for a in self.apps]
        sock = self.uwsgi_sock()
        lines = ['LoadModule proxy_module %s/mod_proxy.so' % MODULES,
                 'LoadModule proxy_uwsgi_module %s/mod_proxy_uwsgi.so'
                 % MODULES]
        return lines + ['ProxyPass /%s "unix:%s|uwsgi://localhost/%s" '
                        'enablereuse=on' % (a, sock, a) for a in self.apps]

    def module_copy(self):
        """A private copy of the module and of the daemon programs beside
        it (pyworker-daemon-pythonX.Y, since fork + exec; they are found
        next to the module): `make` rewrites the built files in place,
        which crashes an Apache that has them mapped.  Each pyworker setup
        has its own directory."""
        ddir = os.path.join(self.root, 'modules')
        dst = os.path.join(ddir, 'mod_pyworker.so')
        if self.module_info is None:
            os.makedirs(ddir, 0o755, exist_ok=True)
            src_dir = os.path.dirname(os.path.abspath(self.module))
            programs = sorted(
                f for f in os.listdir(src_dir)
                if f.startswith('pyworker-daemon-') and not f.endswith('.tmp')
                and os.path.isfile(os.path.join(src_dir, f)))
            info = {'path': self.module, 'programs': {}}
            for f in ['mod_pyworker.so'] + programs:
                src = self.module if f == 'mod_pyworker.so' \
                    else os.path.join(src_dir, f)
                info['programs'][f] = copy_stable(src, os.path.join(ddir, f))
            so = info['programs'].pop('mod_pyworker.so')
            st = os.stat(self.module)
            info.update(sha256=so, size=st.st_size, mtime=time.strftime(
                '%Y-%m-%d %H:%M:%S', time.localtime(st.st_mtime)))
            self.module_info = info
            if self.name == REF:
                self.args.module_info = info
        return dst

    def uwsgi_sock(self):
        return os.path.join(self.root, 'run', 'uwsgi.sock')

    def write_conf(self):
        with open(self.conf, 'w') as f:
            f.write('\n'.join(self.base_conf() + self.setup_conf()) + '\n')

    # -- start / stop
    def start(self):
        if self.kind == REF and not os.path.exists(self.module):
            self.status = 'skipped'
            raise BenchError('%s does not exist (run make first): %s '
                             'setup skipped' % (self.module, self.name))
        self.write_conf()
        t = subprocess.run([APACHE, '-t', '-d', self.root, '-f', self.conf],
                           capture_output=True, text=True, env=clean_env())
        if t.returncode != 0:
            raise BenchError('configtest failed: %s'
                             % (t.stderr or t.stdout).strip())
        if self.kind == 'uwsgi':
            self.start_uwsgi()
        self.apache = PROCS.start(
            [APACHE, '-d', self.root, '-f', self.conf, '-DFOREGROUND'],
            os.path.join(self.root, 'logs', 'stdout'), clean_env())
        wait_port(self.port, self.apache, 20)
        self.remember()
        self.status = 'started'

    def start_uwsgi(self):
        argv = [UWSGI, '--plugin', 'python3',
                '--processes', str(self.processes),
                '--threads', str(self.threads),
                '--socket', self.uwsgi_sock(),
                '--single-interpreter', '--manage-script-name',
                '--disable-logging', '--die-on-term']
        user = run_user()
        if user:
            argv += ['--uid', user[0], '--gid', str(user[1]),
                     '--chown-socket', '%s:%d' % (user[0], user[1])]
        for a in self.apps:
            argv += ['--mount', '/%s=%s' % (a, self.app_path(a))]
        self.uwsgi = PROCS.start(argv, os.path.join(self.root, 'logs',
                                                    'uwsgi.log'), clean_env())
        deadline = time.time() + 15
        while not os.path.exists(self.uwsgi_sock()):
            if self.uwsgi.poll() is not None or time.time() > deadline:
                raise BenchError('uwsgi did not start; see %s/logs/uwsgi.log'
                                 % self.root)
            time.sleep(0.05)

    def stop(self):
        for p in (self.apache, self.uwsgi):
            if p is not None:
                PROCS.stop(p)

    def remember(self):
        for p in (self.apache, self.uwsgi):
            if p is not None and p.poll() is None:
                PROCS.remember(p)

    # -- measurements
    def roots(self):
        return [p.pid for p in (self.apache, self.uwsgi) if p is not None]

    def daemon_pids(self):
        if self.kind == 'uwsgi':
            return descendants(self.uwsgi.pid)
        if self.kind not in (REF, 'wsgi-daemon'):
            return []
        # Daemons are children of the Apache parent (forked, and since
        # 73e2616 exec'd), or of its keepers: the children that are not
        # MPM workers (those keep the parent's command line and run
        # ThreadsPerChild threads; a daemon has 8 workers plus a few).
        ppids, me = all_ppids(), cmdline(self.apache.pid)
        keepers = {pid for pid, ppid in ppids.items()
                   if ppid == self.apache.pid and comm(pid) == KEEPER_COMM}
        out = []
        for pid, ppid in ppids.items():
            if ppid in keepers:
                out.append(pid)
                continue
            if ppid != self.apache.pid or comm(pid) in HELPER_COMMS:
                continue
            threads = proc_status(pid, 'Threads') or 0
            if cmdline(pid) != me or threads < THREADS_PER_CHILD // 2:
                out.append(pid)
        return sorted(out)

    def memory(self):
        daemons = self.daemon_pids()
        apache = [p for p in descendants(self.apache.pid) if p not in daemons]
        # The MPM children: the parent's children that are neither a
        # daemon nor mod_pyworker's helper.
        ppids = all_ppids()
        mpm = sorted(p for p in apache if ppids.get(p) == self.apache.pid
                     and comm(p) not in HELPER_COMMS)
        kb = lambda pids, key='VmRSS': sum(proc_status(p, key) or 0
                                           for p in pids)
        return {'daemon_pids': daemons,
                'daemon_rss_kb': kb(daemons) if daemons else None,
                'apache_rss_kb': kb(apache), 'apache_procs': len(apache),
                'parent_rss_kb': proc_status(self.apache.pid, 'VmRSS'),
                'mpm_pids': mpm,
                'mpm_rss_kb': [proc_status(p, 'VmRSS') for p in mpm],
                'mpm_rss_anon_kb': kb(mpm, 'RssAnon'),
                'mpm_rss_file_kb': kb(mpm, 'RssFile'),
                'apache_pss_kb': sum(pss_kb(p) or 0 for p in apache),
                'mpm_libpython': sum(maps_libpython(p) for p in mpm)}

    def error_lines(self):
        try:
            with open(self.error_log, errors='replace') as f:
                return [l.rstrip() for l in f
                        if any(t in l for t in (':error]', ':crit]',
                                                ':alert]', ':emerg]'))]
        except OSError:
            return []


def copy_stable(src, dst):
    """Copy src to dst (mode 0755) once two checksums agree; its sha256."""
    for _ in range(20):
        before = sha256_file(src)
        shutil.copyfile(src, dst + '.tmp')
        if sha256_file(dst + '.tmp') == before == sha256_file(src):
            break
        time.sleep(0.5)                 # being rebuilt right now
    else:
        raise BenchError('%s keeps changing' % src)
    os.chmod(dst + '.tmp', 0o755)
    os.rename(dst + '.tmp', dst)
    return before


def wait_port(port, proc, timeout):
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            raise BenchError('apache exited with %s at start' % proc.returncode)
        try:
            socket.create_connection(('127.0.0.1', port), 0.5).close()
            return
        except OSError:
            if time.time() > deadline:
                raise BenchError('port %d not listening after %ds'
                                 % (port, timeout))
            time.sleep(0.05)


# ---------------------------------------------------------------- checks

def expected_body(app, file_sha):
    return {'hello': lambda b: b == b'OK',
            'io10ms': lambda b: b == b'OK',
            'cpu1ms': lambda b: b.isdigit(),
            'post64k': lambda b: b == POST_BODY,
            'file5m': lambda b: hashlib.sha256(b).hexdigest() == file_sha,
            'stream100': lambda b: b == STREAM_BODY}[app]


def http_get(port, app):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=15)
    try:
        if app == 'post64k':
            c.request('POST', '/' + app, body=POST_BODY,
                      headers={'Content-Type': 'application/octet-stream'})
        else:
            c.request('GET', '/' + app)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def check_app(setup, app, file_sha, timeout=30):
    """HTTP 200 with the right body, retrying while daemons start."""
    deadline, last = time.time() + timeout, None
    while time.time() < deadline:
        try:
            status, body = http_get(setup.port, app)
            if status == 200 and expected_body(app, file_sha)(body):
                return
            last = 'HTTP %d, %d bytes' % (status, len(body))
            if status < 500:
                break
        except (OSError, http.client.HTTPException) as e:
            last = repr(e)
        time.sleep(0.2)
    raise BenchError('GET /%s: %s (expected 200 and the right body); see %s'
                     % (app, last, setup.error_log))


# ---------------------------------------------------------------- wrk

def wrk_script(work, app):
    path = os.path.join(work, 'wrk-%s.lua' % app)
    if not os.path.exists(path):
        parts = ['post64k.lua'] if app == 'post64k' else []
        with open(path, 'w') as f:
            for part in parts + ['report.lua']:
                with open(os.path.join(BENCH_DIR, part)) as src:
                    f.write(src.read() + '\n')
    return path


def run_wrk(setup, app, conns, seconds, args):
    threads = min(2, conns)
    argv = [WRK, '--latency', '-t%d' % threads, '-c%d' % conns,
            '-d%ds' % seconds, '--timeout', '%ds' % args.timeout,
            '-s', wrk_script(setup.work, app),
            'http://127.0.0.1:%d/%s' % (setup.port, app)]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    PROCS.popens.append(p)
    try:
        out, err = p.communicate(timeout=seconds + args.timeout + 30)
    except subprocess.TimeoutExpired:
        PROCS.stop(p, 2)
        raise BenchError('wrk did not finish: %s' % ' '.join(argv))
    except BaseException:               # signal, Ctrl-C: stop it too
        PROCS.stop(p, 2)
        raise
    finally:
        if p in PROCS.popens:
            PROCS.popens.remove(p)
    if p.returncode != 0:
        raise BenchError('wrk exited %d: %s' % (p.returncode, err.strip()))
    return parse_wrk(out)


def parse_wrk(out):
    data = None
    for line in out.splitlines():
        if line.startswith('BENCH_JSON '):
            data = json.loads(line[len('BENCH_JSON '):])
    if data is None or 'Requests/sec:' not in out:
        raise BenchError('could not parse wrk output:\n%s' % out)
    secs = data['duration_us'] / 1e6
    return {'requests': data['requests'], 'seconds': secs,
            'rps': data['requests'] / secs if secs > 0 else 0.0,
            'p50_ms': data['p50_us'] / 1000.0, 'p99_ms': data['p99_us'] / 1000.0,
            'max_ms': data['lat_max_us'] / 1000.0,
            'bytes': data['bytes'],
            'errors': dict((k, data[k]) for k in
                           ('connect', 'read', 'write', 'timeout')),
            'non2xx': data['status']}


def measure_cell(setup, app, conns, args):
    if args.warmup > 0:
        run_wrk(setup, app, conns, args.warmup, args)
    before = cpu_seconds(setup.roots())
    own0, (tot0, idle0) = own_cpu_seconds(), cpu_ticks()
    res = run_wrk(setup, app, conns, args.duration, args)
    tot1, idle1 = cpu_ticks()
    cpu = cpu_seconds(setup.roots()) - before
    res['cpu_s'] = cpu
    res['cpu_per_1k'] = cpu / res['requests'] * 1000 if res['requests'] else None
    # The machine while measuring: the CPUs' busy share, and the share
    # used by neither this setup nor wrk and this script (other users:
    # the noise).  Shares of all CPUs' time.
    if tot1 > tot0:
        busy = (tot1 - tot0) - (idle1 - idle0)
        own = cpu + own_cpu_seconds() - own0
        res['busy_share'] = busy / float(tot1 - tot0)
        res['others_share'] = max(0.0, busy / TICK - own) / \
            ((tot1 - tot0) / TICK)
    return res


# ---------------------------------------------------------------- report

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarize(rounds):
    return {'rounds': len(rounds),
            'rps': median([r['rps'] for r in rounds]),
            'p50_ms': median([r['p50_ms'] for r in rounds]),
            'p99_ms': median([r['p99_ms'] for r in rounds]),
            'cpu_per_1k': median([r['cpu_per_1k'] for r in rounds]),
            'busy_share': median([r.get('busy_share') for r in rounds]),
            'others_share': median([r.get('others_share') for r in rounds]),
            'errors': dict((k, sum(r['errors'][k] for r in rounds))
                           for k in ('connect', 'read', 'write', 'timeout')),
            'non2xx': sum(r['non2xx'] for r in rounds)}


def fmt(v, spec='%.0f'):
    return '-' if v is None else spec % v


def ratio(a, b):
    if a is None or not b:
        return None
    return a / b


def pct(share):
    return fmt(None if share is None else 100 * share, '%.0f')


def ref_setup(setups):
    """The setup the ratio column divides by: B (pyworker) when it was
    measured, else the first --pyworker-module setup."""
    names = [s.name for s in setups if s.status == 'ok']
    if REF in names:
        return REF
    extra = [n for n in names if kind_of(n) == REF]
    return extra[0] if extra else REF


def table(results, apps, conns_list, setups):
    refname = ref_setup(setups)
    head = ('| app | conns | setup | req/s | p50 ms | p99 ms | '
            'sock err c/r/w/t | non-2xx | CPU s/1k req | CPU busy %% '
            '(others) | %s ÷ setup |' % refname)
    lines = [head, '|' + '---|' * 11]
    for app in apps:
        for conns in conns_list:
            ref = results.get((refname, app, conns))
            for s in setups:
                cell = results.get((s.name, app, conns))
                if cell is None:
                    continue
                e = cell['errors']
                rat = ratio(ref['rps'], cell['rps']) if ref else None
                if s.name == refname:
                    rat = None
                lines.append('| %s | %d | %s %s | %s | %s | %s | %d/%d/%d/%d'
                             ' | %d | %s | %s (%s) | %s |' % (
                                 app, conns, LETTER[s.name], s.name,
                                 fmt(cell['rps']), fmt(cell['p50_ms'], '%.2f'),
                                 fmt(cell['p99_ms'], '%.2f'), e['connect'],
                                 e['read'], e['write'], e['timeout'],
                                 cell['non2xx'],
                                 fmt(cell['cpu_per_1k'], '%.3f'),
                                 pct(cell.get('busy_share')),
                                 pct(cell.get('others_share')),
                                 fmt(rat, '%.2f×')))
    return lines


def rounds_table(raw, apps, conns_list, setups):
    """Every round of every cell of the mod_pyworker builds, in the order
    measured: the spread behind the medians."""
    names = [s.name for s in setups if s.kind == REF]
    lines = ['| app | conns | setup | req/s per round | CPU s/1k req per '
             'round | others\' CPU % per round |', '|' + '---|' * 6]
    for app in apps:
        for conns in conns_list:
            for name in names:
                rs = raw.get((name, app, conns))
                if not rs:
                    continue
                lines.append('| %s | %d | %s %s | %s | %s | %s |' % (
                    app, conns, LETTER[name], name,
                    ' / '.join(fmt(r['rps']) for r in rs),
                    ' / '.join(fmt(r['cpu_per_1k'], '%.3f') for r in rs),
                    ' / '.join(pct(r.get('others_share')) for r in rs)))
    return lines


IDLE_RSS_WAIT = 3      # seconds idle before the last RSS reading


def memory_table(memory, served):
    lines = ['| setup | daemon pids | daemon RSS MB (after checks → after run'
             ' → %g s idle) | Apache RSS MB (procs) | requests served | '
             'error-log lines |' % IDLE_RSS_WAIT,
             '|---|---|---|---|---|---|']
    mb = lambda kb: None if kb is None else kb / 1024.0
    for name, m in memory.items():
        a, b, c = m.get('start', {}), m.get('end', {}), m.get('idle', {})
        lines.append('| %s %s | %s | %s → %s → %s | %s (%s) | %d | %s |' % (
            LETTER[name], name,
            ' '.join(str(p) for p in b.get('daemon_pids', [])) or '-',
            fmt(mb(a.get('daemon_rss_kb')), '%.1f'),
            fmt(mb(b.get('daemon_rss_kb')), '%.1f'),
            fmt(mb(c.get('daemon_rss_kb')), '%.1f'),
            fmt(mb(b.get('apache_rss_kb')), '%.1f'),
            b.get('apache_procs', '-'), served.get(name, 0),
            m.get('error_log_lines', '-')))
    lines += ['', '| setup | Apache parent RSS MB | MPM children RSS MB, '
              'sum (after checks → after run) | per child after the run, '
              'MB | anon / file MB after the run | Apache PSS MB (every '
              'process but the daemons) | children mapping libpython |',
              '|---|---|---|---|---|---|---|']
    for name, m in memory.items():
        a, b = m.get('start', {}), m.get('end', {})
        if 'mpm_rss_kb' not in b:
            continue
        rss = [k or 0 for k in b['mpm_rss_kb']]
        row = '| %s %s | %s | %s → %s | %s | %s / %s | %s | %d of %d |'
        lines.append(row % (
            LETTER[name], name, fmt(mb(b.get('parent_rss_kb')), '%.1f'),
            fmt(mb(sum(a.get('mpm_rss_kb') or [0])), '%.1f'),
            fmt(mb(sum(rss)), '%.1f'),
            ' '.join('%.1f' % mb(k) for k in rss) or '-',
            fmt(mb(b.get('mpm_rss_anon_kb')), '%.1f'),
            fmt(mb(b.get('mpm_rss_file_kb')), '%.1f'),
            fmt(mb(b.get('apache_pss_kb')), '%.1f'),
            b.get('mpm_libpython', 0), len(rss)))
    return lines


TARGETS = [
    # (description, app, conns, other setup, kind, bound)
    ('hello @100: ≥ 2.0× mod_wsgi daemon', 'hello', 100, 'wsgi-daemon', 'rps', 2.0),
    ('hello @100: ≥ 1.0× mod_wsgi embedded', 'hello', 100, 'wsgi-embedded', 'rps', 1.0),
    ('hello @100: ≥ 1.2× uWSGI', 'hello', 100, 'uwsgi', 'rps', 1.2),
    ('hello @100: ≥ 0.7× static', 'hello', 100, 'static', 'rps', 0.7),
    ('hello @10: ≥ 1.5× mod_wsgi daemon', 'hello', 10, 'wsgi-daemon', 'rps', 1.5),
    ('hello @500: ≥ 1.5× mod_wsgi daemon', 'hello', 500, 'wsgi-daemon', 'rps', 1.5),
    ('hello @1000: zero non-2xx', 'hello', 1000, None, 'non2xx', 0),
    ('hello @1000: socket errors ≤ static', 'hello', 1000, 'static', 'errors', None),
    ('hello @100: CPU/1k req ≤ 0.5× mod_wsgi daemon', 'hello', 100,
     'wsgi-daemon', 'cpu', 0.5),
    ('file5m @100: ≥ 0.9× static', 'file5m', 100, 'static', 'rps', 0.9),
    ('post64k @100: ≥ 1.5× mod_wsgi daemon', 'post64k', 100, 'wsgi-daemon', 'rps', 1.5),
    ('stream100 @100: ≥ 1.5× mod_wsgi daemon', 'stream100', 100,
     'wsgi-daemon', 'rps', 1.5),
]


def evaluate_targets(results):
    out = []
    for desc, app, conns, other, kind, bound in TARGETS:
        b = results.get((REF, app, conns))
        o = results.get((other, app, conns)) if other else None
        value, ok = None, None
        if b is not None and (other is None or o is not None):
            if kind == 'rps':
                value = ratio(b['rps'], o['rps'])
                ok = value is not None and value >= bound
                value = fmt(value, '%.2f×')
            elif kind == 'cpu':
                value = ratio(b['cpu_per_1k'], o['cpu_per_1k'])
                ok = value is not None and value <= bound
                value = fmt(value, '%.2f×')
            elif kind == 'non2xx':
                ok, value = b['non2xx'] == 0, str(b['non2xx'])
            else:
                eb, eo = sum(b['errors'].values()), sum(o['errors'].values())
                ok, value = eb <= eo, '%d vs %d' % (eb, eo)
        out.append({'target': desc, 'value': value,
                    'result': {None: 'not measured', True: 'pass',
                               False: 'FAIL'}[ok]})
    return out


def machine_info():
    info = {'nproc': os.cpu_count(), 'kernel': os.uname().release}
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    info['cpu'] = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    for key, argv in (('apache', [APACHE, '-v']), ('wrk', [WRK, '-v']),
                      ('uwsgi', [UWSGI, '--version'])):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            first = (r.stdout + r.stderr).strip().splitlines()[0]
            first = first.replace('Server version: ', '')
            info[key] = first.split(' Copyright')[0].strip()
        except (OSError, IndexError, subprocess.SubprocessError):
            info[key] = None
    r = subprocess.run(['dpkg-query', '-W', '-f=${Version}',
                        'libapache2-mod-wsgi-py3'], capture_output=True, text=True)
    info['mod_wsgi'] = r.stdout.strip() or None
    return info


def render(meta, results, memory, targets, setups, apps, conns_list, served,
           raw=None):
    lines = ['# mod_pyworker benchmark %s' % meta['timestamp'], '',
             '%s. Load average at start %s, at end %s. %s round(s), wrk '
             '--latency, %s s per cell after %s s warm-up, timeout %s s; '
             'medians across rounds, errors summed over rounds. '
             'EnableSendfile %s. Daemons: %s process(es) x %s threads.' % (
                 ', '.join('%s: %s' % (k, v) for k, v in meta['machine'].items()
                           if v),
                 ' '.join('%.2f' % x for x in meta['loadavg_start']),
                 ' '.join('%.2f' % x for x in meta['loadavg_end']),
                 meta['rounds'], meta['duration'], meta['warmup'],
                 meta['timeout'], 'On' if meta['sendfile'] else 'Off',
                 meta.get('processes', 1), meta.get('threads', 8)), '']
    for name, mod in sorted(meta.get('modules', {}).items()):
        progs = ', '.join('%s %s' % (f, h[:16]) for f, h in
                          sorted(mod.get('programs', {}).items()))
        lines += ['%s %s: mod_pyworker.so measured: a copy of %s built %s, '
                  'sha256 %s; daemon programs beside it: %s.' % (
                      LETTER[name], name, mod['path'], mod['mtime'],
                      mod['sha256'][:16], progs or 'none'), '']
    lines += ['CPU busy in the 2 s before the run: %.0f %%.' %
              (100 * meta['cpu_busy_start']), '']
    if meta['cpu_busy_start'] > BUSY_SHARE_MAX:
        lines += ['**Warning: the machine was busy at start (%.0f %% of the '
                  'CPUs in use); these numbers are not comparable with a '
                  'quiet run.**' % (100 * meta['cpu_busy_start']), '']
    lines += table(results, apps, conns_list, setups) + ['']
    if raw and meta['rounds'] > 1 and \
            sum(s.kind == REF for s in setups) > 1:
        lines += ['Every round, in the order measured (setups rotate each '
                  'round):', ''] + rounds_table(raw, apps, conns_list,
                                               setups) + ['']
    lines += memory_table(memory, served) + ['']
    lines += ['| target (issue 4) | value | result |', '|---|---|---|']
    lines += ['| %s | %s | %s |' % (t['target'], t['value'] or '-', t['result'])
              for t in targets]
    if meta['problems']:
        lines += ['', 'Problems:'] + ['- %s' % p for p in meta['problems']]
    return '\n'.join(lines) + '\n'


# ---------------------------------------------------------------- main

def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog='bench/run', description='mod_pyworker benchmark (issue 4)')
    ap.add_argument('--quick', action='store_true',
                    help='seconds-long smoke: every setup, every app, 10 '
                    'connections, 1 s, 1 round, no warm-up')
    ap.add_argument('--duration', type=int, default=10, help='seconds per cell')
    ap.add_argument('--warmup', type=int, default=2,
                    help='seconds of unmeasured load before each cell')
    ap.add_argument('--timeout', type=int, default=10,
                    help='wrk request timeout in seconds')
    ap.add_argument('--connections', default='1,10,100,500,1000',
                    help='comma-separated wrk connection counts')
    ap.add_argument('--apps', default=','.join(ALL_APPS),
                    help='comma-separated subset of the apps')
    ap.add_argument('--setups', default=','.join(SETUP_NAMES),
                    help='subset of ' + ','.join(SETUP_NAMES))
    ap.add_argument('--rounds', type=int, default=3,
                    help='interleaved rounds; medians are reported')
    ap.add_argument('--module', default=os.path.join(REPO_DIR,
                                                     'mod_pyworker.so'),
                    help='mod_pyworker.so to load (default: the built one)')
    ap.add_argument('--pyworker-module', action='append', default=[],
                    metavar='NAME=PATH',
                    help='add setup pyworker-NAME: mod_pyworker as B, '
                    'loaded from PATH (another build; its daemon programs '
                    'beside it are copied too); repeatable')
    ap.add_argument('--processes', type=int, default=1,
                    help='daemon processes of B, C and E (default 1)')
    ap.add_argument('--threads', type=int, default=8,
                    help='threads per daemon process of B, C and E '
                    '(default 8)')
    ap.add_argument('--sendfile', action='store_true',
                    help='EnableSendfile On in every setup (default Off, '
                    "Apache's default)")
    ap.add_argument('--no-install', action='store_true',
                    help='do not apt-get install missing packages')
    ap.add_argument('--keep', action='store_true',
                    help='keep the /tmp run directory (configs, logs)')
    ap.add_argument('--check-targets', action='store_true',
                    help='exit 3 if a measured issue-4 target fails')
    args = ap.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.rounds = 1, 0, 1
        if args.connections == ap.get_default('connections'):
            args.connections = '10'
    # Daemons are told from MPM children by their thread count.
    if not (1 <= args.processes <= 64
            and 1 <= args.threads < THREADS_PER_CHILD // 2 - 8):
        ap.error('--processes 1-64 and --threads 1-%d'
                 % (THREADS_PER_CHILD // 2 - 9))
    args.conns = [int(c) for c in args.connections.split(',') if c]
    args.app_list = [a for a in args.apps.split(',') if a]
    args.setup_list = [s for s in args.setups.split(',') if s]
    for a in args.app_list:
        if a not in ALL_APPS:
            ap.error('unknown app %r (have %s)' % (a, ','.join(ALL_APPS)))
    for s in args.setup_list:
        if s not in SETUP_NAMES:
            ap.error('unknown setup %r (have %s)' % (s, ','.join(SETUP_NAMES)))
    args.pyworker_modules = {}
    for i, spec in enumerate(args.pyworker_module):
        name, sep, path = spec.partition('=')
        if not sep or not path or not name.replace('-', '').replace(
                '_', '').isalnum():
            ap.error('--pyworker-module NAME=PATH (NAME: letters, digits, '
                     '- and _): %r' % spec)
        name = EXTRA_PREFIX + name
        if name in args.pyworker_modules:
            ap.error('--pyworker-module %s given twice' % name)
        args.pyworker_modules[name] = os.path.abspath(path)
        LETTER[name] = 'B%d' % (i + 1)
    # B's builds side by side, right after B.
    args.setup_list += list(args.pyworker_modules)
    if args.duration < 1 or args.rounds < 1 or not args.conns or \
            min(args.conns) < 1:
        ap.error('--duration, --rounds and --connections must be >= 1')
    return args


def on_signal(signum, frame):
    raise SystemExit(128 + signum)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def start_setups(args, work, file_sha, problems):
    setups = []
    order = SETUP_NAMES[:2] + list(getattr(args, 'pyworker_modules', {})) \
        + SETUP_NAMES[2:]
    for name in [n for n in order if n in args.setup_list]:
        s = Setup(name, work, args.app_list, args)
        setups.append(s)
        try:
            s.start()
            for app in args.app_list:
                if s.serves(app):
                    check_app(s, app, file_sha)
            s.status = 'ok'
            s.remember()
            log('%s %s: serving on 127.0.0.1:%d' % (LETTER[name], name, s.port))
        except BenchError as e:
            if s.status != 'skipped':
                s.status = 'failed'
            problems.append('%s %s %s: %s' % (LETTER[name], name, s.status, e))
            log(problems[-1])
            s.stop()
    return setups


def run_rounds(args, live, results_raw, problems):
    cells = sum(1 for a in args.app_list for _ in args.conns
                for s in live if s.serves(a))
    est = cells * args.rounds * (args.duration + args.warmup + 0.5)
    log('%d cells x %d round(s): about %.0f s of load' % (cells, args.rounds, est))
    for rnd in range(args.rounds):
        k = rnd % len(live) if live else 0
        order = live[k:] + live[:k]
        for app in args.app_list:
            for conns in args.conns:
                for s in order:
                    if not s.serves(app) or s.status != 'ok':
                        continue
                    try:
                        r = measure_cell(s, app, conns, args)
                    except BenchError as e:
                        problems.append('%s %s %s@%d: %s' % (
                            LETTER[s.name], s.name, app, conns, e))
                        log(problems[-1])
                        continue
                    results_raw.setdefault((s.name, app, conns), []).append(r)
                    s.remember()
                    check_alive(s, problems)
                    log('round %d %s %-13s %-9s c=%-4d %9.0f req/s p99 %.2f ms'
                        % (rnd + 1, LETTER[s.name], s.name, app, conns,
                           r['rps'], r['p99_ms']))


def check_alive(setup, problems):
    """A setup whose Apache or uWSGI exited mid-run has failed."""
    for what, p in (('apache', setup.apache), ('uwsgi', setup.uwsgi)):
        if p is not None and p.poll() is not None and setup.status == 'ok':
            setup.status = 'failed'
            problems.append('%s %s failed: %s (pid %d) exited with %s during '
                            'the run; see %s' % (LETTER[setup.name],
                                                 setup.name, what, p.pid,
                                                 p.returncode, setup.error_log))
            log(problems[-1])
            setup.stop()                # and whatever it left behind


def main(argv):
    args = parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    atexit.register(PROCS.stop_all)
    raise_nofile()
    loadavg_start = os.getloadavg()
    args.cpu_busy_start = cpu_busy_share()
    if args.cpu_busy_start > BUSY_SHARE_MAX:
        log('warning: %.0f %% of the CPUs busy at start: the machine is busy'
            % (100 * args.cpu_busy_start))
    if not args.no_install:
        ensure_installed()
    problems, work, setups = [], None, []
    try:
        work, file_sha = prepare_workdir(args.app_list)
        setups = start_setups(args, work, file_sha, problems)
        live = [s for s in setups if s.status == 'ok']
        memory = dict((s.name, {'start': s.memory()}) for s in live)
        raw = {}
        run_rounds(args, live, raw, problems)
        for s in live:
            check_alive(s, problems)
            memory[s.name]['end'] = s.memory()
            # wrk closes its connections mid-response when a cell ends, so
            # some error lines (broken pipe) are normal; counted, shown.
            memory[s.name]['error_log_lines'] = len(s.error_lines())
        # Right after the load, freed C heap may still sit in malloc's
        # arenas; an idle daemon gives it back (pyw_watchdog_idle.c).
        time.sleep(IDLE_RSS_WAIT)
        for s in live:
            memory[s.name]['idle'] = s.memory()
        return finish(args, setups, raw, memory, problems, loadavg_start)
    finally:
        PROCS.stop_all()
        # Keep configs and logs when something went wrong (a skipped
        # pyworker is not that).
        broken = problems and (any(s.status == 'failed' for s in setups)
                               or len(problems) > sum(
                                   s.status == 'skipped' for s in setups))
        if work and (args.keep or broken):
            log('run directory kept: %s' % work)
        elif work:
            shutil.rmtree(work, ignore_errors=True)


def finish(args, setups, raw, memory, problems, loadavg_start):
    results = dict((k, summarize(v)) for k, v in raw.items())
    served = {}
    for (name, _, _), rounds in raw.items():
        served[name] = served.get(name, 0) + sum(r['requests'] for r in rounds)
    targets = evaluate_targets(results)
    stamp = time.strftime('%Y%m%d-%H%M%S')
    meta = {'timestamp': stamp, 'machine': machine_info(),
            'loadavg_start': loadavg_start, 'loadavg_end': os.getloadavg(),
            'cpu_busy_start': args.cpu_busy_start,
            'rounds': args.rounds, 'duration': args.duration,
            'warmup': args.warmup, 'timeout': args.timeout,
            'connections': args.conns, 'apps': args.app_list,
            'quick': args.quick,
            'module': getattr(args, 'module_info', {'path': args.module}),
            'modules': dict((s.name, s.module_info) for s in setups
                            if s.module_info),
            'sendfile': args.sendfile,
            'processes': args.processes, 'threads': args.threads,
            'setups': dict((s.name, s.status) for s in setups),
            'problems': problems, 'event_mpm': EVENT_MPM.strip().splitlines()}
    os.makedirs(RESULTS_DIR, exist_ok=True)
    base = os.path.join(RESULTS_DIR, stamp + ('-quick' if args.quick else ''))
    md = render(meta, results, memory, targets, setups, args.app_list,
                args.conns, served, raw)
    if raw:
        md += '\n![requests/s and p99 per setup](%s.svg)\n' \
            % os.path.basename(base)
    sys.stdout.write(md)
    with open(base + '.md', 'w') as f:
        f.write(md)
    cells = [dict(setup=k[0], app=k[1], conns=k[2], median=results[k],
                  rounds=raw[k]) for k in sorted(raw)]
    data = {'meta': meta, 'cells': cells, 'memory': memory,
            'targets': targets, 'requests_served': served}
    with open(base + '.json', 'w') as f:
        json.dump(data, f, indent=1)
    if raw:
        with open(base + '.svg', 'w') as f:
            f.write(chart.render_svg(data))
    log('written %s.md, .json%s' % (base, ' and .svg' if raw else ''))
    return exit_code(args, setups, raw, problems, targets)


def exit_code(args, setups, raw, problems, targets):
    failed = [s.name for s in setups if s.status == 'failed']
    skipped = [s.name for s in setups if s.status == 'skipped']
    missing = [(s.name, a, c) for s in setups if s.status == 'ok'
               for a in args.app_list if s.serves(a) for c in args.conns
               if len(raw.get((s.name, a, c), [])) != args.rounds]
    if failed or missing or (args.quick and skipped):
        log('FAILED: setups %s, skipped %s, cells without results %s'
            % (failed or '-', skipped or '-', missing or '-'))
        return 1
    if args.check_targets and any(t['result'] == 'FAIL' for t in targets):
        return 3
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as e:
        log('error: %s' % e)
        sys.exit(1)

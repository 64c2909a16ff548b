#!/usr/bin/python3
"""The Plone benchmark (issue 12 part 5): one Plone site on one ZEO
server, served through mod_pyworker and through the WSGI servers Plone
people use, the three URLs of the Pyruvate author's Plone Conference 2021
talk, loaded with wrk on 127.0.0.1, setups interleaved in every round,
medians reported.

    bench/run-plone [--quick] [--duration S] [--rounds N] ...

Setups (every one processes x threads alike, default 2 x 2; one Zope
instance directory each, all on the same ZEO storage):
  P pyworker      mod_pyworker daemon group behind Apache (event MPM)
  W waitress      Zope's default server, pre-forked on one socket
  R pyruvate      Pyruvate, pre-forked on one socket
  B bjoern        bjoern (no threads): processes x threads processes
  G gunicorn      gunicorn, gthread workers
  M wsgi-daemon   mod_wsgi daemon mode (mod_wsgi from PyPI, built against
                  Debian's apache2-dev) behind the same Apache settings

The peers run from plone/build-env --bench (a venv of /usr/bin/python3
with plone/requirements.txt and plone/bench-requirements.txt).  ZEO, the
site and the instance configuration come from t/plone_t.  Process
handling, wrk parsing and the CPU accounting come from bench.py.
Standard library only; run with /usr/bin/python3 (see bench/README.md).
"""

import argparse
import atexit
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
sys.path.insert(0, os.path.join(REPO_DIR, 't'))

import bench                                    # noqa: E402
from bench import (PROCS, BenchError, log, fmt, pct, median,   # noqa: E402
                   cpu_seconds, cpu_ticks, own_cpu_seconds, TICK)
import plone_t                                  # noqa: E402

BUILD_ENV = os.path.join(REPO_DIR, 'plone', 'build-env')
SERVE = os.path.join(BENCH_DIR, 'plone_serve.py')
SITE_TITLE = 'Plone benchmark site'
STORAGE = 'plone'

# (key, path, Accept header, what the talk measured on 2 CPUs, req/s)
URLS = [('root', '/', None, 600),
        ('plone', '/Plone', None, 27),
        ('json', '/Plone', 'application/json', 500)]
URL_LABEL = {'root': '/', 'plone': '/Plone', 'json': '/Plone (JSON)'}
SETUPS = [('P', 'pyworker'), ('W', 'waitress'), ('R', 'pyruvate'),
          ('B', 'bjoern'), ('G', 'gunicorn'), ('M', 'wsgi-daemon'),
          ('w', 'apache+waitress'), ('r', 'apache+pyruvate'),
          ('b', 'apache+bjoern'), ('g', 'apache+gunicorn'),
          ('Q', 'pyworker-b')]
SETUP_NAMES = [n for _, n in SETUPS]
LETTER = dict((n, l) for l, n in SETUPS)
REF = 'pyworker'
APACHE_KINDS = ('pyworker', 'wsgi-daemon', 'pyworker-b')
# a standalone server behind the same Apache (mod_proxy_http, pooled
# keep-alive connections): how users run waitress and friends today
FRONT = 'apache+'
DEFAULT_SETUPS = ('pyworker', 'waitress', 'pyruvate', 'bjoern', 'gunicorn',
                  'wsgi-daemon')
READY_TIMEOUT = 600         # a setup's Zope processes loaded, all URLs 200
DRAIN_IDLE = 0.10           # CPU share of one core below which a setup is
DRAIN_MAX = 60              # idle again; the longest we wait for that

TARGET_RPS = 0.97           # pyworker >= 0.97 x the best peer, every cell
P99_CONNS = (50, 100)       # pyworker p99 <= the best peer's there
CLEAN_CONNS = 100           # no error, no non-2xx for pyworker there


# ---------------------------------------------------------------- setups

class PloneSetup:
    """One server of the site: its own Zope instance directory (its own
    var/, caches and ZODB connection pool) on the shared ZEO storage."""

    def __init__(self, name, world, venv, args):
        self.name, self.world, self.venv, self.args = name, world, venv, args
        self.fronted = name.startswith(FRONT)
        self.server = name[len(FRONT):] if self.fronted else name
        self.processes, self.threads = args.processes, args.threads
        if self.server == 'bjoern':     # one thread per process, always
            self.processes, self.threads = args.processes * args.threads, 1
        self.inst = os.path.join(world.root, name)
        self.root = os.path.join(world.root, name + '-httpd')
        self.port = bench.free_port()
        self.backend_port = bench.free_port() if self.fronted else None
        self.proc = None                # Apache, or the standalone server
        self.backend = None             # the server behind Apache
        self.backend_log = None
        self.status = 'not started'
        self.error_log = None

    def serves(self, _url):
        return True

    # -- start
    def start(self):
        user = bench.run_user()
        plone_t.write_instance(self.inst, self.world.port, STORAGE,
                               self.threads, user[0] if user else None)
        if self.name in APACHE_KINDS:
            self.start_apache()
        elif self.fronted:
            self.backend = self.start_standalone(user, self.backend_port)
            self.backend_log = self.error_log
            self.start_apache()
        else:
            self.proc = self.start_standalone(user, self.port)
        self.status = 'started'

    def start_standalone(self, user, port):
        argv = [os.path.join(self.venv, 'bin', 'python'), SERVE, self.server,
                '127.0.0.1:%d' % port, str(self.processes),
                str(self.threads), self.inst]
        log_path = os.path.join(self.inst, 'server.log')
        out = open(log_path, 'ab')
        kw = {}
        if user:
            kw = dict(user=user[0], group=user[1], extra_groups=[])
        env = {'PATH': '/usr/bin:/bin', 'LANG': 'C.UTF-8',
               'HOME': self.inst}
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out,
                stderr=subprocess.STDOUT, env=env, cwd=self.inst,
                start_new_session=True, **kw)
        finally:
            out.close()
        PROCS.popens.append(proc)
        self.error_log = log_path
        bench.wait_port(port, proc, READY_TIMEOUT)
        return proc

    def start_apache(self):
        for sub in ('conf', 'logs', 'run'):
            os.makedirs(os.path.join(self.root, sub), 0o755, exist_ok=True)
        conf = os.path.join(self.root, 'conf', 'httpd.conf')
        self.error_log = os.path.join(self.root, 'logs', 'error_log')
        with open(conf, 'w') as f:
            f.write('\n'.join(self.apache_conf()) + '\n')
        t = subprocess.run([bench.APACHE, '-t', '-d', self.root, '-f', conf],
                           capture_output=True, text=True,
                           env=bench.clean_env())
        if t.returncode != 0:
            raise BenchError('configtest failed: %s'
                             % (t.stderr or t.stdout).strip())
        self.proc = PROCS.start(
            [bench.APACHE, '-d', self.root, '-f', conf, '-DFOREGROUND'],
            os.path.join(self.root, 'logs', 'stdout'), bench.clean_env())
        bench.wait_port(self.port, self.proc, 20)

    def apache_conf(self):
        """bench.py's Apache (event MPM 4 x 512, keep-alive, no access
        log) with the whole site at /."""
        user = bench.run_user()
        m = bench.MODULES
        lines = ['ServerRoot "%s"' % self.root, 'ServerName 127.0.0.1',
                 'Listen 127.0.0.1:%d' % self.port,
                 'PidFile "%s/run/httpd.pid"' % self.root,
                 'DefaultRuntimeDir "%s/run"' % self.root,
                 'ErrorLog "%s"' % self.error_log, 'LogLevel warn',
                 'LoadModule mpm_event_module %s/mod_mpm_event.so' % m,
                 'LoadModule authz_core_module %s/mod_authz_core.so' % m,
                 'LoadModule alias_module %s/mod_alias.so' % m]
        if user:
            lines += ['User %s' % user[0], 'Group #%d' % user[1]]
        lines += [bench.EVENT_MPM, 'EnableSendfile Off', 'KeepAlive On',
                  'MaxKeepAliveRequests 0', 'KeepAliveTimeout 5',
                  'Timeout 60', '<Directory "%s">' % self.inst,
                  '    Require all granted', '</Directory>']
        if self.fronted:
            return lines + self.proxy_conf()
        script = os.path.join(self.inst, 'zope.wsgi')
        group = 'processes=%d threads=%d python-home=%s home=%s ' \
                'display-name=%%{GROUP}' % (self.processes, self.threads,
                                            self.venv, self.inst)
        if self.name.startswith('pyworker'):
            lines += ['LoadModule pyworker_module %s' % self.module_copy(),
                      'PyWorkerDaemonProcess plone ' + group,
                      'PyWorkerImportScript %s process-group=plone '
                      'application-group=%%{GLOBAL}' % script,
                      'PyWorkerScriptAlias / %s process-group=plone' % script]
        else:
            lines += ['LoadModule wsgi_module %s' % mod_wsgi_so(self.venv),
                      'WSGISocketPrefix "%s/run/wsgi"' % self.root,
                      'WSGIRestrictEmbedded On',
                      'WSGIDaemonProcess plone ' + group,
                      'WSGIImportScript %s process-group=plone '
                      'application-group=%%{GLOBAL}' % script,
                      'WSGIScriptAlias / %s process-group=plone '
                      'application-group=%%{GLOBAL}' % script]
        return lines

    def proxy_conf(self):
        """The whole site at / proxied to the standalone server; mod_proxy
        keeps its backend connections open between requests."""
        m = bench.MODULES
        url = 'http://127.0.0.1:%d/' % self.backend_port
        return ['LoadModule proxy_module %s/mod_proxy.so' % m,
                'LoadModule proxy_http_module %s/mod_proxy_http.so' % m,
                'ProxyPreserveHost On', 'ProxyPass / %s' % url,
                'ProxyPassReverse / %s' % url]

    def module_copy(self):
        """mod_pyworker.so and its daemon programs, copied (make rewrites
        the built files in place)."""
        ddir = os.path.join(self.root, 'modules')
        os.makedirs(ddir, 0o755, exist_ok=True)
        src = os.path.abspath(self.args.module_b if self.name == 'pyworker-b'
                              else self.args.module)
        if not os.path.exists(src):
            raise BenchError('%s does not exist (run ./dev build)' % src)
        info = {'path': src, 'programs': {}}
        src_dir = os.path.dirname(src)
        for f in ['mod_pyworker.so'] + sorted(
                f for f in os.listdir(src_dir)
                if f.startswith("pyworker-daemon-")
                and not f.endswith(".tmp")):
            info['programs'][f] = bench.copy_stable(
                os.path.join(src_dir, f), os.path.join(ddir, f))
        if self.name == 'pyworker-b':
            self.args.module_b_info = info
        else:
            self.args.module_info = info
        return os.path.join(ddir, 'mod_pyworker.so')

    # -- checks
    def check(self, deadline):
        """Every URL answers 200 with the body it should have; retried
        while the Zope processes load."""
        for key, path, accept, _ in URLS:
            last = None
            while True:
                try:
                    status, body = http_get(self.port, path, accept)
                    ok = status == 200 and body_ok(key, body)
                    if ok:
                        break
                    last = 'HTTP %d, %d bytes: %r' % (status, len(body),
                                                      body[:200])
                except (OSError, http.client.HTTPException) as e:
                    last = repr(e)
                if not self.alive():
                    raise BenchError('%s exited; see %s' % (
                        self.name, self.backend_log or self.error_log))
                if time.time() > deadline:
                    raise BenchError('GET %s%s: %s; see %s' % (
                        path, ' (JSON)' if accept else '', last,
                        self.error_log))
                time.sleep(0.5)

    def procs(self):
        return [p for p in (self.proc, self.backend) if p is not None]

    def roots(self):
        return [p.pid for p in self.procs()]

    def pids(self):
        return sum((bench.descendants(p.pid) for p in self.procs()), [])

    def stop(self):
        for p in self.procs():
            PROCS.stop(p, 20)

    def alive(self):
        return bool(self.procs()) and all(p.poll() is None
                                          for p in self.procs())

    def error_lines(self):
        apache = (':error]', ':crit]', ':alert]', ':emerg]')
        python = ('Traceback', 'ERROR', 'CRITICAL')
        if self.name in APACHE_KINDS:
            return log_lines(self.error_log, apache)
        if self.fronted:
            return log_lines(self.error_log, apache) + \
                log_lines(self.backend_log, python)
        return log_lines(self.error_log, python)


def log_lines(path, marks):
    """The lines of a log file holding any of marks."""
    if not path:
        return []
    try:
        with open(path, errors='replace') as f:
            text = f.read()
    except OSError:
        return []
    return [l for l in text.splitlines() if any(m in l for m in marks)]


def mod_wsgi_so(venv):
    r = subprocess.run([os.path.join(venv, 'bin', 'mod_wsgi-express'),
                        'module-location'], capture_output=True, text=True)
    path = r.stdout.strip()
    if r.returncode != 0 or not os.path.exists(path):
        raise BenchError('mod_wsgi-express module-location: %s'
                         % (r.stderr.strip() or path))
    return path


def http_get(port, path, accept=None, timeout=60):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=timeout)
    try:
        c.request('GET', path, headers={'Accept': accept} if accept else {})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def body_ok(key, body):
    if key == 'json':
        try:
            data = json.loads(body)
        except ValueError:
            return False
        return data.get('title') == SITE_TITLE and '@id' in data
    if key == 'plone':
        return SITE_TITLE.encode() in body and b'</html>' in body
    return b'</html>' in body.lower() or b'</HTML>' in body


# ---------------------------------------------------------------- load

def run_wrk(setup, url, conns, seconds, args):
    key, path, accept, _ = url
    argv = [bench.WRK, '--latency', '-t%d' % min(2, conns), '-c%d' % conns,
            '-d%ds' % seconds, '--timeout', '%ds' % args.timeout,
            '-s', os.path.join(BENCH_DIR, 'report.lua')]
    if accept:
        argv += ['-H', 'Accept: %s' % accept]
    argv.append('http://127.0.0.1:%d%s' % (setup.port, path))
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    PROCS.popens.append(p)
    try:
        out, err = p.communicate(timeout=seconds + args.timeout + 30)
    except subprocess.TimeoutExpired:
        PROCS.stop(p, 2)
        raise BenchError('wrk did not finish: %s' % ' '.join(argv))
    except BaseException:
        PROCS.stop(p, 2)
        raise
    finally:
        if p in PROCS.popens:
            PROCS.popens.remove(p)
    if p.returncode != 0:
        raise BenchError('wrk exited %d: %s' % (p.returncode, err.strip()))
    return bench.parse_wrk(out)


def drain(setup, zeo_pid):
    """Wait until the setup (and ZEO) are idle: wrk stops with requests
    still running in the server (its connections close, the server
    finishes them), and at /Plone a 100-connection cell leaves seconds of
    work behind, which would land in the next setup's cell."""
    roots = setup.roots() + [zeo_pid]
    t0 = time.time()
    last = cpu_seconds(roots)
    while time.time() - t0 < DRAIN_MAX:
        time.sleep(0.25)
        now = cpu_seconds(roots)
        if now - last < DRAIN_IDLE * 0.25:
            break
        last = now
    return time.time() - t0


def measure_cell(setup, url, conns, args, zeo_pid):
    res_drain = 0.0
    if args.warmup > 0:
        run_wrk(setup, url, conns, args.warmup, args)
        res_drain = drain(setup, zeo_pid)
    roots = setup.roots() + [zeo_pid]
    before = cpu_seconds(roots)
    own0, (tot0, idle0) = own_cpu_seconds(), cpu_ticks()
    res = run_wrk(setup, url, conns, args.duration, args)
    tot1, idle1 = cpu_ticks()
    cpu = cpu_seconds(roots) - before
    res['cpu_s'] = cpu
    res['cpu_per_req_ms'] = cpu / res['requests'] * 1000 \
        if res['requests'] else None
    if tot1 > tot0:
        busy = (tot1 - tot0) - (idle1 - idle0)
        own = cpu + own_cpu_seconds() - own0
        res['busy_share'] = busy / float(tot1 - tot0)
        res['others_share'] = max(0.0, busy / TICK - own) / \
            ((tot1 - tot0) / TICK)
    res['drain_after_warmup_s'] = res_drain
    res['drain_after_s'] = drain(setup, zeo_pid)
    return res


def prime(live, args, zeo_pid):
    """Unmeasured load on every URL of every setup before the first
    round, at twice the setup's workers, so that every process has
    compiled Plone's templates (Chameleon, per process) and filled its
    ZODB caches: the first request of a process takes seconds."""
    if args.prime <= 0:
        return
    for s in live:
        conns = 2 * s.processes * s.threads
        for url in URLS:
            try:
                run_wrk(s, url, conns, args.prime, args)
            except BenchError as e:
                log('%s priming %s: %s' % (s.name, url[0], e))
            drain(s, zeo_pid)
        log('%s %s: primed (%d s per URL at %d connections)'
            % (LETTER[s.name], s.name, args.prime, conns))


def run_rounds(args, live, raw, problems, zeo_pid):
    cells = len(URLS) * len(args.conns) * len(live)
    est = cells * args.rounds * (args.duration + args.warmup + 1.5)
    log('%d cells x %d round(s): about %.0f s of load (plus draining)'
        % (cells, args.rounds, est))
    for rnd in range(args.rounds):
        k = rnd % len(live) if live else 0
        order = live[k:] + live[:k]
        for url in URLS:
            for conns in args.conns:
                for s in order:
                    if s.status != 'ok':
                        continue
                    try:
                        r = measure_cell(s, url, conns, args, zeo_pid)
                    except BenchError as e:
                        problems.append('%s %s %s@%d: %s' % (
                            LETTER[s.name], s.name, url[0], conns, e))
                        log(problems[-1])
                        continue
                    r['round'] = rnd + 1
                    raw.setdefault((s.name, url[0], conns), []).append(r)
                    for p in s.procs():
                        PROCS.remember(p)
                    if not s.alive():
                        s.status = 'failed'
                        problems.append('%s %s died during the run; see %s'
                                        % (LETTER[s.name], s.name,
                                           s.error_log))
                        log(problems[-1])
                    e = r['errors']
                    log('round %d %s %-11s %-6s c=%-3d %7.1f req/s p99 %8.1f '
                        'ms err %d/%d/%d/%d non-2xx %d others %s %%' % (
                            rnd + 1, LETTER[s.name], s.name, url[0], conns,
                            r['rps'], r['p99_ms'], e['connect'], e['read'],
                            e['write'], e['timeout'], r['non2xx'],
                            pct(r.get('others_share'))))


# ---------------------------------------------------------------- report

def summarize(rounds):
    """Medians over rounds.  A round without a single response (wrk
    counts only the requests that complete within the cell, and nothing
    of one still waiting when it ends) has no latency: it counts as
    'starved', a failure, and its 0 req/s goes into the median."""
    answered = [r for r in rounds if r['requests'] > 0]
    return {'rounds': len(rounds),
            'starved': len(rounds) - len(answered),
            'rps': median([r['rps'] for r in rounds]),
            'rps_min': min(r['rps'] for r in rounds),
            'rps_max': max(r['rps'] for r in rounds),
            'p50_ms': median([r['p50_ms'] for r in answered]),
            'p99_ms': median([r['p99_ms'] for r in answered]),
            'max_ms': max([r['max_ms'] for r in answered] or [None]),
            'cpu_per_req_ms': median([r['cpu_per_req_ms'] for r in rounds]),
            'busy_share': median([r.get('busy_share') for r in rounds]),
            'others_share': median([r.get('others_share') for r in rounds]),
            'others_max': max((r.get('others_share') or 0) for r in rounds),
            'errors': dict((k, sum(r['errors'][k] for r in rounds))
                           for k in ('connect', 'read', 'write', 'timeout')),
            'non2xx': sum(r['non2xx'] for r in rounds)}


def failures(cell):
    """Socket errors, wrk timeouts, non-2xx and rounds without any
    response, over all rounds."""
    return sum(cell['errors'].values()) + cell['non2xx'] + \
        cell.get('starved', 0)


def best_peer(results, key, conns, setups, field='rps'):
    """(name, cell) of the peer with the highest req/s (field 'rps') or
    the lowest p99 (field 'p99_ms') in this cell; a second build of
    ours (pyworker-b) is no peer."""
    cells = [(s.name, results[(s.name, key, conns)]) for s in setups
             if not s.name.startswith(REF) and (s.name, key, conns) in results]
    if field != 'rps':          # a peer that never answered has no p99
        cells = [nc for nc in cells if nc[1]['p99_ms'] is not None]
    if not cells:
        return None, None
    if field == 'rps':
        return max(cells, key=lambda nc: nc[1]['rps'])
    return min(cells, key=lambda nc: nc[1]['p99_ms'])


def ref_cells(results, conns_list):
    """(URL key, connections, mod_pyworker's cell) for every cell it has."""
    for key, _, _, _ in URLS:
        for conns in conns_list:
            ref = results.get((REF, key, conns))
            if ref is not None:
                yield key, conns, ref


def fronted_lines(results, conns_list, setups):
    """mod_pyworker against the best of the servers run behind the same
    Apache (the set-up its users leave), cell by cell; none: []."""
    fronted = [s for s in setups if s.name.startswith(FRONT)]
    if not fronted or not any(s.name == REF for s in setups):
        return []
    lines = ['mod_pyworker against the best standalone server behind the '
             'same Apache (mod_proxy_http):', '',
             '| URL | conns | req/s: pyworker ÷ best behind Apache | '
             'p99: pyworker ÷ lowest behind Apache |', '|---|---|---|---|']
    for key, conns, ref in ref_cells(results, conns_list):
        name, peer = best_peer(results, key, conns, fronted)
        pname, pp = best_peer(results, key, conns, fronted, 'p99_ms')
        rps = '%s (%s)' % (fmt(ref['rps'] / peer['rps'], '%.2f×'),
                           name) if peer and peer['rps'] else '-'
        p99 = '%s (%s)' % (fmt(ref['p99_ms'] / pp['p99_ms'], '%.2f×'),
                           pname) if pp and ref['p99_ms'] else '-'
        lines.append('| %s | %d | %s | %s |' % (URL_LABEL[key], conns,
                                                rps, p99))
    return lines + ['']


def table(results, conns_list, setups):
    lines = ['| URL | conns | setup | req/s (min-max) | p50 ms | p99 ms | '
             'sock err c/r/w/t | non-2xx | rounds without a response | '
             'CPU ms/req | CPU busy % (others) | pyworker ÷ setup |',
             '|' + '---|' * 12]
    for key, _, _, _ in URLS:
        for conns in conns_list:
            ref = results.get((REF, key, conns))
            for s in setups:
                cell = results.get((s.name, key, conns))
                if cell is None:
                    continue
                e = cell['errors']
                rat = None
                if ref and s.name != REF and cell['rps']:
                    rat = ref['rps'] / cell['rps']
                lines.append(
                    '| %s | %d | %s %s | %s (%s-%s) | %s | %s | %d/%d/%d/%d '
                    '| %d | %d | %s | %s (%s) | %s |' % (
                        URL_LABEL[key], conns, LETTER[s.name], s.name,
                        fmt(cell['rps'], '%.1f'), fmt(cell['rps_min'], '%.0f'),
                        fmt(cell['rps_max'], '%.0f'),
                        fmt(cell['p50_ms'], '%.1f'),
                        fmt(cell['p99_ms'], '%.1f'), e['connect'], e['read'],
                        e['write'], e['timeout'], cell['non2xx'],
                        cell.get('starved', 0),
                        fmt(cell['cpu_per_req_ms'], '%.1f'),
                        pct(cell['busy_share']), pct(cell['others_share']),
                        fmt(rat, '%.2f×')))
    return lines


def compact_table(results, conns_list, setups):
    """req/s and p99 per setup, one row per URL x connections."""
    head = '| URL | conns | ' + ' | '.join(
        '%s %s' % (LETTER[s.name], s.name) for s in setups) + \
        ' | others\' CPU % |'
    lines = [head, '|' + '---|' * (len(setups) + 3)]
    for key, _, _, _ in URLS:
        for conns in conns_list:
            row, others = [], []
            for s in setups:
                c = results.get((s.name, key, conns))
                if c is None:
                    row.append('-')
                    continue
                mark = ' ✗%d' % failures(c) if failures(c) else ''
                row.append('%s / %s%s' % (fmt(c['rps'], '%.1f'),
                                          fmt(c['p99_ms'], '%.0f'), mark))
                if c['others_share'] is not None:
                    others.append(c['others_share'])
            lines.append('| %s | %d | %s | %s |' % (
                URL_LABEL[key], conns, ' | '.join(row),
                pct(median(others)) if others else '-'))
    return lines


def fail_points(results, conns_list, setups):
    """Per setup and URL: the lowest connection count with any socket
    error or non-2xx (over all rounds), and what failed."""
    lines = ['| setup | ' + ' | '.join(URL_LABEL[k] for k, _, _, _ in URLS)
             + ' |', '|' + '---|' * (len(URLS) + 1)]
    out = {}
    for s in setups:
        row = []
        for key, _, _, _ in URLS:
            first = None
            for conns in conns_list:
                c = results.get((s.name, key, conns))
                if c and failures(c):
                    e = c['errors']
                    first = '%d conns (c/r/w/t %d/%d/%d/%d, non-2xx %d' % (
                        conns, e['connect'], e['read'], e['write'],
                        e['timeout'], c['non2xx'])
                    if c.get('starved'):
                        first += ', %d of %d rounds without a response' % (
                            c['starved'], c['rounds'])
                    first += ')'
                    break
            out[(s.name, key)] = first
            row.append(first or 'none up to %d' % max(conns_list))
        lines.append('| %s %s | %s |' % (LETTER[s.name], s.name,
                                          ' | '.join(row)))
    return lines, out


def evaluate_targets(results, conns_list, setups):
    out = []
    if not any(s.name == REF for s in setups):
        return out
    for key, conns, ref in ref_cells(results, conns_list):
        name, peer = best_peer(results, key, conns, setups)
        if peer:
            r = ref['rps'] / peer['rps'] if peer['rps'] else None
            out.append({'target': '%s @%d: req/s ≥ %.2f× best peer'
                        % (URL_LABEL[key], conns, TARGET_RPS),
                        'value': '%s × %s (%.1f vs %.1f)' % (
                            fmt(r, '%.2f'), name, ref['rps'],
                            peer['rps']),
                        'result': 'pass' if r is not None
                        and r >= TARGET_RPS else 'FAIL'})
        if conns in P99_CONNS:
            pname, pp = best_peer(results, key, conns, setups, 'p99_ms')
            if pp:
                out.append({'target': '%s @%d: p99 ≤ best peer\'s'
                            % (URL_LABEL[key], conns),
                            'value': '%s ms vs %.0f ms (%s)' % (
                                fmt(ref['p99_ms']), pp['p99_ms'], pname),
                            'result': 'pass' if ref['p99_ms'] is not
                            None and ref['p99_ms'] <= pp['p99_ms']
                            else 'FAIL'})
        if conns == CLEAN_CONNS:
            n = failures(ref)
            out.append({'target': '%s @%d: no error, no non-2xx'
                        % (URL_LABEL[key], conns),
                        'value': str(n),
                        'result': 'pass' if n == 0 else 'FAIL'})
    return out


def render(meta, results, setups, targets, fails):
    conns = meta['connections']
    lines = ['# Plone benchmark %s' % meta['timestamp'], '',
             '%s. %s round(s), wrk --latency, %s s per cell after %s s '
             'warm-up, timeout %s s; each cell waits until the setup is '
             'idle again (requests wrk left running) before the next; '
             'medians across rounds, errors summed over rounds; %s s of '
             'unmeasured load per URL and setup before the first round. Every '
             'setup %s process(es) x %s threads (bjoern: %s processes of '
             'one thread), one ZEO server for all. CPU busy in the 2 s '
             'before the run: %.0f %%.' % (
                 ', '.join('%s: %s' % (k, v) for k, v in
                           meta['machine'].items() if v),
                 meta['rounds'], meta['duration'], meta['warmup'],
                 meta['timeout'], meta.get('prime', 0), meta['processes'],
                 meta['threads'],
                 meta['processes'] * meta['threads'],
                 100 * meta['cpu_busy_start']), '']
    for key, label in (('module', 'mod_pyworker measured'),
                       ('module_b', 'Q pyworker-b measured')):
        mod = meta.get(key) or {}
        if mod.get('programs'):
            lines += ['%s: %s; %s.' % (label, mod['path'], ', '.join(
                '%s sha256 %s' % (f, h[:16])
                for f, h in sorted(mod['programs'].items()))), '']
    lines += ['Versions: %s.' % ', '.join(
        '%s %s' % kv for kv in sorted(meta['versions'].items())), '']
    lines += ['req/s / p99 ms per setup (✗N: N socket errors, wrk timeouts, '
              'non-2xx and rounds without any response, over all rounds):',
              ''] + compact_table(results, conns, setups)
    lines += ['', 'The talk (Plone 5.2.5, 2 CPUs): bjoern, Pyruvate and '
              'waitress all about 600 req/s at /, 27 at /Plone, 500 at '
              '/Plone as JSON; errors on /Plone as connections rose.', '']
    lines += fronted_lines(results, conns, setups)
    lines += ['Every cell:', ''] + table(results, conns, setups) + ['']
    lines += ['Where each setup starts to fail:', ''] + fails + ['']
    lines += ['| target | value | result |', '|---|---|---|']
    lines += ['| %s | %s | %s |' % (t['target'], t['value'], t['result'])
              for t in targets]
    passed = sum(t['result'] == 'pass' for t in targets)
    lines += ['', '%d of %d targets pass.' % (passed, len(targets))]
    if meta['problems']:
        lines += ['', 'Problems:'] + ['- %s' % p for p in meta['problems']]
    return '\n'.join(lines) + '\n'


def versions(venv):
    code = ('import importlib.metadata as m\n'
            'for n in ("Products.CMFPlone", "Zope", "ZEO", "waitress", '
            '"pyruvate", "bjoern", "gunicorn", "mod_wsgi", '
            '"plone.restapi"):\n'
            '    print(n, m.version(n))\n')
    r = subprocess.run([os.path.join(venv, 'bin', 'python'), '-c', code],
                       capture_output=True, text=True)
    out = dict(line.split(' ', 1) for line in r.stdout.splitlines())
    r = subprocess.run([os.path.join(venv, 'bin', 'python'), '-V'],
                       capture_output=True, text=True)
    out['Python'] = r.stdout.strip().replace('Python ', '')
    return out


# ---------------------------------------------------------------- main

def parse_args(argv):
    ap = argparse.ArgumentParser(prog='bench/run-plone',
                                 description='Plone benchmark (issue 12)')
    ap.add_argument('--quick', action='store_true',
                    help='smoke: every setup and URL at 10 connections, '
                    '2 s, 1 round, no warm-up')
    ap.add_argument('--duration', type=int, default=10,
                    help='seconds per cell (default 10)')
    ap.add_argument('--warmup', type=int, default=3,
                    help='unmeasured seconds before each cell (default 3)')
    ap.add_argument('--prime', type=int, default=5,
                    help='unmeasured seconds of load per URL and setup '
                    'before the first round (default 5)')
    ap.add_argument('--rounds', type=int, default=3,
                    help='interleaved rounds (default 3)')
    # 100 clients on 4 workers wait ~25 x a request's time: at /Plone
    # several seconds.  A timeout is the client giving up, not the server
    # failing, so it is set well above that (bench.py: 10 s).
    ap.add_argument('--timeout', type=int, default=30,
                    help='wrk request timeout in seconds (default 30)')
    ap.add_argument('--connections', default='1,10,50,100')
    ap.add_argument('--urls', default=','.join(u[0] for u in URLS),
                    help='subset of root (/), plone (/Plone), json '
                    '(/Plone as JSON)')
    ap.add_argument('--setups', default=','.join(DEFAULT_SETUPS),
                    help='which setups (default: %s; also the standalone '
                    'servers behind Apache, apache+waitress, '
                    'apache+pyruvate, apache+bjoern, apache+gunicorn)'
                    % ','.join(DEFAULT_SETUPS))
    ap.add_argument('--processes', type=int, default=2)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--module', default=os.path.join(REPO_DIR,
                                                     'mod_pyworker.so'))
    ap.add_argument('--module-b', metavar='PATH',
                    help='a second mod_pyworker build, measured as setup '
                    'Q pyworker-b beside P in the same rounds (A/B)')
    ap.add_argument('--no-install', action='store_true',
                    help='do not apt-get install missing packages')
    ap.add_argument('--keep', action='store_true',
                    help='keep the /tmp run directory')
    ap.add_argument('--report', metavar='FILE.json[,FILE.json]',
                    help='write the report of an earlier run again from '
                    'its JSON (several: their rounds pooled); runs nothing')
    ap.add_argument('--check-targets', action='store_true',
                    help='exit 3 when a target fails')
    args = ap.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.rounds, args.prime = 2, 0, 1, 1
        if args.connections == ap.get_default('connections'):
            args.connections = '10'
    args.conns = [int(c) for c in args.connections.split(',') if c]
    keys = [k for k in args.urls.split(',') if k]
    for k in keys:
        if k not in URL_LABEL:
            ap.error('unknown URL %r (have %s)' % (k, ','.join(URL_LABEL)))
    URLS[:] = [u for u in URLS if u[0] in keys]
    args.setup_list = [s for s in args.setups.split(',') if s]
    for s in args.setup_list:
        if s not in SETUP_NAMES:
            ap.error('unknown setup %r (have %s)' % (s, ','.join(SETUP_NAMES)))
    if args.module_b and 'pyworker-b' not in args.setup_list:
        args.setup_list.append('pyworker-b')
    if 'pyworker-b' in args.setup_list and not args.module_b:
        ap.error('setup pyworker-b needs --module-b PATH')
    if args.duration < 1 or args.rounds < 1 or not args.conns or \
            min(args.conns) < 1 or args.processes < 1 or args.threads < 1:
        ap.error('--duration, --rounds, --connections, --processes and '
                 '--threads must be >= 1')
    return args


PACKAGES = [('wrk', bench.WRK), ('libev-dev', '/usr/include/ev.h'),
            ('apache2-dev', '/usr/bin/apxs'), ('apache2-bin', bench.APACHE)]


def ensure_installed(args):
    missing = [p for p, path in PACKAGES if not os.path.exists(path)]
    if not missing:
        return
    if args.no_install or os.geteuid() != 0:
        raise BenchError('missing Debian packages: %s' % ' '.join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND='noninteractive')
    cmd = ['apt-get', 'install', '-y', '-q', '--no-install-recommends']
    log('installing %s' % ' '.join(missing))
    if subprocess.run(cmd + missing, env=env).returncode != 0:
        subprocess.run(['apt-get', 'update', '-q'], env=env)
        if subprocess.run(cmd + missing, env=env).returncode != 0:
            raise BenchError('apt-get install %s failed' % ' '.join(missing))


def build_venv():
    p = subprocess.run([BUILD_ENV, '--bench'], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=3600)
    if p.returncode != 0:
        raise BenchError('plone/build-env --bench exit %d:\n%s'
                         % (p.returncode, p.stderr[-3000:]))
    return p.stdout.strip().splitlines()[-1]


def start_setups(args, world, venv, problems):
    setups = []
    for name in [n for n in SETUP_NAMES if n in args.setup_list]:
        s = PloneSetup(name, world, venv, args)
        setups.append(s)
        t0 = time.time()
        try:
            s.start()
            s.check(time.time() + READY_TIMEOUT)
            s.status = 'ok'
            for p in s.procs():
                PROCS.remember(p)
            log('%s %s: serving on 127.0.0.1:%d (ready in %.0f s)'
                % (LETTER[name], name, s.port, time.time() - t0))
        except BenchError as e:
            s.status = 'failed'
            problems.append('%s %s failed to start: %s' % (LETTER[name],
                                                           name, e))
            log(problems[-1])
            s.stop()
    return setups


def main(argv):
    args = parse_args(argv)
    if args.report:
        return rewrite_report(args.report)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, bench.on_signal)
    atexit.register(PROCS.stop_all)
    bench.raise_nofile()
    t_start = time.time()
    busy0 = bench.cpu_busy_share()
    ensure_installed(args)
    venv = build_venv()
    user = bench.run_user()
    world = plone_t.PloneWorld(venv, [(STORAGE, SITE_TITLE,
                                       user[0] if user else None)],
                               threads=args.threads)
    problems, setups = [], []
    try:
        world.create()
        log('site and ZEO ready (%s)' % ', '.join(
            '%s %.0f s' % kv for kv in world.timings.items()))
        setups = start_setups(args, world, venv, problems)
        live = [s for s in setups if s.status == 'ok']
        prime(live, args, world.zeo.pid)
        t_ready = time.time()
        raw = {}
        run_rounds(args, live, raw, problems, world.zeo.pid)
        error_lines = dict((s.name, len(s.error_lines())) for s in setups)
        return finish(args, setups, raw, problems, venv, busy0, error_lines,
                      t_ready - t_start, time.time() - t_ready)
    finally:
        PROCS.stop_all()
        world.stop(keep=args.keep or bool(problems))
        if args.keep or problems:
            log('run directory kept: %s' % world.root)


class Named:
    def __init__(self, name):
        self.name = name


def write_report(meta, raw, base):
    """Medians, targets and failure points from every round (raw), the
    markdown on stdout and in base.md, everything in base.json; the
    targets."""
    results = dict((k, summarize(v)) for k, v in raw.items())
    conns = meta['connections']
    ok = [Named(n) for n in SETUP_NAMES if (n, URLS[0][0], conns[0]) in raw]
    targets = evaluate_targets(results, conns, ok)
    fails, fail_at = fail_points(results, conns, ok)
    md = render(meta, results, ok, targets, fails)
    md += '\nSet-up %d s, load %d s. Error-log lines (error or worse; for ' \
          'the standalone servers, lines with Traceback/ERROR/CRITICAL): ' \
          '%s.\n' % (meta['seconds_setup'], meta['seconds_load'], ', '.join(
              '%s %d' % kv for kv in meta['error_log_lines'].items()))
    sys.stdout.write(md)
    with open(base + '.md', 'w') as f:
        f.write(md)
    cells = [dict(setup=k[0], url=k[1], conns=k[2], median=results[k],
                  rounds=raw[k]) for k in sorted(raw)]
    with open(base + '.json', 'w') as f:
        json.dump({'meta': meta, 'cells': cells, 'targets': targets,
                   'fail_at': dict(('%s %s' % k, v)
                                   for k, v in fail_at.items())},
                  f, indent=1)
    log('written %s.md and %s.json' % (base, base))
    return targets


def rewrite_report(paths):
    """--report A.json[,B.json...]: the report again from the rounds the
    files hold (after a change to how cells are summarised or judged).
    With several files (runs of the same cells at different times) their
    rounds are pooled, and the report is written as A-merged.md/.json."""
    paths = [p for p in paths.split(',') if p]
    raw, metas = {}, []
    for path in paths:
        with open(path) as f:
            data = json.load(f)
        metas.append(data['meta'])
        for c in data['cells']:
            raw.setdefault((c['setup'], c['url'], c['conns']),
                           []).extend(c['rounds'])
    meta = metas[0]
    base = paths[0][:-len('.json')] if paths[0].endswith('.json') \
        else paths[0]
    if len(paths) > 1:
        base += '-merged'
        meta = dict(meta, rounds=sum(m['rounds'] for m in metas),
                    merged=[os.path.basename(p) for p in paths],
                    cpu_busy_start=max(m['cpu_busy_start'] for m in metas),
                    seconds_setup=sum(m['seconds_setup'] for m in metas),
                    seconds_load=sum(m['seconds_load'] for m in metas),
                    problems=sum((m['problems'] for m in metas), []))
        meta['timestamp'] += ' (rounds of %s pooled)' % ', '.join(
            meta['merged'])
    URLS[:] = [u for u in URLS if any(u[0] == k[1] for k in raw)]
    write_report(meta, raw, base)
    return 0


def finish(args, setups, raw, problems, venv, busy0, error_lines, t_setup,
           t_load):
    stamp = time.strftime('%Y%m%d-%H%M%S')
    meta = {'timestamp': stamp, 'machine': bench.machine_info(),
            'versions': versions(venv), 'venv': venv,
            'cpu_busy_start': busy0, 'rounds': args.rounds,
            'duration': args.duration, 'warmup': args.warmup,
            'prime': args.prime,
            'timeout': args.timeout, 'connections': args.conns,
            'processes': args.processes, 'threads': args.threads,
            'quick': args.quick, 'module': getattr(args, 'module_info', None),
            'module_b': getattr(args, 'module_b_info', None),
            'setups': dict((s.name, s.status) for s in setups),
            'error_log_lines': error_lines, 'problems': problems,
            'seconds_setup': round(t_setup), 'seconds_load': round(t_load),
            'urls': [dict(key=k, path=p, accept=a, talk_rps=t)
                     for k, p, a, t in URLS]}
    # bench.machine_info's uwsgi and Debian mod_wsgi package are not ours
    for k in ('uwsgi', 'mod_wsgi'):
        meta['machine'].pop(k, None)
    os.makedirs(bench.RESULTS_DIR, exist_ok=True)
    base = os.path.join(bench.RESULTS_DIR, stamp + '-plone' +
                        ('-quick' if args.quick else ''))
    targets = write_report(meta, raw, base)
    failed = [s.name for s in setups if s.status == 'failed']
    missing = [(s.name, u[0], c) for s in setups if s.status == 'ok'
               for u in URLS for c in args.conns
               if len(raw.get((s.name, u[0], c), [])) != args.rounds]
    if failed or missing:
        log('FAILED: setups %s, cells without results %s'
            % (failed or '-', missing or '-'))
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

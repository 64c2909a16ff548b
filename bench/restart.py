#!/usr/bin/python3
"""Deploys under load (issue 5): p99 latency and errors while Apache is
gracefully restarted and while the WSGI script is touched, mod_pyworker
beside mod_wsgi daemon mode.

For every setup x event a fresh private Apache (bench.py's Setup, hello
app only) is started; wrk --latency runs for --duration seconds and, at
--event-at seconds, the event is triggered:

  graceful  SIGUSR1 to the Apache parent we started (apachectl graceful)
  touch     the mtime of the WSGI script is set to now (mod_wsgi daemon
            mode restarts the daemon, mod_pyworker does a rolling restart
            with PyWorkerScriptReloading On, the default)
  none      nothing (a baseline, only with --events none,...)

Beside wrk, one Python client thread sends sequential keep-alive requests
and records every latency, status and error, so that a stall or a failure
around the event is seen per request, not hidden in a percentile.

Standard library only; run with /usr/bin/python3 (bench/run-restart).
Every process is stopped by pid at exit (bench.py's PROCS).
"""

import argparse
import atexit
import http.client
import json
import os
import shutil
import signal
import sys
import threading
import time

sys.dont_write_bytecode = True          # no __pycache__ in bench/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench                            # noqa: E402

SETUPS = ('pyworker', 'wsgi-daemon')
# The static file (no Python) is an optional control for `graceful`: what
# the event MPM itself does to keep-alive connections on a graceful restart.
ALL_SETUPS = ('static',) + SETUPS
EVENTS = ('none', 'graceful', 'touch')
APP = 'hello'


def log(msg):
    sys.stderr.write('restart: %s\n' % msg)
    sys.stderr.flush()


# ---------------------------------------------------------------- client

class Client(threading.Thread):
    """Sequential GETs on one keep-alive connection until stopped.

    A request that fails on a reused connection before any response byte
    (the server closed an idle keep-alive connection, as every HTTP client
    meets and retries for idempotent requests) is retried once on a new
    connection and counted under `ka_retries`; only a failure on a fresh
    connection, or of the retry, or a status other than 200 or a wrong
    body, counts as a failure."""

    def __init__(self, port, t0, timeout):
        super().__init__(daemon=True)
        self.port, self.t0, self.timeout = port, t0, timeout
        self.stopping = threading.Event()
        self.samples = []       # (start s since t0, latency s, ok)
        self.failures = []      # (start s since t0, latency s, what)
        self.ka_retries = []    # start s since t0
        self.conn = None
        self.reused = False

    def run(self):
        while not self.stopping.is_set():
            start = time.monotonic()
            ok, what = self.one()
            if not ok and what == 'retry':
                self.ka_retries.append(start - self.t0)
                ok, what = self.one()
            lat = time.monotonic() - start
            self.samples.append((start - self.t0, lat, ok))
            if not ok:
                self.failures.append((start - self.t0, lat, what))
                time.sleep(0.01)        # no busy loop if the server is gone
        self.close()

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.conn, self.reused = None, False

    def one(self):
        if self.conn is None:
            self.conn = http.client.HTTPConnection('127.0.0.1', self.port,
                                                   timeout=self.timeout)
        reused, got_response = self.reused, False
        try:
            self.conn.request('GET', '/' + APP)
            r = self.conn.getresponse()
            got_response = True
            body = r.read()
            if r.will_close:
                self.close()
            else:
                self.reused = True
            if r.status != 200 or body != b'OK':
                return False, 'HTTP %d, body %r' % (r.status, body[:60])
            return True, None
        except (OSError, http.client.HTTPException) as e:
            self.close()
            if reused and not got_response and \
                    not isinstance(e, TimeoutError):
                return False, 'retry'
            return False, '%s: %s' % (type(e).__name__, e)


def client_summary(c, event_t):
    lats = [s[1] for s in c.samples]
    worst = max(c.samples, key=lambda s: s[1]) if c.samples else None
    # The largest gap between two successive request starts: a stall that
    # a single slow request does not show when the client reconnects.
    return {
        'requests': len(c.samples),
        'max_ms': worst[1] * 1000 if worst else None,
        'max_at_s': (worst[0] - event_t) if worst else None,
        'p50_ms': bench.median(lats) * 1000 if lats else None,
        'failures': len(c.failures),
        'failure_list': [{'at_s': round(t - event_t, 3),
                          'latency_ms': round(l * 1000, 1), 'what': w}
                         for t, l, w in c.failures[:20]],
        'ka_retries': len(c.ka_retries),
    }


# ---------------------------------------------------------------- cells

def applies(name, event):
    """A static file has no script to touch."""
    return not (name == 'static' and event == 'touch')


def trigger(setup, event):
    if event == 'graceful':
        os.kill(setup.apache.pid, signal.SIGUSR1)
    elif event == 'touch':
        os.utime(setup.app_path(APP), None)


def daemons(setup):
    """The WSGI daemons: bench.py's daemon_pids() without mod_pyworker's
    waker helper (a short-lived child of the parent, re-forked as needed,
    not a daemon)."""
    return [p for p in setup.daemon_pids()
            if not (bench.cmdline(p) or b'').startswith(b'pyworker: waker')]


def wrk_thread(setup, args, out):
    try:
        out['wrk'] = bench.run_wrk(setup, APP, args.connections,
                                   args.duration, args)
    except BaseException as e:          # reported by the main thread
        out['error'] = e


def measure(setup, event, args):
    if args.warmup > 0:
        bench.run_wrk(setup, APP, args.connections, args.warmup, args)
    before = daemons(setup)
    log_lines_before = len(setup.error_lines())
    out = {}
    t0 = time.monotonic()
    client = Client(setup.port, t0, args.timeout)
    w = threading.Thread(target=wrk_thread, args=(setup, args, out),
                         daemon=True)
    w.start()
    client.start()
    time.sleep(max(0.0, t0 + args.event_at - time.monotonic()))
    event_t = time.monotonic() - t0
    trigger(setup, event)
    w.join(args.duration + args.timeout + 40)
    client.stopping.set()
    client.join(args.timeout + 5)
    if w.is_alive() or 'wrk' not in out:
        raise bench.BenchError('wrk: %s' % out.get('error', 'did not finish'))
    setup.remember()                    # graceful forked new children
    res = dict(out['wrk'])
    res['client'] = client_summary(client, event_t)
    res['daemons_before'] = before
    res['daemons_after'] = daemons(setup)
    res['event_at_s'] = round(event_t, 3)
    res['error_log'] = setup.error_lines()[log_lines_before:]
    res['apache_alive'] = setup.apache.poll() is None
    return res


def run_cell(name, event, args, problems, workdirs):
    work, _ = bench.prepare_workdir([APP])
    workdirs.append(work)
    s = bench.Setup(name, work, [APP], args)
    try:
        s.start()
        bench.check_app(s, APP, None)
        s.remember()
        log('%s / %s: serving on 127.0.0.1:%d, %s at %.1f s of %d s'
            % (name, event, s.port, event, args.event_at, args.duration))
        res = measure(s, event, args)
        if not res['apache_alive']:
            problems.append('%s / %s: Apache exited during the run; see %s'
                            % (name, event, s.error_log))
        c = res['client']
        log('%s / %s: %.0f req/s, p99 %.2f ms, max %.0f ms, wrk errors %d, '
            'non-2xx %d, client max %.0f ms, client failures %d'
            % (name, event, res['rps'], res['p99_ms'], res['max_ms'],
               sum(res['errors'].values()), res['non2xx'],
               c['max_ms'] or 0, c['failures']))
        return res
    except bench.BenchError as e:
        problems.append('%s / %s: %s' % (name, event, e))
        log(problems[-1])
        return None
    finally:
        s.stop()


# ---------------------------------------------------------------- report

def render(meta, cells, setups, events):
    lines = ['# mod_pyworker restart benchmark %s' % meta['timestamp'], '',
             '%s. Load average at start %s, at end %s. App `hello`; '
             'wrk --latency -t2 -c%d -d%ds --timeout %ds after a %d s '
             'warm-up; the event at %.1f s. A fresh Apache per row. '
             'EnableSendfile %s.' % (
                 ', '.join('%s: %s' % (k, v)
                           for k, v in meta['machine'].items() if v),
                 ' '.join('%.2f' % x for x in meta['loadavg_start']),
                 ' '.join('%.2f' % x for x in meta['loadavg_end']),
                 meta['connections'], meta['duration'], meta['timeout'],
                 meta['warmup'], meta['event_at'],
                 'On' if meta['sendfile'] else 'Off'), '']
    mod = meta['module']
    if mod.get('sha256'):
        lines += ['mod_pyworker.so measured: a copy of %s built %s, sha256 '
                  '%s.' % (mod['path'], mod['mtime'], mod['sha256'][:16]), '']
    if meta['other_wrk'] or meta['loadavg_start'][0] > 0.5 * meta['nproc']:
        lines += ['**Warning: the machine was busy at start (load %.2f on %d '
                  'cores%s); compare rows of this run only.**' % (
                      meta['loadavg_start'][0], meta['nproc'],
                      ', another wrk running' if meta['other_wrk'] else ''),
                  '']
    lines += ['| setup | event | req/s | p50 ms | p99 ms | max ms | '
              'sock err c/r/w/t | non-2xx | client reqs | client max ms '
              '(at s) | client failures | keep-alive retries | daemon pids '
              'before → after |', '|' + '---|' * 13]
    f = bench.fmt
    for name in setups:
        for event in events:
            r = cells.get((name, event))
            if not applies(name, event):
                continue
            if r is None:
                lines.append('| %s | %s | %s |' % (
                    name, event, ' | '.join(['failed'] + ['-'] * 10)))
                continue
            e, c = r['errors'], r['client']
            at = '-' if c['max_at_s'] is None else '%+.2f' % c['max_at_s']
            lines.append(
                '| %s | %s | %s | %s | %s | %s | %d/%d/%d/%d | %d | %d | '
                '%s (%s) | %d | %d | %s → %s |' % (
                    name, event, f(r['rps']), f(r['p50_ms'], '%.2f'),
                    f(r['p99_ms'], '%.2f'), f(r['max_ms'], '%.0f'),
                    e['connect'], e['read'], e['write'], e['timeout'],
                    r['non2xx'], c['requests'], f(c['max_ms'], '%.0f'), at,
                    c['failures'], c['ka_retries'],
                    ' '.join(map(str, r['daemons_before'])) or '-',
                    ' '.join(map(str, r['daemons_after'])) or '-'))
    lines += ['', 'Columns: wrk\'s req/s, p50, p99 and max over the whole '
              'run (event included); socket errors connect/read/write/'
              'timeout; non-2xx is wrk\'s count of status >= 400. The '
              'client is one Python thread doing sequential keep-alive '
              'GETs: its slowest request and when it started relative to '
              'the event, its failures (no response, non-200 or wrong '
              'body), and its requests that met a closed keep-alive '
              'connection and succeeded when resent.']
    details = []
    for (name, event), r in sorted(cells.items()):
        for fl in r['client']['failure_list']:
            details.append('- %s / %s client failure at %+.2f s (%.0f ms): %s'
                           % (name, event, fl['at_s'], fl['latency_ms'],
                              fl['what']))
        for l in r['error_log'][:8]:
            details.append('- %s / %s error log: `%s`' % (name, event,
                                                          l[:300]))
        if len(r['error_log']) > 8:
            details.append('- %s / %s error log: %d more lines' % (
                name, event, len(r['error_log']) - 8))
    if details:
        lines += ['', 'Details:'] + details
    if meta['problems']:
        lines += ['', 'Problems:'] + ['- %s' % p for p in meta['problems']]
    return '\n'.join(lines) + '\n'


def check_targets(cells):
    """Issue 5 for mod_pyworker: no failed request, no stall > 100 ms."""
    bad = []
    for (name, event), r in cells.items():
        if name != 'pyworker':
            continue
        c = r['client']
        if sum(r['errors'].values()) or r['non2xx'] or c['failures']:
            bad.append('%s: errors or failures' % event)
        if c['max_ms'] is not None and c['max_ms'] > 100:
            bad.append('%s: client max %.0f ms > 100 ms' % (event,
                                                           c['max_ms']))
    return bad


# ---------------------------------------------------------------- main

def other_wrk():
    me = os.getpid()
    out = []
    for name in os.listdir('/proc'):
        if name.isdigit() and int(name) != me:
            try:
                with open('/proc/%s/comm' % name) as f:
                    if f.read().strip() == 'wrk':
                        out.append(int(name))
            except OSError:
                pass
    return out


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog='bench/run-restart',
        description='p99 latency and errors during apachectl graceful and '
        'a script touch under load: mod_pyworker beside mod_wsgi daemon mode')
    ap.add_argument('--quick', action='store_true',
                    help='smoke: 3 s runs, event at 1 s, no warm-up')
    ap.add_argument('--duration', type=int, default=12,
                    help='seconds of wrk per cell (default 12)')
    ap.add_argument('--event-at', type=float, default=4.0,
                    help='seconds into the run to trigger the event')
    ap.add_argument('--warmup', type=int, default=2,
                    help='seconds of unmeasured load before each cell')
    ap.add_argument('--connections', type=int, default=50)
    ap.add_argument('--timeout', type=int, default=10,
                    help='wrk and client request timeout in seconds')
    ap.add_argument('--setups', default=','.join(SETUPS),
                    help='subset of ' + ','.join(ALL_SETUPS) + ' (static: '
                    'the hello bytes as a file, a control for graceful)')
    ap.add_argument('--events', default='graceful,touch',
                    help='subset of ' + ','.join(EVENTS) +
                    ' (none: a baseline without an event)')
    ap.add_argument('--module', default=os.path.join(bench.REPO_DIR,
                                                     'mod_pyworker.so'))
    ap.add_argument('--sendfile', action='store_true')
    ap.add_argument('--no-install', action='store_true')
    ap.add_argument('--keep', action='store_true',
                    help='keep the /tmp run directories (configs, logs)')
    ap.add_argument('--check-targets', action='store_true',
                    help='exit 3 if mod_pyworker failed a request or stalled '
                    'the client more than 100 ms')
    args = ap.parse_args(argv)
    if args.quick:
        args.duration, args.event_at, args.warmup = 3, 1.0, 0
    args.setup_list = [s for s in args.setups.split(',') if s]
    args.event_list = [e for e in args.events.split(',') if e]
    for s in args.setup_list:
        if s not in ALL_SETUPS:
            ap.error('unknown setup %r (have %s)' % (s, ','.join(ALL_SETUPS)))
    for e in args.event_list:
        if e not in EVENTS:
            ap.error('unknown event %r (have %s)' % (e, ','.join(EVENTS)))
    if args.duration < 1 or args.connections < 1 or \
            not 0 <= args.event_at < args.duration:
        ap.error('--duration and --connections must be >= 1 and '
                 '0 <= --event-at < --duration')
    return args


def main(argv):
    args = parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, bench.on_signal)
    atexit.register(bench.PROCS.stop_all)
    bench.raise_nofile()
    if not os.path.exists(args.module) and 'pyworker' in args.setup_list:
        raise bench.BenchError('%s does not exist (run make first)'
                               % args.module)
    others = other_wrk()
    if others:
        log('warning: another wrk is running (pids %s): numbers will be '
            'disturbed' % ' '.join(map(str, others)))
    loadavg_start = os.getloadavg()
    if not args.no_install:
        bench.ensure_installed()
    problems, cells, workdirs = [], {}, []
    todo = [(name, event) for event in args.event_list
            for name in args.setup_list if applies(name, event)]
    n = len(todo)
    log('%d cells: about %.0f s' % (
        n, n * (args.duration + args.warmup + 4)))
    try:
        for name, event in todo:
            r = run_cell(name, event, args, problems, workdirs)
            if r is not None:
                cells[(name, event)] = r
    finally:
        bench.PROCS.stop_all()
        if args.keep or problems:
            log('run directories kept: %s' % ' '.join(workdirs))
        else:
            for w in workdirs:
                shutil.rmtree(w, ignore_errors=True)
    stamp = time.strftime('%Y%m%d-%H%M%S')
    meta = {'timestamp': stamp, 'machine': bench.machine_info(),
            'nproc': os.cpu_count() or 1, 'other_wrk': bool(others),
            'loadavg_start': loadavg_start, 'loadavg_end': os.getloadavg(),
            'duration': args.duration, 'warmup': args.warmup,
            'event_at': args.event_at, 'timeout': args.timeout,
            'connections': args.connections, 'quick': args.quick,
            'module': getattr(args, 'module_info', {'path': args.module}),
            'sendfile': args.sendfile, 'problems': problems}
    md = render(meta, cells, args.setup_list, args.event_list)
    sys.stdout.write(md)
    os.makedirs(bench.RESULTS_DIR, exist_ok=True)
    base = os.path.join(bench.RESULTS_DIR, stamp + '-restart' +
                        ('-quick' if args.quick else ''))
    with open(base + '.md', 'w') as f:
        f.write(md)
    with open(base + '.json', 'w') as f:
        json.dump({'meta': meta, 'cells': [
            dict(setup=k[0], event=k[1], **v) for k, v in sorted(
                cells.items())]}, f, indent=1)
    log('written %s.md and %s.json' % (base, base))
    if problems or len(cells) != n:
        return 1
    if args.check_targets:
        bad = check_targets(cells)
        if bad:
            log('issue-5 targets failed: %s' % '; '.join(bad))
            return 3
    return 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except bench.BenchError as e:
        log('error: %s' % e)
        sys.exit(1)

#!/usr/bin/python3
"""Daemon start-up time: from fork to READY for the hello app, per build
of mod_pyworker, builds alternated in rounds.

For every build (--module NAME=PATH, repeatable) one private Apache
(bench.py's configuration, hello app only) runs with

  LogLevel warn pyworker:debug
  PyWorkerDaemonProcess bench processes=1 threads=8 maximum-requests=1
  PyWorkerImportScript .../hello.wsgi process-group=bench

so the app is imported before the daemon reports READY, and every
request makes the daemon that served it ask for a replacement.  One
replacement is: GET /hello, wait for the new daemon's PYW0048 ("ready
after N ms"), wait until the replaced daemon has exited, then --gap
seconds idle.  Rounds rotate the builds (A B, B A, ...).

Measured, per replacement, from the error log's microsecond timestamps
(all lines are from processes of the same machine and clock):

  fork → READY    PYW0021 (the parent, right after fork() returned; the
                  same instant the parent's own "ready after N ms" counts
                  from) to PYW0048 (the parent has read READY from the
                  status pipe): what the issue's "fork to READY" means
  fork → Python   to the daemon's PYW0302 (Python initialised and the
                  import scripts, here hello.wsgi, loaded)
  fork → told     to the daemon's PYW0240 (READY written to the pipe)

and, once idle (no request yet), the new daemon's VmRSS and its CPU time
and run-queue wait (schedstat).  The machine's load is sampled over
each replacement: the CPUs' busy share and the share used by neither the
setup nor this script ("others").

Standard library only; run with /usr/bin/python3 (see bench/README.md).
Every process is stopped by pid at exit (bench.py's PROCS).
"""

import argparse
import atexit
import datetime
import json
import math
import os
import re
import shutil
import signal
import sys
import time

sys.dont_write_bytecode = True          # no __pycache__ in bench/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench                            # noqa: E402

APP = 'hello'
LINE = re.compile(r'^\[(\w{3} \w{3} \d\d \d\d:\d\d:\d\d\.\d{6} \d{4})\] .*?'
                  r'(PYW\d{4}): (.*)\(group=\S+ pid=(\d+)\)\s*$')
EVENTS = {'PYW0021': 'fork', 'PYW0302': 'python', 'PYW0240': 'told',
          'PYW0048': 'ready', 'PYW0032': 'retired', 'PYW0024': 'exited'}


def log(msg):
    sys.stderr.write('startup: %s\n' % msg)
    sys.stderr.flush()


class StartupSetup(bench.Setup):
    """bench.py's pyworker setup, at debug level, with the app imported at
    start and a replacement after every request."""

    def base_conf(self):
        return [l.replace('LogLevel warn', 'LogLevel warn pyworker:debug')
                for l in super().base_conf()]

    def setup_conf(self):
        out = []
        for l in super().setup_conf():
            if l.startswith('PyWorkerDaemonProcess '):
                out += [l + ' maximum-requests=1',
                        'PyWorkerImportScript "%s" process-group=bench '
                        'application-group=%%{GLOBAL}' % self.app_path(APP)]
            else:
                out.append(l)
        return out


class ErrorLog:
    """The setup's error log, read on from where it was last read."""

    def __init__(self, path):
        self.path, self.offset, self.events = path, 0, []

    def read(self):
        try:
            with open(self.path, 'rb') as f:
                f.seek(self.offset)
                data = f.read()
        except OSError:
            return
        end = data.rfind(b'\n') + 1             # whole lines only
        self.offset += end
        for line in data[:end].decode('utf-8', 'replace').splitlines():
            m = LINE.match(line)
            if m and m.group(2) in EVENTS:
                t = datetime.datetime.strptime(m.group(1),
                                               '%a %b %d %H:%M:%S.%f %Y')
                ms = re.search(r'ready after (\d+) ms', m.group(3))
                self.events.append({'t': t.timestamp(),
                                    'what': EVENTS[m.group(2)],
                                    'pid': int(m.group(4)),
                                    'ms': int(ms.group(1)) if ms else None})

    def find(self, what, pid=None, since=0):
        for e in self.events[since:]:
            if e['what'] == what and (pid is None or e['pid'] == pid):
                return e
        return None

    def wait(self, what, pid=None, since=0, timeout=30.0, proc=None):
        deadline = time.time() + timeout
        while True:
            self.read()
            e = self.find(what, pid, since)
            if e is not None:
                return e
            if proc is not None and proc.poll() is not None:
                raise bench.BenchError('apache exited (%s)' % proc.returncode)
            if time.time() > deadline:
                raise bench.BenchError('no %s%s in %s after %.0f s' % (
                    what, ' of pid %d' % pid if pid else '', self.path,
                    timeout))
            time.sleep(0.01)


def sample(elog, fork, ready):
    """One start-up: times in ms from the fork."""
    py = elog.find('python', fork['pid'])
    told = elog.find('told', fork['pid'])
    ms = lambda e: None if e is None else (e['t'] - fork['t']) * 1000.0
    return {'pid': fork['pid'], 'fork_ready_ms': ms(ready),
            'logged_ms': ready['ms'], 'fork_python_ms': ms(py),
            'fork_told_ms': ms(told)}


def gone(pid, timeout):
    deadline = time.time() + timeout
    while os.path.exists('/proc/%d' % pid) and time.time() < deadline:
        time.sleep(0.01)


def rss(pid):
    return dict((k, bench.proc_status(pid, k))
                for k in ('VmRSS', 'RssAnon', 'RssFile'))


def sched_ms(pid):
    """CPU time and run-queue wait of all the process's threads, in ms
    (/proc/PID/task/*/schedstat; one task from fork through exec)."""
    run = wait = 0
    try:
        for tid in os.listdir('/proc/%d/task' % pid):
            with open('/proc/%d/task/%s/schedstat' % (pid, tid)) as f:
                v = f.read().split()
            run, wait = run + int(v[0]), wait + int(v[1])
    except (OSError, ValueError, IndexError):
        return None, None
    return run / 1e6, wait / 1e6


def first_start(s, elog):
    """Apache's start: the first daemon's start-up (a cold one), then
    the replacement that the start-up check's request asked for."""
    fork = elog.wait('fork', proc=s.apache)
    ready = elog.wait('ready', fork['pid'], proc=s.apache)
    first = sample(elog, fork, ready)
    bench.check_app(s, APP, None)
    # The check's request asked for a replacement: let it finish.
    idx = elog.events.index(fork) + 1
    nxt = elog.wait('fork', since=idx, proc=s.apache)
    elog.wait('ready', nxt['pid'], proc=s.apache)
    gone(fork['pid'], 30)
    return first, nxt['pid']


def replace_once(s, elog, current, gap):
    since = len(elog.events)
    t0, i0 = bench.cpu_ticks()
    own0, cpu0 = bench.own_cpu_seconds(), bench.cpu_seconds(s.roots())
    status, body = bench.http_get(s.port, APP)
    if status != 200 or body != b'OK':
        raise bench.BenchError('GET /%s: HTTP %d %r' % (APP, status,
                                                         body[:60]))
    fork = elog.wait('fork', since=since, proc=s.apache)
    ready = elog.wait('ready', fork['pid'], since=since, proc=s.apache)
    gone(current, 30)
    cpu1 = bench.cpu_seconds(s.roots())
    t1, i1 = bench.cpu_ticks()
    own1 = bench.own_cpu_seconds()
    r = sample(elog, fork, ready)
    if t1 > t0:
        busy = (t1 - t0) - (i1 - i0)
        r['busy_share'] = busy / float(t1 - t0)
        r['others_share'] = max(0.0, busy / bench.TICK - (cpu1 - cpu0)
                                - (own1 - own0)) / ((t1 - t0) / bench.TICK)
    time.sleep(gap)
    r.update(('daemon_' + k, v) for k, v in rss(fork['pid']).items())
    # Idle since READY (no request yet): what starting cost it.
    r['daemon_cpu_ms'], r['daemon_runq_ms'] = sched_ms(fork['pid'])
    return r, fork['pid']


def pctl(values, q):
    """Nearest-rank percentile."""
    v = sorted(x for x in values if x is not None)
    if not v:
        return None
    return v[max(0, int(math.ceil(q * len(v))) - 1)]


def summary(samples):
    col = lambda k: [x[k] for x in samples if x.get(k) is not None]
    out = {'n': len(samples)}
    for k in ('fork_ready_ms', 'fork_python_ms', 'fork_told_ms',
              'logged_ms', 'daemon_cpu_ms', 'daemon_runq_ms'):
        out[k] = {'median': bench.median(col(k)), 'p90': pctl(col(k), 0.9),
                  'min': min(col(k), default=None),
                  'max': max(col(k), default=None)}
    out['others_share'] = bench.median(col('others_share'))
    out['others_share_max'] = max(col('others_share'), default=None)
    out['daemon_rss_kb'] = bench.median(col('daemon_VmRSS'))
    out['daemon_anon_kb'] = bench.median(col('daemon_RssAnon'))
    out['daemon_file_kb'] = bench.median(col('daemon_RssFile'))
    return out


QUIET = bench.BUSY_SHARE_MAX   # "quiet": others used at most this share


def stat_row(label, st, ref):
    """One row of the start-up table; ref: the reference build's stats
    (for the difference of medians), None in its own row."""
    f = bench.fmt
    if not st or not st['n']:
        return '| %s | 0 |%s' % (label, ' - |' * 10)
    fr, d = st['fork_ready_ms'], None
    if ref and ref['n']:
        d = fr['median'] - ref['fork_ready_ms']['median']
    kb = lambda k: None if st[k] is None else st[k] / 1024.0
    return ('| %s | %d | %s | %s | %s – %s | %s | %s | %s | %s | %s (%s) | '
            '%s (%s / %s) | %s (%s) |' % (
                label, st['n'], f(fr['median'], '%.1f'),
                f(fr['p90'], '%.1f'), f(fr['min'], '%.1f'),
                f(fr['max'], '%.1f'), f(d, '%+.1f'),
                f(st['fork_python_ms']['median'], '%.1f'),
                f(st['fork_told_ms']['median'], '%.1f'),
                f(st['logged_ms']['median'], '%.0f'),
                f(st['daemon_cpu_ms']['median'], '%.1f'),
                f(st['daemon_runq_ms']['median'], '%.1f'),
                f(kb('daemon_rss_kb'), '%.1f'), f(kb('daemon_anon_kb'), '%.1f'),
                f(kb('daemon_file_kb'), '%.1f'),
                bench.pct(st['others_share']),
                bench.pct(st['others_share_max'])))


def render(meta, names, stats, firsts, per_round):
    f = bench.fmt
    lines = ['# mod_pyworker daemon start-up %s' % meta['timestamp'], '',
             '%s. Load average at start %s, at end %s. CPU busy in the 2 s '
             'before the run: %.0f %%. App `hello`, imported at start '
             '(PyWorkerImportScript); `maximum-requests=1`; %d round(s) of '
             '%d replacement(s) per build, builds rotated each round, %.1f s '
             'idle after each.' % (
                 ', '.join('%s: %s' % (k, v) for k, v in
                           meta['machine'].items() if v),
                 ' '.join('%.2f' % x for x in meta['loadavg_start']),
                 ' '.join('%.2f' % x for x in meta['loadavg_end']),
                 100 * meta['cpu_busy_start'], meta['rounds'],
                 meta['replacements'], meta['gap']), '']
    for name in names:
        mod = meta['modules'].get(name) or {}
        if mod.get('sha256'):
            lines.append('- %s: a copy of %s built %s, sha256 %s; daemon '
                         'programs beside it: %s.' % (
                             name, mod['path'], mod['mtime'],
                             mod['sha256'][:16], ', '.join(
                                 '%s %s' % (p, h[:16]) for p, h in
                                 sorted(mod['programs'].items())) or 'none'))
    ref = names[0]
    lines += ['', '| build (starts) | n | fork → READY median ms | p90 | min – '
              'max | Δ median vs %s | fork → Python ms | fork → READY sent '
              'ms | parent\'s "ready after" median ms | daemon CPU ms to '
              'READY (run-queue wait ms) | daemon RSS MB idle '
              '(anon / file) | others\' CPU %% median (max) |' % ref,
              '|' + '---|' * 12]
    labels = (('all', 'all'), ('quiet', 'quiet: others ≤ %.0f %%'
                               % (100 * QUIET)))
    for subset, label in labels:
        for name in names:
            lines.append(stat_row('%s (%s)' % (name, label),
                                  stats[subset].get(name),
                                  None if name == ref
                                  else stats[subset].get(ref)))
    lines += ['', 'Per round (fork → READY median ms, in the order run):',
              '']
    for rnd, row in enumerate(per_round):
        lines.append('- round %d: %s' % (rnd + 1, ', '.join(
            '%s %s' % (n, f(bench.median([x['fork_ready_ms'] for x in xs]),
                            '%.1f')) for n, xs in row)))
    lines += ['', 'Apache\'s start (the first daemon, page cache already '
              'warm from the configtest): %s.' % ', '.join(
                  '%s %s ms' % (n, f(firsts.get(n, {}).get('fork_ready_ms'),
                                     '%.1f')) for n in names)]
    lines += ['', 'fork → READY: from PYW0021 (logged by the parent right '
              'after fork() returned) to PYW0048 (the parent read READY '
              'from the status pipe), microsecond log timestamps. p90 is '
              'the nearest rank. fork → Python: the daemon\'s PYW0302 (Python '
              'set up and the app imported); '
              'READY sent: its PYW0240. Daemon CPU and run-queue wait: '
              'the sum over its threads of /proc/PID/task/*/schedstat, '
              'read once idle after READY; the wait is time it was '
              'runnable but another task had the CPU (the load\'s share '
              'of the start-up time).']
    if meta['problems']:
        lines += ['', 'Problems:'] + ['- %s' % p for p in meta['problems']]
    return '\n'.join(lines) + '\n'


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog='bench/startup.py',
        description='fork → READY of a hello daemon per mod_pyworker build')
    ap.add_argument('--module', action='append', default=[],
                    metavar='NAME=PATH',
                    help='a build to measure (its daemon programs beside '
                    'it are copied too); repeatable; the first is the '
                    'reference (default: current=./mod_pyworker.so)')
    ap.add_argument('--replacements', type=int, default=10,
                    help='replacements per build per round (default 10)')
    ap.add_argument('--rounds', type=int, default=2,
                    help='rounds, builds rotated each round (default 2)')
    ap.add_argument('--gap', type=float, default=0.3,
                    help='seconds idle after each replacement (default 0.3)')
    ap.add_argument('--keep', action='store_true',
                    help='keep the /tmp run directory (configs, logs)')
    args = ap.parse_args(argv)
    args.pyworker_modules, names = {}, []
    for spec in args.module or ['current=' + os.path.join(
            bench.REPO_DIR, 'mod_pyworker.so')]:
        name, sep, path = spec.partition('=')
        if not sep or not path or not name.replace('-', '').replace(
                '_', '').isalnum() or name in names:
            ap.error('--module NAME=PATH, each NAME once: %r' % spec)
        if not os.path.exists(path):
            ap.error('%s does not exist (build it first)' % path)
        names.append(name)
        args.pyworker_modules[bench.EXTRA_PREFIX + name] = \
            os.path.abspath(path)
    if args.replacements < 1 or args.rounds < 1 or args.gap < 0:
        ap.error('--replacements and --rounds >= 1, --gap >= 0')
    args.names = names
    # bench.Setup's settings.
    args.processes, args.threads, args.sendfile = 1, 8, False
    return args


def main(argv):
    args = parse_args(argv)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, bench.on_signal)
    atexit.register(bench.PROCS.stop_all)
    bench.raise_nofile()
    loadavg_start = os.getloadavg()
    busy_start = bench.cpu_busy_share()
    problems, setups, firsts, current = [], {}, {}, {}
    samples = dict((n, []) for n in args.names)
    per_round = []
    work, _ = bench.prepare_workdir([APP])
    try:
        for name in args.names:
            s = StartupSetup(bench.EXTRA_PREFIX + name, work, [APP], args)
            s.start()
            s.elog = ErrorLog(s.error_log)
            firsts[name], current[name] = first_start(s, s.elog)
            s.remember()
            setups[name] = s
            log('%s: serving on 127.0.0.1:%d, first start %.1f ms'
                % (name, s.port, firsts[name]['fork_ready_ms']))
        for rnd in range(args.rounds):
            k = rnd % len(args.names)
            order = args.names[k:] + args.names[:k]
            row = []
            for name in order:
                s, xs = setups[name], []
                for _ in range(args.replacements):
                    r, current[name] = replace_once(s, s.elog, current[name],
                                                    args.gap)
                    r['round'] = rnd + 1
                    xs.append(r)
                s.remember()
                samples[name] += xs
                row.append((name, xs))
                log('round %d %-10s fork → READY median %.1f ms (%s)' % (
                    rnd + 1, name,
                    bench.median([x['fork_ready_ms'] for x in xs]),
                    ' '.join('%.0f' % x['fork_ready_ms'] for x in xs)))
            per_round.append(row)
    except bench.BenchError as e:
        problems.append(str(e))
        log('error: %s' % e)
    finally:
        bench.PROCS.stop_all()
        if args.keep or problems:
            log('run directory kept: %s' % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    stats = {'all': dict((n, summary(xs)) for n, xs in samples.items()),
             'quiet': dict((n, summary([x for x in xs if x.get(
                 'others_share', 1) <= QUIET])) for n, xs in samples.items())}
    stamp = time.strftime('%Y%m%d-%H%M%S')
    meta = {'timestamp': stamp, 'machine': bench.machine_info(),
            'loadavg_start': loadavg_start, 'loadavg_end': os.getloadavg(),
            'cpu_busy_start': busy_start, 'rounds': args.rounds,
            'replacements': args.replacements, 'gap': args.gap,
            'modules': dict((n, s.module_info) for n, s in setups.items()),
            'problems': problems}
    md = render(meta, args.names, stats, firsts, per_round)
    sys.stdout.write(md)
    os.makedirs(bench.RESULTS_DIR, exist_ok=True)
    base = os.path.join(bench.RESULTS_DIR, stamp + '-startup')
    with open(base + '.md', 'w') as f:
        f.write(md)
    with open(base + '.json', 'w') as f:
        json.dump({'meta': meta, 'summary': stats, 'first_start': firsts,
                   'samples': samples}, f, indent=1)
    log('written %s.md and %s.json' % (base, base))
    return 1 if problems else 0


if __name__ == '__main__':
    try:
        sys.exit(main(sys.argv[1:]))
    except bench.BenchError as e:
        log('error: %s' % e)
        sys.exit(1)

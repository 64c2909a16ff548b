#!/usr/bin/python3
"""Per-request cost of one setup, independent of machine load (issue 4,
"where each side spends a request").

Starts one private Apache (bench.py's configuration, but ONE event-MPM
child so that its pid is known) for pyworker or wsgi-daemon, warms it up,
then drives a fixed number of keep-alive requests with `ab -k` while

  --strace   strace -c -f -p  is attached to the Apache child and to the
             daemon: syscalls per request on each side;
  --perf     perf stat -e instructions  on each: instructions per request
             (user+kernel and user only);
  --rss      no tracer: daemon VmRSS before and after the requests.

Examples:
  bench/profile.py --setup pyworker --strace --requests 20000
  bench/profile.py --setup wsgi-daemon --perf
  bench/profile.py --setup pyworker --rss --requests 1000000 --conns 100

Standard library only; run as root with /usr/bin/python3.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

ONE_CHILD = """\
StartServers 1
ServerLimit 1
ThreadLimit 200
ThreadsPerChild 200
MaxRequestWorkers 200
MinSpareThreads 1
MaxSpareThreads 200
MaxConnectionsPerChild 0
ListenBacklog 1024
"""


def children(pid):
    return [p for p, pp in bench.all_ppids().items() if pp == pid]


def ab(port, app, n, conns):
    argv = ['ab', '-q', '-k', '-n', str(n), '-c', str(conns)]
    if app == 'post64k':
        # The bench's 64 KiB body, POSTed like wrk's post64k.lua does.
        body = os.path.join(tempfile.gettempdir(), 'pyw-post64k.bin')
        with open(body, 'wb') as f:
            f.write(bench.POST_BODY)
        argv += ['-p', body, '-T', 'application/octet-stream']
    r = subprocess.run(argv + ['http://127.0.0.1:%d/%s' % (port, app)],
                       capture_output=True, text=True)
    m = re.search(r'Complete requests:\s+(\d+)', r.stdout)
    f = re.search(r'Failed requests:\s+(\d+)', r.stdout)
    x = re.search(r'Non-2xx responses:\s+(\d+)', r.stdout)
    rps = re.search(r'Requests per second:\s+([\d.]+)', r.stdout)
    if r.returncode != 0 or not m:
        raise bench.BenchError('ab failed: %s %s' % (r.stdout, r.stderr))
    return {'complete': int(m.group(1)), 'failed': int(f.group(1)),
            'non2xx': int(x.group(1)) if x else 0,
            'rps': float(rps.group(1))}


def attach(tool, pid, out):
    if tool == 'strace':
        argv = ['strace', '-c', '-f', '-o', out, '-p', str(pid)]
    elif tool == 'sample':
        argv = ['strace', '-f', '-o', out, '-p', str(pid)]
    else:
        argv = ['perf', 'stat', '-x,', '-e', 'instructions,instructions:u',
                '-o', out, '-p', str(pid)]
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    bench.PROCS.popens.append(p)
    time.sleep(1.5)             # attached to every thread
    return p


def detach(p):
    p.send_signal(signal.SIGINT)
    p.wait(30)
    bench.PROCS.popens.remove(p)


def parse_strace(path, n):
    rows = {}
    for line in open(path):
        parts = line.split()
        if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != 'total':
            calls = int(parts[3])
            rows[parts[-1]] = calls
    total = sum(rows.values())
    per = dict((k, v / n) for k, v in rows.items() if v / n >= 0.005)
    return total / n, per


def parse_perf(path, n):
    out = {}
    for line in open(path):
        parts = line.strip().split(',')
        if len(parts) > 2 and parts[0].replace('.', '').isdigit():
            out[parts[2]] = int(float(parts[0])) / n
    return out


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument('--setup', default='pyworker',
                    choices=['pyworker', 'wsgi-daemon'])
    ap.add_argument('--app', default='hello')
    ap.add_argument('--requests', type=int, default=20000)
    ap.add_argument('--conns', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=5000)
    ap.add_argument('--strace', action='store_true')
    ap.add_argument('--perf', action='store_true')
    ap.add_argument('--rss', action='store_true')
    ap.add_argument('--rps', action='store_true',
                    help='untraced ab run: requests/s (noisy on a busy box)')
    ap.add_argument('--sample', action='store_true',
                    help='full strace of --requests requests (use few)')
    ap.add_argument('--rss-steps', type=int, default=10)
    ap.add_argument('--conn-sweep', default='',
                    help='e.g. 10,50,100,190: daemon RSS per connection')
    ap.add_argument('--module', default=os.path.join(bench.REPO_DIR,
                                                      'mod_pyworker.so'))
    ap.add_argument('--keep', action='store_true')
    args = ap.parse_args(argv)
    args.sendfile = False
    bench.EVENT_MPM = ONE_CHILD
    bench.THREADS_PER_CHILD = 200     # how daemons are told from children
    bench.raise_nofile()
    work, _ = bench.prepare_workdir([args.app])
    s = bench.Setup(args.setup, work, [args.app], args)
    try:
        s.start()
        ab(s.port, args.app, args.warmup, args.conns)
        kids = children(s.apache.pid)
        daemons = s.daemon_pids()
        child = [k for k in kids if k not in daemons]
        # Other helpers of the parent (a one-thread waker): the daemon is
        # the one running the worker threads.
        daemons = sorted(daemons, key=lambda p: -(bench.proc_status(
            p, 'Threads') or 0))[:1]
        if len(child) != 1 or len(daemons) != 1:
            raise bench.BenchError('expected 1 child and 1 daemon: %s %s'
                                   % (child, daemons))
        sides = (('apache child', child[0]), ('daemon', daemons[0]))
        print('setup %s app %s: apache child %d, daemon %d; %d requests, '
              '%d connections, load %.2f' % (
                  args.setup, args.app, child[0], daemons[0], args.requests,
                  args.conns, os.getloadavg()[0]))
        for tool in [t for t in ('strace', 'perf', 'sample')
                     if getattr(args, t)]:
            tracers = [(name, attach(tool, pid, '%s/%s-%d.txt'
                                     % (work, tool, pid)), pid)
                       for name, pid in sides]
            r = ab(s.port, args.app, args.requests, args.conns)
            for _, p, _ in tracers:
                detach(p)
            print('%s: ab %d complete, %d failed, %d non-2xx, %.0f req/s '
                  '(traced)' % (tool, r['complete'], r['failed'],
                                r['non2xx'], r['rps']))
            for name, _, pid in tracers:
                path = '%s/%s-%d.txt' % (work, tool, pid)
                if tool == 'sample':
                    print('  %-12s full trace in %s' % (name, path))
                elif tool == 'strace':
                    total, per = parse_strace(path, r['complete'])
                    print('  %-12s %.2f syscalls/request: %s' % (
                        name, total, ', '.join(
                            '%s %.2f' % kv for kv in sorted(
                                per.items(), key=lambda kv: -kv[1]))))
                else:
                    per = parse_perf(path, r['complete'])
                    print('  %-12s %s' % (name, ', '.join(
                        '%s %.0f/request' % kv for kv in per.items())))
        if args.rps:
            r = ab(s.port, args.app, args.requests, args.conns)
            print('rps: %.0f req/s over %d requests, %d failed, load %.2f'
                  % (r['rps'], r['complete'], r['failed'],
                     os.getloadavg()[0]))
        if args.conn_sweep:
            pid = daemons[0]
            print('conn-sweep: daemon VmRSS after %d requests at each '
                  'connection count (growing)' % args.requests)
            for n in [int(x) for x in args.conn_sweep.split(',')]:
                r = ab(s.port, args.app, args.requests, n)
                print('  %4d connections: VmRSS %d kB, %d failed' % (
                    n, bench.proc_status(pid, 'VmRSS'), r['failed']))
                sys.stdout.flush()
        if args.rss:
            pid = daemons[0]
            step = args.requests // args.rss_steps
            print('rss: daemon VmRSS %d kB after warm-up, %d connections'
                  % (bench.proc_status(pid, 'VmRSS'), args.conns))
            done = 0
            for _ in range(args.rss_steps):
                r = ab(s.port, args.app, step, args.conns)
                done += r['complete']
                print('  after %8d requests: VmRSS %d kB, %.0f req/s, '
                      '%d failed' % (done, bench.proc_status(pid, 'VmRSS'),
                                     r['rps'], r['failed']))
                sys.stdout.flush()
    finally:
        s.stop()
        if args.keep:
            print('kept %s' % work)
        else:
            import shutil
            shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))

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

--callgrind instead runs Apache -X (one process) as www-data under
valgrind --tool=callgrind, collecting only inside ap_run_process_connection
and the daemon's worker and poller threads; the daemon is forked without
exec and is profiled too.  It prints user-space instructions (Ir) per
request on each side and for a fixed list of functions (--keep keeps the
cg.<pid> files).  With wsgi-daemon only the Apache side is counted: no
function of the stripped mod_wsgi.so can be named to toggle collection.

Examples:
  bench/profile.py --setup pyworker --strace --requests 20000
  bench/profile.py --setup wsgi-daemon --perf
  bench/profile.py --setup pyworker --rss --requests 1000000 --conns 100
  bench/profile.py --setup pyworker --callgrind --requests 5000 --conns 4

Standard library only; run as root with /usr/bin/python3.
"""

import argparse
import http.client
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

# Callgrind counts only inside these (a connection in Apache, the daemon's
# threads): idle waiting costs nothing, so total / requests is the cost.
CG_TOGGLES = ('ap_run_process_connection', 'worker_main', 'poller_main')
CG_FUNCS = {
    'apache': ('pyw_handler', 'pyw_forward_request', 'pyw_forward_pass',
               'ap_add_common_vars', 'ap_add_cgi_vars', 'pyw_pair_put',
               'ap_read_request', 'ap_directory_walk'),
    'daemon': ('worker_main', 'poller_main', 'pyw_wsgi_handle',
               'PyDict_SetItem', 'wsgi_key', 'response_sr_call',
               'response_sr_vectorcall',    # start_response, newer builds
               'pyw_response_finish', 'worker_scan', 'pyw_dconn_send_headers',
               'pyw_dconn_send_last', 'script_load')}
CG_ONCE = 'script_load'     # the WSGI script's import, in the first request


def cg_start(s, out):
    """Apache -X under callgrind, started as the user it would drop to:
    after the switch callgrind could no longer write root-owned files."""
    s.write_conf()
    t = subprocess.run([bench.APACHE, '-t', '-d', s.root, '-f', s.conf],
                       capture_output=True, text=True, env=bench.clean_env())
    if t.returncode != 0:
        raise bench.BenchError('configtest failed: %s'
                               % (t.stderr or t.stdout).strip())
    user, pre = bench.run_user(), []
    if user:
        subprocess.run(['chown', '-R', '%s:%d' % user, s.root, out],
                       check=True)
        pre = ['runuser', '-u', user[0], '--']
    # --trace-children: the daemons are exec'd programs of their own.
    argv = pre + ['valgrind', '--tool=callgrind', '--trace-children=yes',
                  '--callgrind-out-file=%s/cg.%%p' % out] + [
        '--toggle-collect=' + f for f in CG_TOGGLES] + [
        bench.APACHE, '-X', '-d', s.root, '-f', s.conf]
    s.apache = bench.PROCS.start(argv, os.path.join(s.root, 'logs',
                                                     'stdout'),
                                 bench.clean_env())


def cg_ready(s, timeout=60):
    """Requests until the app answers 200 (valgrind starts slowly); the
    number that reached Apache, since callgrind counts them all."""
    deadline, answered = time.time() + timeout, 0
    while time.time() < deadline and s.apache.poll() is None:
        try:
            status, _ = bench.http_get(s.port, s.args.app)
            answered += 1
            if status == 200:
                return answered
        except (OSError, http.client.HTTPException):
            pass
        time.sleep(0.5)
    raise bench.BenchError('no HTTP 200 from /%s under valgrind; see %s/logs'
                           % (s.args.app, s.root))


def cg_stop(s):
    """SIGTERM Apache (valgrind's pid), wait for every process of the tree
    to write its file and exit, SIGKILL by pid what is left after 60 s."""
    p = s.apache
    bench.PROCS.remember(p)
    tree = bench.PROCS.trees.get(p.pid, set())
    try:
        with open(os.path.join(s.root, 'run', 'httpd.pid')) as f:
            pid = int(f.read())
        os.kill(pid, signal.SIGTERM)
    except (OSError, ValueError):
        pass                    # valgrind died: stop() below cleans up
    deadline = time.time() + 60
    while time.time() < deadline and (p.poll() is None or any(
            bench.start_time(q) == st for q, st in tree)):
        time.sleep(0.2)
    bench.PROCS.stop(p)
    bench.PROCS.popens.remove(p)
    s.apache = None


def cg_annotate(path):
    """(total Ir, {function: inclusive Ir}).  callgrind_annotate lists some
    functions twice ('???:f' and 'file.c:f'): the largest one counts."""
    r = subprocess.run(['callgrind_annotate', '--inclusive=yes',
                        '--threshold=100', '--auto=no', path],
                       capture_output=True, text=True)
    total, funcs = 0, {}
    for line in r.stdout.splitlines():
        m = re.match(r'\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*)$', line)
        if not m:
            continue
        ir, what = int(m.group(1).replace(',', '')), m.group(2)
        if what.startswith('PROGRAM TOTALS'):
            total = ir
            continue
        name = what.split(' [')[0].rsplit(':', 1)[-1].split("'")[0]
        funcs[name] = max(ir, funcs.get(name, 0))
    return total, funcs


def cg_report(out, n, setup):
    # A file with (almost) nothing collected: pyworker's waker helper, or
    # mod_wsgi's daemon, whose functions are static in the stripped
    # mod_wsgi.so: no --toggle-collect can name them.
    idle = {'pyworker': 'the waker helper',
            'wsgi-daemon': "mod_wsgi's daemon (its stripped functions "
            'cannot be toggled on)'}[setup]
    files = sorted(f for f in os.listdir(out) if f.startswith('cg.'))
    for f in files:
        path = os.path.join(out, f)
        total, funcs = cg_annotate(path)
        pid = int(f.split('.')[1])
        side = 'apache' if 'ap_run_process_connection' in funcs else (
            'daemon' if total >= n else None)
        if side is None:
            print('  pid %-7d %d Ir in all, ignored: %s' % (pid, total, idle))
            continue
        once = funcs.get(CG_ONCE, 0) if side == 'daemon' else 0
        print('  %-6s pid %-7d %.0f Ir/request%s' % (
            side, pid, (total - once) / n, ', not counting %s (%d Ir, '
            'once; the functions below include it)' % (CG_ONCE, once)
            if once else ''))
        for name in [x for x in CG_FUNCS[side] if x in funcs]:
            if name == CG_ONCE:
                print('    %-24s %10d Ir once' % (name, funcs[name]))
            else:
                print('    %-24s %10.0f' % (name, funcs[name] / n))
    return [os.path.join(out, f) for f in files]


def callgrind(s, work, args):
    out = os.path.join(work, 'callgrind')
    os.mkdir(out, 0o755)
    cg_start(s, out)
    try:
        checks = cg_ready(s)
        warm = ab(s.port, args.app, args.warmup, args.conns)
        r = ab(s.port, args.app, args.requests, args.conns)
    finally:
        cg_stop(s)
    n = checks + args.warmup + args.requests
    print('callgrind: setup %s app %s, %d connections; Ir per request over '
          'all %d requests sent while collecting (%d check + %d warm-up + '
          '%d measured; %d failed), %.0f req/s under valgrind' % (
              args.setup, args.app, args.conns, n, checks, args.warmup,
              args.requests, warm['failed'] + r['failed'], r['rps']))
    mod = getattr(args, 'module_info', None)
    if mod:                     # src/ changes under us: name the build
        print('  mod_pyworker.so: copy of %s built %s, sha256 %s' % (
            mod['path'], mod['mtime'], mod['sha256'][:16]))
    paths = cg_report(out, n, args.setup)
    if args.keep:
        print('callgrind files: %s' % ' '.join(paths))


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument('--setup', default='pyworker',
                    choices=['pyworker', 'wsgi-daemon'])
    ap.add_argument('--app', default='hello')
    ap.add_argument('--requests', type=int, default=20000)
    ap.add_argument('--conns', type=int, default=10)
    ap.add_argument('--warmup', type=int,
                    help='default 5000, 500 with --callgrind')
    ap.add_argument('--strace', action='store_true')
    ap.add_argument('--perf', action='store_true')
    ap.add_argument('--rss', action='store_true')
    ap.add_argument('--callgrind', action='store_true',
                    help='Apache -X and the daemon under callgrind: Ir per '
                    'request (use a few thousand requests)')
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
    if args.warmup is None:
        args.warmup = 500 if args.callgrind else 5000
    bench.EVENT_MPM = ONE_CHILD
    bench.THREADS_PER_CHILD = 200     # how daemons are told from children
    bench.raise_nofile()
    work, _ = bench.prepare_workdir([args.app])
    s = bench.Setup(args.setup, work, [args.app], args)
    try:
        if args.callgrind:
            return callgrind(s, work, args)
        s.start()
        ab(s.port, args.app, args.warmup, args.conns)
        kids = children(s.apache.pid)
        daemons = s.daemon_pids()
        # The MPM child: neither a daemon nor mod_pyworker's waker.
        child = [k for k in kids if k not in daemons
                 and bench.comm(k) not in bench.HELPER_COMMS]
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

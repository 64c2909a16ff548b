#!/usr/bin/python3
"""The interpreter's own speed under each server: the thread CPU time of
the same call-heavy Python work (bench/apps/calls.wsgi measures it inside
the request with time.thread_time_ns and answers it), sequential
keep-alive requests on one connection, rounds interleaved, medians.

Setups: one mod_pyworker per --module NAME=PATH (default: this tree's
build), and, when plone/build-env --bench has made its venv, bjoern under
that venv's python (Debian's python3: the speed a Python server gets
without embedding).  The thread CPU clock does not count time spent
waiting, so load on the machine moves it little; cache effects still do.

  bench/interp.py
  bench/interp.py --module hosted=./mod_pyworker.so \\
                  --module embedded=/other/build/mod_pyworker.so

Standard library only; run as root with /usr/bin/python3.
"""
import argparse
import glob
import http.client
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

VENV_GLOB = '/var/cache/pyworker-plone/*/venv'


def bjoern_venv():
    for v in sorted(glob.glob(VENV_GLOB)):
        if glob.glob(os.path.join(v, 'lib', 'python3*', 'site-packages',
                                  'bjoern.py')):
            return v
    return None


def drive(port, path, n):
    c = http.client.HTTPConnection('127.0.0.1', port, timeout=30)
    out = []
    for _ in range(n):
        c.request('GET', path)
        r = c.getresponse()
        out.append(int(r.read()))
    c.close()
    return out[n // 5:]         # the first fifth warms up


class Args:
    processes, threads, sendfile = 1, 2, False


def start_pyworker(work, name, module):
    """bench.py's pyworker setup (setup 'pyworker-NAME', its own root)."""
    args = Args()
    args.module = module
    args.pyworker_modules = {'pyworker-' + name: module}
    s = bench.Setup('pyworker-' + name, work, ['calls'], args)
    s.start()
    return s


def start_bjoern(work, venv):
    port = bench.free_port()
    code = ('import bjoern, runpy; m = runpy.run_path(%r); '
            'bjoern.run(m["application"], "127.0.0.1", %d)'
            % (os.path.join(work, 'apps', 'calls.wsgi'), port))
    p = subprocess.Popen([os.path.join(venv, 'bin', 'python'), '-c', code])
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            drive(port, '/', 1)
            return p, port
        except OSError:
            time.sleep(0.1)
    p.kill()
    raise bench.BenchError('bjoern did not start')


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument('--module', action='append', default=[],
                    metavar='NAME=PATH')
    ap.add_argument('--requests', type=int, default=2000)
    ap.add_argument('--rounds', type=int, default=3)
    args = ap.parse_args(argv)
    modules = [m.split('=', 1) for m in args.module] or [
        ('pyworker', os.path.join(bench.REPO_DIR, 'mod_pyworker.so'))]
    work, _ = bench.prepare_workdir(['calls'])
    setups, results, procs = [], {}, []
    try:
        for name, path in modules:
            s = start_pyworker(work, name, os.path.abspath(path))
            procs.append(s)
            setups.append((name, s.port, '/calls'))
        venv = bjoern_venv()
        if venv:
            p, port = start_bjoern(work, venv)
            procs.append(p)
            setups.append(('bjoern (python3)', port, '/'))
        for _ in range(args.rounds):
            for name, port, path in setups:
                results.setdefault(name, []).extend(
                    drive(port, path, args.requests))
    finally:
        for p in procs:
            if isinstance(p, subprocess.Popen):
                p.terminate()
                p.wait(10)
            else:
                p.stop()
        shutil.rmtree(work, ignore_errors=True)
    ref = statistics.median(results[setups[-1][0]])
    print('| setup | thread CPU per request, median µs | p10 | p90 | '
          '÷ %s |' % setups[-1][0])
    print('|---|---|---|---|---|')
    for name, _, _ in setups:
        v = sorted(results[name])
        print('| %s | %.0f | %.0f | %.0f | %.2f |' % (
            name, statistics.median(v) / 1e3, v[len(v) // 10] / 1e3,
            v[len(v) * 9 // 10] / 1e3, statistics.median(v) / ref))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))

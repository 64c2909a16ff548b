#!/usr/bin/python3
"""bench/express.py - pyworker-express against mod_wsgi-express, one command
each, rounds interleaved.

    bench/express.py [--rounds 5] [--mod-wsgi-express PATH]

Per round and launcher, run in a copy of t/apps/express with app.wsgi
(1 process x 5 threads, both launchers' defaults, --reload-on-changes): seconds from the command to
the first 200; requests/s of `wrk -t2 -c10 -d3s`; after an edit of the
imported module, seconds until the new text is served and the failed
requests and slowest response of a client that keeps asking meanwhile;
after Ctrl-C (SIGINT to the launcher's process group, as a terminal
sends it), seconds until the command exits, and the processes and
socket files left behind.  mod_wsgi-express comes from `pip install
mod-wsgi` in a virtualenv (PATH of its mod_wsgi-express); without it only
pyworker-express runs.  Medians are printed.  Needs root (both launchers
then run the app as www-data).
"""
import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
APP = os.path.join(REPO, "t", "apps", "express")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def command(setup, app_dir, root, port, mwe):
    app = os.path.join(app_dir, "app.wsgi")
    if setup == "pyworker-express":
        return [os.path.join(REPO, "tools", "pyworker-express"), "start", app,
                "--port", str(port), "--server-root", root,
                "--reload-on-changes"]
    return [mwe, "start-server", app, "--host", "127.0.0.1", "--port",
            str(port), "--server-root", root, "--reload-on-changes",
            "--user", "www-data", "--group", "www-data", "--locale",
            "C.UTF-8"]


def get(port, timeout=10):
    """(status, body) of GET /, or (exception name, None)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/")
        resp = conn.getresponse()
        return resp.status, resp.read()
    except Exception as e:
        return type(e).__name__, None
    finally:
        conn.close()


def tree(pid):
    """pid and every process below it."""
    out, todo = [pid], [pid]
    while todo:
        parent = todo.pop()
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % name) as f:
                    ppid = int(f.read().rpartition(")")[2].split()[1])
            except OSError:
                continue
            if ppid == parent:
                out.append(int(name))
                todo.append(int(name))
    return out


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def sockets(root):
    return [os.path.join(d, n) for d, _, names in os.walk(root)
            for n in names if n.endswith(".sock")]


def wait_ready(proc, port, timeout=60):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout and proc.poll() is None:
        if get(port, 2)[0] == 200:
            return time.monotonic() - t0
        time.sleep(0.02)
    raise RuntimeError("not serving within %d s (exit status %s)"
                       % (timeout, proc.poll()))


def wrk(port):
    out = subprocess.run(["wrk", "-t2", "-c10", "-d3s",
                          "http://127.0.0.1:%d/" % port],
                         capture_output=True, text=True, timeout=60).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def reload(port, app_dir):
    """Edit greeting.py; (seconds to the new text, failures, slowest s)."""
    stop, results = threading.Event(), []

    def client():
        while not stop.is_set():
            t = time.monotonic()
            status, body = get(port)
            results.append((t, time.monotonic() - t, status, body))

    thread = threading.Thread(target=client)
    thread.start()
    time.sleep(1)
    path = os.path.join(app_dir, "greeting.py")
    with open(path, "w") as f:
        f.write("TEXT = %r\n" % ("edited-%f" % time.time()))
    later = time.time() + 2
    os.utime(path, (later, later))
    t_edit = time.monotonic()
    seen = None
    while seen is None and time.monotonic() - t_edit < 60:
        for t, _, status, body in list(results):
            if t >= t_edit and body and b"edited-" in body:
                seen = t - t_edit
                break
        time.sleep(0.01)
    time.sleep(1)
    stop.set()
    thread.join()
    failures = sum(1 for r in results if r[2] != 200)
    return seen, failures, max(r[1] for r in results)


def one_round(setup, mwe, work):
    app_dir = tempfile.mkdtemp(dir=work)
    os.chmod(app_dir, 0o755)
    for name in ("app.wsgi", "greeting.py"):
        shutil.copy(os.path.join(APP, name), app_dir)
    root, port = os.path.join(app_dir, "root"), free_port()
    with open(os.path.join(app_dir, "launcher.log"), "wb") as log:
        proc = subprocess.Popen(command(setup, app_dir, root, port, mwe),
                                stdout=log, stderr=log, cwd=app_dir,
                                start_new_session=True)
    try:
        start = wait_ready(proc, port)
        rps = wrk(port)
        switch, failures, slowest = reload(port, app_dir)
        pids = tree(proc.pid)
        t1 = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
        stop = time.monotonic() - t1
        time.sleep(0.5)
        left = [p for p in pids if alive(p)]
        socks = sockets(root)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return dict(start=start, rps=rps, switch=switch, failures=failures,
                slowest=slowest, stop=stop, left=len(left), socks=len(socks))


def _fmt(x):
    return "%.0f" % x if x >= 100 else "%.3g" % x


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--mod-wsgi-express", metavar="PATH")
    args = ap.parse_args()
    setups = ["pyworker-express"] + (["mod_wsgi-express"]
                                     if args.mod_wsgi_express else [])
    work = tempfile.mkdtemp(prefix="pyw-bench-express-", dir="/tmp")
    os.chmod(work, 0o755)
    rows = {s: [] for s in setups}
    try:
        for r in range(args.rounds):
            for s in (setups if r % 2 == 0 else setups[::-1]):
                rows[s].append(one_round(s, args.mod_wsgi_express, work))
                print(r + 1, s, rows[s][-1], flush=True)
    finally:
        if os.environ.get("PYW_KEEP") != "1":
            shutil.rmtree(work, ignore_errors=True)
    keys = ["start", "rps", "switch", "failures", "slowest", "stop", "left",
            "socks"]
    print("\nmedians of %d rounds; load average %s" % (
        args.rounds, os.getloadavg()))
    print("| launcher | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for s in setups:
        print("| %s | " % s + " | ".join(
            _fmt(statistics.median(row[k] for row in rows[s]))
            for k in keys) + " |")


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Time to the first response of an on-demand group (issue 13, part 1),
broken down, for the hello app and the Django test app.

One private Apache (the test harness's configuration, t/pyworker_t) with

  PyWorkerDaemonProcess hello  start=on-demand idle-timeout=1 threads=4
  PyWorkerDaemonProcess django start=on-demand idle-timeout=1 threads=4

Each round, for each app in turn: wait until the group has no daemon
(idle-timeout stopped it), then one GET on a new connection, timed by
this script.  The rest comes from the error log's microsecond
timestamps (one machine, one clock):

  notice     the GET sent -> PYW0050 (the waker saw the connection in
             the backlog, the parent was woken)
  fork       -> PYW0021 (the parent forked the daemon)
  exec       -> PYW0214 (the daemon program runs: exec, the dynamic
             loader, the spec read, descriptors set up)
  python     -> PYW0302 (Python initialised, sys.path set)
  threads    -> PYW0200 (watchdog, workers and poller running: the
             daemon accepts the waiting connection from here)
  import     -> the response received (HELLO, the request, the WSGI
             script imported on this first request, the answer)

Standard library only; run with /usr/bin/python3 from the checkout
after `make`:  bench/ondemand.py [--rounds 10] [--module PATH]
It writes bench/results/<timestamp>-ondemand.md.
"""
import argparse
import datetime
import http.client
import os
import re
import statistics
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "t"))

from pyworker_t import procs  # noqa: E402
from pyworker_t.httpd import Apache  # noqa: E402
from save import save_report  # noqa: E402

CONF = """
PyWorkerDaemonProcess hello start=on-demand idle-timeout=1 threads=4 \\
    display-name=%{GROUP}
PyWorkerDaemonProcess django start=on-demand idle-timeout=1 threads=4 \\
    display-name=%{GROUP}
PyWorkerScriptAlias /hello {apps}/hello.wsgi process-group=hello
PyWorkerScriptAlias /django {apps}/django_site/site.wsgi process-group=django
"""
APPS = {"hello": "/hello", "django": "/django/"}
PHASES = [("notice", "PYW0050"), ("fork", "PYW0021"), ("exec", "PYW0214"),
          ("python", "PYW0302"), ("threads", "PYW0200")]
STAMP = re.compile(r"^\[\w{3} (\w{3} \d\d \d\d:\d\d:\d\d\.\d{6} \d{4})\]")


def stamp(line):
    m = STAMP.match(line)
    return datetime.datetime.strptime(m.group(1),
                                      "%b %d %H:%M:%S.%f %Y").timestamp()


def first_line(a, code, group, mark):
    for line in a.log.lines(mark):
        if code in line and "group=%s" % group in line:
            return stamp(line)
    return None


def one_start(a, group, path):
    """(total, {phase: seconds}) of one cold start of group."""
    deadline = time.monotonic() + 30
    while a.daemon_pids(group):
        if time.monotonic() > deadline:
            raise RuntimeError("%s never went idle" % group)
        time.sleep(0.05)
    time.sleep(0.2)
    mark = a.log.mark()
    conn = http.client.HTTPConnection("127.0.0.1", a.port, timeout=30)
    t0 = time.time()
    conn.request("GET", path)
    resp = conn.getresponse()
    resp.read()
    t1 = time.time()
    conn.close()
    if resp.status != 200:
        raise RuntimeError("%s: %d" % (path, resp.status))
    a.log.wait_for(r"PYW0200: .*group=%s\b" % group, since=mark)
    phases, prev = {}, t0
    for name, code in PHASES:
        t = first_line(a, code, group, mark)
        if t is None:
            raise RuntimeError("%s: no %s line" % (group, code))
        phases[name] = t - prev
        prev = t
    phases["import"] = t1 - prev
    return t1 - t0, phases


def ms(values, q=None):
    values = sorted(values)
    if q is None:
        return "%.1f" % (statistics.median(values) * 1000)
    return "%.1f" % (values[min(len(values) - 1,
                                int(q * len(values)))] * 1000)


def load_avg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--module", default=os.path.join(
        os.path.dirname(HERE), "mod_pyworker.so"))
    args = ap.parse_args()
    os.environ["PYW_MODULE"] = os.path.abspath(args.module)
    load_before = load_avg()
    a = Apache("ondemand-bench", CONF, wait_daemons=False)
    a.start()
    results = {app: [] for app in APPS}
    try:
        for r in range(args.rounds):
            for app, path in APPS.items():
                results[app].append(one_start(a, app, path))
                sys.stderr.write("round %d %s: %.1f ms\n"
                                 % (r + 1, app, results[app][-1][0] * 1000))
    finally:
        a.stop()
        a.remove()
    names = [n for n, _ in PHASES] + ["import"]
    out = ["# On-demand start: time to the first response",
           "",
           "%s, %d rounds, load average %s before, %s after; medians "
           "(p90) in ms." % (datetime.datetime.now().strftime("%Y-%m-%d "
                                                              "%H:%M"),
                             args.rounds, load_before, load_avg()),
           "",
           "| app | first response | " + " | ".join(names) + " |",
           "|---|---|" + "---|" * len(names)]
    for app, runs in results.items():
        totals = [t for t, _ in runs]
        cells = ["%s (%s)" % (ms([p[n] for _, p in runs]),
                              ms([p[n] for _, p in runs], 0.9))
                 for n in names]
        out.append("| %s | **%s** (%s) | %s |"
                   % (app, ms(totals), ms(totals, 0.9), " | ".join(cells)))
    text = "\n".join(out) + "\n"
    print(text)
    save_report(text, "ondemand")


if __name__ == "__main__":
    main()

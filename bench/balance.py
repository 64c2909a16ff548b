#!/usr/bin/python3
"""Balancing across daemon groups with mod_proxy_balancer (issue 14,
part 3): byrequests, bybusyness and byfreeworkers side by side.

One private Apache (the test harness's configuration, t/pyworker_t) with
two groups of 2 processes x 2 threads running t/apps/member.wsgi, and
three balancers over the same two groups, one per method:

  PyWorkerDaemonProcess a processes=2 threads=2 script=.../member.wsgi
  PyWorkerDaemonProcess b processes=2 threads=2 script=.../member.wsgi
  <Proxy balancer://byrequests>  BalancerMember pyworker://a ...

Each run: CONNECTIONS closed-loop clients (http.client, keep-alive) send
REQUESTS requests; every LONG_EVERY-th one sleeps 500 ms in the app, the
others 5 ms.  Reported per method: p50 and p99 of the short requests,
total requests/s.  Rounds interleave the methods (r1: A B C, r2: B C A,
...), so a busy moment of a shared machine does not fall on one method.

Standard library only; run with /usr/bin/python3 from the checkout
after `make`:  bench/balance.py [--rounds 3] [--requests 1200]
--outside N adds N connections sending 500 ms requests straight to group
a (ProxyPass /outside pyworker://a/), which the balancer does not see.
It writes bench/results/<timestamp>-balance.md.
"""
import argparse
import datetime
import os
import statistics
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "t"))

from pyworker_t.httpd import Apache  # noqa: E402
from pyworker_t.load import Load  # noqa: E402
from pyworker_t.proxy import load_proxy  # noqa: E402
from save import save_report  # noqa: E402

# "queued": byfreeworkers with the balancer's timeout=, so that requests
# wait at the balancer for a free worker (pyw_lbmethod.c).
METHODS = ("byrequests", "bybusyness", "byfreeworkers", "queued")
LBMETHOD = {"queued": "byfreeworkers timeout=30"}
CONNECTIONS = 16
SHORT_MS, LONG_MS, LONG_EVERY = 5, 500, 10

CONF = load_proxy() + """
PyWorkerDaemonProcess a processes=2 threads=2 script={apps}/member.wsgi
PyWorkerDaemonProcess b processes=2 threads=2 script={apps}/member.wsgi
ProxyPass /outside pyworker://a/
""" + "".join("""
<Proxy balancer://%(m)s>
    BalancerMember pyworker://a
    BalancerMember pyworker://b
    ProxySet lbmethod=%(lb)s
</Proxy>
ProxyPass /%(m)s balancer://%(m)s/
""" % {"m": m, "lb": LBMETHOD.get(m, m)} for m in METHODS)


def path_for(method):
    def path(i):
        ms = LONG_MS if i % LONG_EVERY == 0 else SHORT_MS
        return "/%s/?ms=%d" % (method, ms)
    return path


def one_run(a, method, total, outside=0, connections=CONNECTIONS):
    """One run; `outside` more connections keep sending 500 ms requests
    straight to group a (ProxyPass /outside), past the balancer."""
    bg = Load(a.port, "/outside/?ms=%d" % LONG_MS, total=10 ** 6,
              concurrency=outside, timeout=30).start() if outside else None
    try:
        res = Load(a.port, path_for(method), total=total,
                   concurrency=connections, timeout=30, deadline=300).run()
    finally:
        if bg is not None:
            bg.stop()
            bg.join()
    short = sorted((r.end - r.start) * 1000 for r in res.records
                   if r.index % LONG_EVERY != 0 and r.status == 200)
    bad = sum(1 for r in res.records if r.status != 200)
    return {"p50": statistics.median(short),
            "p99": short[int(len(short) * 0.99) - 1],
            "rps": len(res.records) / res.elapsed, "bad": bad}


def report(results, args):
    lines = ["# Balancing across groups: byrequests / bybusyness / "
             "byfreeworkers / byfreeworkers queued at the balancer "
             "(ProxySet timeout=30)", "",
             "%s; two groups of 2 processes x 2 threads, %d connections, "
             "%d requests per run, every %dth %d ms, the others %d ms; "
             "%d interleaved rounds (the machine was shared)%s."
             % (datetime.date.today(), args.connections, args.requests,
                LONG_EVERY, LONG_MS, SHORT_MS, args.rounds,
                "; plus %d connections of %d ms requests straight to "
                "group a" % (args.outside, LONG_MS) if args.outside
                else ""), "",
             "| method | short p50 ms | short p99 ms | requests/s | "
             "non-200 |", "|---|---|---|---|---|"]
    for m in results:
        runs = results[m]
        lines.append("| %s | %.1f | %.1f | %.1f | %d |" % (
            m, statistics.median(r["p50"] for r in runs),
            statistics.median(r["p99"] for r in runs),
            statistics.median(r["rps"] for r in runs),
            sum(r["bad"] for r in runs)))
    lines += ["", "Per round (p99 ms / requests/s):", ""]
    for m in results:
        lines.append("- %s: %s" % (m, ", ".join(
            "%.0f / %.1f" % (r["p99"], r["rps"]) for r in results[m])))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--requests", type=int, default=1200)
    ap.add_argument("--connections", type=int, default=CONNECTIONS)
    ap.add_argument("--outside", type=int, default=0, metavar="N",
                    help="N connections of 500 ms requests straight to "
                    "group a during each run (load the balancer does "
                    "not send)")
    ap.add_argument("--methods", default=",".join(METHODS),
                    help="which of %s to run (default: all)"
                    % ", ".join(METHODS))
    args = ap.parse_args()
    methods = tuple(m for m in METHODS if m in args.methods.split(","))
    a = Apache("bench-balance", CONF, ready=["/%s/" % m for m in METHODS],
               loglevel="notice")
    a.start()
    results = {m: [] for m in methods}
    try:
        for m in methods:
            one_run(a, m, 200)                  # warm up every path
        for r in range(args.rounds):
            k = r % len(methods)
            order = methods[k:] + methods[:k]
            for m in order:
                results[m].append(one_run(a, m, args.requests,
                                          args.outside, args.connections))
                x = results[m][-1]
                sys.stderr.write("round %d %-13s p50 %6.1f p99 %6.1f ms "
                                 "%6.1f req/s bad %d\n" % (
                                     r + 1, m, x["p50"], x["p99"],
                                     x["rps"], x["bad"]))
    finally:
        a.stop()
        a.remove()
    text = report(results, args)
    sys.stdout.write(text)
    save_report(text, "balance")


if __name__ == "__main__":
    main()

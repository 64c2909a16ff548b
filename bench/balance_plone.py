#!/usr/bin/python3
"""The talk's scenario (issue 14, part 7): two ZEO clients of one Plone
site as two daemon groups behind Apache's balancer, against one group
with the same total processes.

One private Apache (t/pyworker_t) and the Plone test world (t/plone_t:
the cached virtualenv of plone/build-env, ZEO, one site), configured by
t/plone_t/balance.py:

  zeo1, zeo2   2 processes x 2 threads each, the same Zope instance
  single       4 processes x 2 threads
  /bybusyness, /byfreeworkers   balancers over zeo1 + zeo2
  /queued      byfreeworkers with timeout=60: requests wait at the
               balancer for a free worker
  /single      ProxyPass to the single group

Each cell: CONNECTIONS closed-loop clients (http.client, keep-alive) GET
/<setup>/Plone for --duration seconds.  Rounds interleave the setups
(r1: A B C, r2: B C A, ...).  Reported: requests/s, p50, p99, non-200.

Run with /usr/bin/python3 from the checkout after `make`:
  bench/balance_plone.py [--rounds 2] [--duration 10] [--connections 10,50,100]
It writes bench/results/<timestamp>-balance-plone.md.
"""
import argparse
import collections
import datetime
import re
import os
import statistics
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "t"))

from plone_t import SITE_ID, PloneWorld, build_env  # noqa: E402
from plone_t import balance  # noqa: E402
from pyworker_t.httpd import Apache  # noqa: E402
from pyworker_t.load import Load  # noqa: E402
from save import save_report  # noqa: E402

SETUPS = ("bybusyness", "byfreeworkers", "queued", "single")


def wait_ready(a, timeout=300):
    deadline = time.monotonic() + timeout
    for setup in SETUPS:
        while True:
            try:
                if a.get("/%s/%s" % (setup, SITE_ID),
                         timeout=60).status_code == 200:
                    break
            except Exception:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("not ready:\n" + a.log.tail(40))
            time.sleep(0.5)


def one_cell(a, setup, conns, duration):
    res = Load(a.port, "/%s/%s" % (setup, SITE_ID), total=10 ** 7,
               concurrency=conns, timeout=120, deadline=duration).run()
    lat = sorted((r.end - r.start) * 1000 for r in res.records
                 if r.status == 200)
    return {"rps": len(res.records) / res.elapsed,
            "p50": statistics.median(lat) if lat else 0,
            "p99": lat[max(0, int(len(lat) * 0.99) - 1)] if lat else 0,
            "bad": collections.Counter(str(r.status) for r in res.records
                                       if r.status != 200)}


def report(cells, args):
    lines = ["# Plone: two ZEO clients behind the balancer vs one group",
             "", "%s; zeo1 + zeo2 (2 processes x 2 threads each) behind "
             "bybusyness, byfreeworkers or byfreeworkers with timeout=60 "
             "(queued), against one group of 4 x 2; GET "
             "/Plone, %d s per cell, %d interleaved rounds, medians (the "
             "machine, 2 cores, was shared)." % (
                 datetime.date.today(), args.duration, args.rounds), "",
             "| connections | setup | requests/s | p50 ms | p99 ms | "
             "non-200 |", "|---|---|---|---|---|---|"]
    for c in args.conns:
        for s in SETUPS:
            runs = cells[c, s]
            bad = sum((r["bad"] for r in runs), collections.Counter())
            lines.append("| %d | %s | %.1f | %.0f | %.0f | %s |" % (
                c, s, statistics.median(r["rps"] for r in runs),
                statistics.median(r["p50"] for r in runs),
                statistics.median(r["p99"] for r in runs),
                ", ".join("%s x%d" % kv for kv in sorted(bad.items()))
                or "0"))
    if args.errors:
        lines += ["", "Error log lines at error level or worse, by code: "
                  + ", ".join("%s x%d" % kv
                              for kv in sorted(args.errors.items()))]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--duration", type=float, default=10)
    ap.add_argument("--connections", default="10,50,100")
    args = ap.parse_args()
    args.conns = [int(c) for c in args.connections.split(",")]
    venv, _ = build_env()
    world = PloneWorld(venv, [("one", "Plone Site One", "pywtest1")])
    world.create()
    # Room for every client's request in flight: the test Apache's 100
    # workers would close keep-alive connections at 100 clients (AH00484),
    # and children of 25 threads close them above their connection limit
    # (AsyncRequestWorkerFactor) while their threads wait on Plone.
    room = ("ServerLimit 4\nThreadLimit 128\nThreadsPerChild 128\n"
            "MaxSpareThreads 512\nMaxRequestWorkers 512\n")
    a = Apache("bench-balance-plone", room + balance.snippet(world),
               wait_daemons=False, loglevel="notice")
    cells = {}
    try:
        a.start()
        wait_ready(a)
        for s in SETUPS:
            one_cell(a, s, 10, 3)                   # warm every process
        for r in range(args.rounds):
            for c in args.conns:
                order = SETUPS[r % len(SETUPS):] + SETUPS[:r % len(SETUPS)]
                for s in order:
                    x = one_cell(a, s, c, args.duration)
                    cells.setdefault((c, s), []).append(x)
                    sys.stderr.write("round %d c=%d %-13s %6.1f req/s p50 "
                                     "%5.0f p99 %5.0f bad %s\n" % (
                                         r + 1, c, s, x["rps"], x["p50"],
                                         x["p99"], dict(x["bad"])))
        args.errors = collections.Counter(
            m.group(1) for m in (re.search(r"\b(PYW\d{4}|AH\d{5})\b", l)
                                 for l in a.log.lines() if l.severe)
            if m)
    finally:
        a.stop()
        a.remove()
        world.stop()
    text = report(cells, args)
    sys.stdout.write(text)
    save_report(text, "balance-plone")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""One site flooded, another quiet, on one Apache: what queue-limit= buys
the quiet one.

One private Apache (the test harness's configuration, t/pyworker_t) of
50 threads (ServerLimit 2 x ThreadsPerChild 25) and three groups:

  quiet   threads=4, t/apps/hello.wsgi at /quiet: the neighbour
  busy    threads=2, t/apps/member.wsgi at /busy, no limit
  capped  threads=2 queue-limit=6, the same app at /capped

Each run floods one of busy or capped with FLOOD connections of SLOW_MS
requests (a site whose database went slow) for SECONDS, while QUIET
connections ask /quiet in a closed loop from the second second on;
"alone" runs the quiet clients with no flood.  Reported per setup:
the quiet site's requests/s, p50, p99 and worst latency and its failed
requests; the flooded site's answers (200 and 503) per second.  Rounds
interleave the setups.

Standard library only; run with /usr/bin/python3 from the checkout
after `make`:  bench/fairness.py [--rounds 3] [--seconds 10]
It writes bench/results/<timestamp>-fairness.md.
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
from save import save_report  # noqa: E402

SETUPS = ("alone", "busy", "capped")
FLOOD, QUIET, SLOW_MS = 80, 4, 500
QUEUE_LIMIT = 6

CONF = """
StartServers 2
ServerLimit 2
ThreadsPerChild 25
MaxRequestWorkers 50
PyWorkerDaemonProcess quiet threads=4
PyWorkerDaemonProcess busy threads=2
PyWorkerDaemonProcess capped threads=2 queue-limit=%d
PyWorkerScriptAlias /quiet {apps}/hello.wsgi process-group=quiet
PyWorkerScriptAlias /busy {apps}/member.wsgi process-group=busy
PyWorkerScriptAlias /capped {apps}/member.wsgi process-group=capped
""" % QUEUE_LIMIT


def pct(values, q):
    return values[min(len(values) - 1, int(len(values) * q))]


def one_run(a, setup, seconds):
    flood = None
    if setup != "alone":
        flood = Load(a.port, "/%s?ms=%d" % (setup, SLOW_MS), total=10 ** 6,
                     concurrency=FLOOD, timeout=60,
                     deadline=seconds).start()
    time.sleep(1.0)
    quiet = Load(a.port, "/quiet", total=10 ** 6, concurrency=QUIET,
                 timeout=60, deadline=seconds - 2).run()
    answered = {}
    if flood is not None:
        flood.stop()
        res = flood.join()
        span = max(r.end for r in res.records) - min(
            r.start for r in res.records) if res.records else 1
        answered = {k: v / span for k, v in res.counts.items()}
    lat = sorted((r.end - r.start) * 1000 for r in quiet.records
                 if r.status == 200)
    return {"rps": len(lat) / quiet.elapsed if quiet.elapsed else 0,
            "p50": pct(lat, 0.5) if lat else float("nan"),
            "p99": pct(lat, 0.99) if lat else float("nan"),
            "max": lat[-1] if lat else float("nan"),
            "failed": sum(1 for r in quiet.records if r.status != 200),
            "flood": answered}


def report(results, args):
    lines = ["# One site flooded, its neighbour quiet: queue-limit=", "",
             "%s; Apache of 50 threads; %d connections of %d ms requests "
             "flood a group of 2 threads (`busy`: no limit, `capped`: "
             "queue-limit=%d) for %d s while %d connections ask a hello "
             "app in another group; `alone`: no flood. %d interleaved "
             "rounds, medians." % (datetime.date.today(), FLOOD, SLOW_MS,
                                   QUEUE_LIMIT, args.seconds, QUIET,
                                   args.rounds), "",
             "| flood on | quiet req/s | quiet p50 ms | quiet p99 ms | "
             "quiet worst ms | quiet failed | flooded 200/s | "
             "flooded 503/s | flooded other/s |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in results:
        runs = results[s]

        def med(key):
            return statistics.median(r[key] for r in runs)

        def fl(kind):
            vals = [sum(v for k, v in r["flood"].items()
                        if (k == kind if kind != "other"
                            else k not in (200, 503))) for r in runs]
            return "%.1f" % statistics.median(vals) if s != "alone" else "-"
        lines.append("| %s | %.0f | %.1f | %.1f | %.0f | %d | %s | %s | %s |"
                     % (s, med("rps"), med("p50"), med("p99"), med("max"),
                        sum(r["failed"] for r in runs), fl(200), fl(503),
                        fl("other")))
    lines += ["", "Per round (quiet p99 ms / worst ms / failed):", ""]
    for s in results:
        lines.append("- %s: %s" % (s, ", ".join(
            "%.0f / %.0f / %d" % (r["p99"], r["max"], r["failed"])
            for r in results[s])))
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    args = ap.parse_args()
    a = Apache("bench-fairness", CONF, ready=["/quiet", "/busy", "/capped"],
               loglevel="notice")
    a.start()
    results = {s: [] for s in SETUPS}
    try:
        for r in range(args.rounds):
            k = r % len(SETUPS)
            for s in SETUPS[k:] + SETUPS[:k]:
                x = one_run(a, s, args.seconds)
                results[s].append(x)
                sys.stderr.write("round %d %-7s quiet %5.0f req/s p99 %8.1f "
                                 "worst %8.1f failed %d flood %s\n" % (
                                     r + 1, s, x["rps"], x["p99"], x["max"],
                                     x["failed"], {k: round(v, 1) for k, v
                                                   in x["flood"].items()}))
    finally:
        a.stop()
        a.remove()
    text = report(results, args)
    sys.stdout.write(text)
    save_report(text, "fairness")


if __name__ == "__main__":
    main()

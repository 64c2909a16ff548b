"""Memory of an idle daemon: what a burst of requests freed goes back to
the kernel once the daemon is idle, instead of staying resident in the C
heap (where memory-limit would count it)."""
import time

from pyworker_t import procs
from pyworker_t.load import Load


def _rss_kb(pid):
    return procs.status_field(pid, "VmRSS")


def test_an_idle_daemon_gives_freed_heap_back(fresh_apache):
    a = fresh_apache("""
PyWorkerDaemonProcess churn threads=4 display-name=pywd-churn
PyWorkerScriptAlias /churn {apps}/churn.wsgi process-group=churn
""", ready=["/churn?mb=1"])
    pid, = a.daemon_pids("churn")
    before = _rss_kb(pid)
    res = Load(a.port, "/churn?mb=40", total=8, concurrency=4,
               timeout=60).start().join()
    assert res.counts == {200: 8}, res.failures()[:5]
    busy = _rss_kb(pid)
    assert busy > before + 20 * 1024, (before, busy)   # the burst stuck
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _rss_kb(pid) > before + 10 * 1024:
        time.sleep(0.2)
    idle = _rss_kb(pid)
    assert idle <= before + 10 * 1024, (before, busy, idle)
    assert a.get("/churn?mb=1").status_code == 200

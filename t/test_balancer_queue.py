"""byfreeworkers with the balancer's own timeout= (ProxySet timeout=S):
when every member's workers are taken, a request waits at the balancer
for the first free worker of any member, instead of queueing inside one
daemon behind whatever that process runs (pyw_lbmethod.c).  Past the
timeout it is sent to the best member anyway: a queue there, never 503.

Groups of one thread, so that "taken" is one request.
"""
import os
import threading
import time

import pytest
import requests

from pyworker_t import procs
from pyworker_t.httpd import ONE_CHILD
from pyworker_t.proxy import load_proxy

CONF = load_proxy() + """
PyWorkerDaemonProcess qa threads=1 script={apps}/member.wsgi
PyWorkerDaemonProcess qb threads=1 script={apps}/member.wsgi
ProxyPass /qa pyworker://qa/
ProxyPass /qb pyworker://qb/

<Proxy balancer://queued>
    BalancerMember pyworker://qa
    BalancerMember pyworker://qb
    ProxySet lbmethod=byfreeworkers timeout=10
</Proxy>
ProxyPass /queued balancer://queued/

<Proxy balancer://brief>
    BalancerMember pyworker://qa
    BalancerMember pyworker://qb
    ProxySet lbmethod=byfreeworkers timeout=1
</Proxy>
ProxyPass /brief balancer://brief/

# The same line beside a member mod_proxy would not choose while qa or qb
# can take a request: a hot standby, a draining member.  (qb's weight
# makes it the choice when a request is sent on at once.)
PyWorkerDaemonProcess qs threads=1 script={apps}/member.wsgi
<Proxy balancer://standby>
    BalancerMember pyworker://qa
    BalancerMember pyworker://qb loadfactor=100
    BalancerMember pyworker://qs status=+H
    ProxySet lbmethod=byfreeworkers timeout=10
</Proxy>
ProxyPass /standby balancer://standby/
<Proxy balancer://drained>
    BalancerMember pyworker://qa
    BalancerMember pyworker://qb loadfactor=100
    BalancerMember pyworker://qs status=+N
    ProxySet lbmethod=byfreeworkers timeout=10
</Proxy>
ProxyPass /drained balancer://drained/

# A group of two threads beside an http:// member (this very Apache's
# htdocs) of the default lbfactor.
PyWorkerDaemonProcess q2 threads=2 script={apps}/member.wsgi
<Proxy balancer://mixed>
    BalancerMember pyworker://q2
    BalancerMember http://127.0.0.1:{port}/static
    ProxySet lbmethod=byfreeworkers
</Proxy>
ProxyPass /mixed balancer://mixed/
"""


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/qa/", "/qb/"])


def occupy(httpd, path, ms):
    """A request holding the only worker of a group for ms, in a thread;
    join() it for its status."""
    out = {}

    def run():
        try:
            out["status"] = requests.get(httpd.url("%s/?ms=%d" % (path, ms)),
                                         timeout=40).status_code
        except requests.RequestException as e:
            out["status"] = repr(e)     # cut off: Apache stopped

    t = threading.Thread(target=run)
    t.start()
    t.out = out
    return t


def timed_get(httpd, path):
    t0 = time.monotonic()
    r = requests.get(httpd.url(path), timeout=30)
    return r, time.monotonic() - t0


@pytest.mark.parametrize("first_free", ["qa", "qb"])
def test_waits_for_the_member_that_frees_a_worker_first(httpd, first_free):
    """Both members busy: one with a 0.6 s request and a 0.1 s one queued
    behind it, the other with one 3 s request.  Sent at once, the request
    would go to the second (fewer requests); waiting at the balancer, it
    goes to the first, which frees its worker after 0.7 s."""
    slow = "qb" if first_free == "qa" else "qa"
    held = [occupy(httpd, "/" + first_free, 600),
            occupy(httpd, "/" + slow, 3000)]
    time.sleep(0.1)
    held.append(occupy(httpd, "/" + first_free, 100))
    time.sleep(0.3)                 # both workers taken
    r, took = timed_get(httpd, "/queued/")
    assert r.status_code == 200, r.text
    assert r.json()["group"] == first_free
    assert took < 2.0, took         # not behind the 3 s request
    for t in held:
        t.join()
        assert t.out["status"] == 200


def test_past_the_timeout_it_queues_at_a_member_never_503(httpd):
    """timeout=1 while both members stay busy for 3 s: after the second
    the request is sent on anyway, waits in a daemon and is answered."""
    held = [occupy(httpd, "/qa", 3000), occupy(httpd, "/qb", 3000)]
    time.sleep(0.3)
    r, took = timed_get(httpd, "/brief/")
    assert r.status_code == 200, r.text
    assert took >= 2.0, took        # it did wait for a worker to free
    for t in held:
        t.join()
        assert t.out["status"] == 200


@pytest.mark.parametrize("path", ["/standby/", "/drained/"])
def test_an_idle_standby_or_draining_member_does_not_end_the_wait(httpd,
                                                                 path):
    """Its free worker ended the wait (or was claimed), and mod_proxy,
    which does not choose such a member while qa or qb can take the
    request, sent it to a busy one: behind the 3 s request."""
    held = [occupy(httpd, "/qa", 600), occupy(httpd, "/qb", 3000)]
    time.sleep(0.3)
    r, took = timed_get(httpd, path)
    assert (r.status_code, r.json()["group"]) == (200, "qa"), r.text
    assert took < 2.0, took
    for t in held:
        t.join()
        assert t.out["status"] == 200


def test_an_http_member_counts_as_its_lbfactor(httpd):
    """mod_proxy keeps lbfactor x 100: the http:// member counted as 100
    free workers and took every request from the idle group of two."""
    os.makedirs(httpd.path("htdocs", "static"), exist_ok=True)
    with open(httpd.path("htdocs", "static", "who.txt"), "w") as f:
        f.write("http\n")
    os.chmod(httpd.path("htdocs", "static", "who.txt"), 0o644)
    seen = []
    for _ in range(6):
        r = requests.get(httpd.url("/mixed/who.txt"), timeout=15)
        assert r.status_code == 200, r.text
        seen.append("http" if r.text == "http\n" else r.json()["group"])
        # mod_proxy counts a request as busy until its handler returns,
        # which may be after the client has read the response: the next
        # one would see q2 with one free worker, a tie with http.
        time.sleep(0.2)
    assert seen == ["q2"] * 6, seen


def test_a_free_worker_means_no_wait(httpd):
    held = occupy(httpd, "/qa", 2000)
    time.sleep(0.3)
    r, took = timed_get(httpd, "/queued/")
    assert r.status_code == 200 and r.json()["group"] == "qb"
    assert took < 1.0, took
    held.join()


def assert_waiters_leave_in_order(a, n, slow_ms):
    """Both members busy (qa for 1 s, qb for slow_ms); n requests arrive
    0.1 s apart, each 0.25 s long: as qa frees its worker one request at
    a time, they must leave the balancer, and so finish, in the order
    they came."""
    held = [occupy(a, "/qa", 1000), occupy(a, "/qb", slow_ms)]
    time.sleep(0.3)
    done = {}

    def wait(i):
        r = requests.get(a.url("/queued/?ms=250&n=%d" % i), timeout=30)
        done[i] = (time.monotonic(), r.status_code, r.json()["group"])

    waiters = []
    for i in range(n):
        waiters.append(threading.Thread(target=wait, args=(i,)))
        waiters[-1].start()
        time.sleep(0.1)
    for t in waiters + held:
        t.join(30)
    assert [done[i][1:] for i in range(n)] == [(200, "qa")] * n, done
    finish = [done[i][0] for i in range(n)]
    assert finish == sorted(finish), done


def test_waiters_leave_in_the_order_they_came(fresh_apache):
    """First come, first served: polling alone lets whichever waiter
    looks first take each freed worker.  One Apache child."""
    a = fresh_apache(ONE_CHILD + CONF, ready=["/qa/", "/qb/"])
    assert_waiters_leave_in_order(a, 5, 6000)


# Four Apache children of three threads: ten requests in flight need
# all four, so the waiters below stand in different children.
# Four children of four threads: the ten requests of the test spread
# over them, with room left, so that the MPM never logs that it reached
# MaxRequestWorkers (AH00484, an error line; seen once with 4 x 3).
SMALL_CHILDREN = """
StartServers 4
ServerLimit 4
ThreadLimit 4
ThreadsPerChild 4
MinSpareThreads 1
MaxSpareThreads 16
MaxRequestWorkers 16
"""


def test_waiters_in_several_children_leave_in_the_order_they_came(
        fresh_apache):
    """The same, with the waiters spread over four Apache children: one
    line for all of them (lines kept per child raced each other on every
    freed worker)."""
    a = fresh_apache(SMALL_CHILDREN + CONF, ready=["/qa/", "/qb/"])
    assert_waiters_leave_in_order(a, 8, 9000)


def test_requests_waiting_at_the_balancer_cost_no_cpu(fresh_apache):
    """40 requests wait while both members run 4 s requests: they sleep
    until a worker frees (the first in line on the members' boards, the
    others until it leaves), so Apache's children use next to no CPU
    meanwhile.  Polling every 0.25 ms, as before, cost them about a fifth
    of a core here."""
    a = fresh_apache(CONF, ready=["/qa/", "/qb/"])
    held = [occupy(a, "/qa", 4000), occupy(a, "/qb", 4000)]
    time.sleep(0.3)
    waiters = [occupy(a, "/queued", 0) for _ in range(40)]
    time.sleep(0.7)                 # all queued at the balancer
    kids = [p for p in a.children() if procs.comm(p) == "apache2"]
    assert kids
    before, t0 = procs.cpu_seconds(kids), time.monotonic()
    time.sleep(2.0)                 # nobody frees a worker meanwhile
    used = (procs.cpu_seconds(kids) - before) / (time.monotonic() - t0)
    assert used < 0.05, "Apache used %.2f of a CPU while requests " \
        "waited" % used
    for t in held + waiters:
        t.join(60)
        assert t.out["status"] == 200


DORMANT = load_proxy() + """
PyWorkerDaemonProcess da threads=1 start=on-demand script={apps}/member.wsgi
PyWorkerDaemonProcess db threads=1 start=on-demand script={apps}/member.wsgi
PyWorkerDaemonProcess ia threads=1 idle-timeout=1 script={apps}/member.wsgi
PyWorkerDaemonProcess ib threads=1 idle-timeout=1 script={apps}/member.wsgi
<Proxy balancer://demand>
    BalancerMember pyworker://da
    BalancerMember pyworker://db
    ProxySet lbmethod=byfreeworkers timeout=10
</Proxy>
ProxyPass /demand balancer://demand/
<Proxy balancer://idle>
    BalancerMember pyworker://ia
    BalancerMember pyworker://ib
    ProxySet lbmethod=byfreeworkers timeout=10
</Proxy>
ProxyPass /idle balancer://idle/
"""


def test_a_group_without_daemons_is_started_not_waited_for(fresh_apache):
    """Groups started on demand, or stopped after idle-timeout, showed no
    worker at all: the request waited the whole timeout= (10 s) for one
    to come free, which only a request would start."""
    a = fresh_apache(DORMANT, wait_daemons=False)
    r, took = timed_get(a, "/demand/")
    assert r.status_code == 200 and took < 5, (r.status_code, took)
    for g in ("ia", "ib"):
        assert a.log.wait_for(r"PYW0052\b.*group=%s\b" % g, timeout=20)
    r, took = timed_get(a, "/idle/")
    assert r.status_code == 200 and took < 5, (r.status_code, took)


@pytest.mark.parametrize("mpm", ["event", "worker"])
def test_requests_waiting_at_the_balancer_do_not_hold_up_apaches_stop(
        fresh_apache, mpm):
    """Both members run 20 s requests; three requests wait at the
    balancer (timeout=30); then Apache stops (SIGTERM).  Each child that
    held a waiter slept on in the line until the balancer's timeout, and
    the parent SIGKILLed it after 10 s (AH00046, an error line; the stop
    took 9-10 s instead of 5).  A child told to stop now sends its
    waiters on (prefork's child dies of the SIGTERM itself)."""
    a = fresh_apache(CONF.replace("timeout=10", "timeout=30"),
                     ready=["/qa/", "/qb/"], mpm=mpm)
    held = [occupy(a, "/qa", 20000), occupy(a, "/qb", 20000)]
    time.sleep(0.3)
    waiters = [occupy(a, "/queued", 100) for _ in range(3)]
    time.sleep(0.7)                 # all three in the line
    t0 = time.monotonic()
    a.stop()
    took = time.monotonic() - t0
    for t in held + waiters:
        t.join(45)
    killed = [e for e in a.stop_errors if "AH00046" in e]
    assert not killed and took < 8, "stop took %.1f s; %s" % (took, killed)

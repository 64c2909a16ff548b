"""queue-limit=: a daemon group takes at most processes x threads +
queue-limit of Apache's threads.  Without it, a slow or flooded site
holds every thread Apache has while its requests wait for a worker, and
every other site on the host stops answering (measured here: a second
site's request timed out after 20 s behind 80 slow ones).  With it, the
requests beyond the limit get 503 and Retry-After at once, one log line
each, and the other sites keep answering."""
import concurrent.futures
import os
import signal
import time

import pytest
import requests

from prometheus_client.parser import text_string_to_metric_families

from pyworker_t import procs
from pyworker_t.proxy import load_proxy
from pyworker_t.status import status_json

# 50 Apache threads in all; slowg may hold 1 x 2 + 3 = 5 of them.
CONF = load_proxy() + """
StartServers 2
ServerLimit 2
ThreadsPerChild 25
MaxRequestWorkers 50
PyWorkerDaemonProcess slowg threads=2 queue-limit=3 queue-timeout=20 \\
    script={apps}/member.wsgi
PyWorkerDaemonProcess fastg threads=2
PyWorkerScriptAlias /slow {apps}/member.wsgi process-group=slowg
PyWorkerScriptAlias /fast {apps}/hello.wsgi process-group=fastg
ProxyPass /proxied pyworker://slowg/

# Two members of 1 x 1 + queue-limit 1: the balancer's requests may hold
# 2 x 2 of Apache's threads in the members, plus 2 waiting in its line.
PyWorkerDaemonProcess qa threads=1 queue-limit=1 script={apps}/member.wsgi
PyWorkerDaemonProcess qb threads=1 queue-limit=1 script={apps}/member.wsgi
<Proxy balancer://queued>
    BalancerMember pyworker://qa
    BalancerMember pyworker://qb
    ProxySet lbmethod=byfreeworkers timeout=30
</Proxy>
ProxyPass /queued balancer://queued/
<Proxy balancer://rr>
    BalancerMember pyworker://qa
    BalancerMember pyworker://qb
    ProxySet lbmethod=byrequests
</Proxy>
ProxyPass /rr balancer://rr/

# byfreeworkers over a member that is full (2 x 1 + 1 held) and one with
# a free worker but no limit, so it queues.
PyWorkerDaemonProcess qfull threads=2 queue-limit=1 script={apps}/member.wsgi
PyWorkerDaemonProcess qfree threads=1 script={apps}/member.wsgi
ProxyPass /qfull pyworker://qfull/
<Proxy balancer://fullfirst>
    BalancerMember pyworker://qfull
    BalancerMember pyworker://qfree
    ProxySet lbmethod=byfreeworkers
</Proxy>
ProxyPass /fullfirst balancer://fullfirst/
<Location /pyworker-status>
    SetHandler pyworker-status
</Location>
"""

CAP = 1 * 2 + 3


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/slow", "/fast", "/queued/", "/rr/",
                               "/qfull/", "/fullfirst/"])


def fetch(httpd, path, timeout=30):
    try:
        r = requests.get(httpd.url(path), timeout=timeout)
        return r.status_code, r.headers.get("Retry-After")
    except requests.RequestException as e:
        return type(e).__name__, None


def flood(httpd, path, n):
    """n concurrent requests of path, started at once: a pool of futures
    (the caller waits for them)."""
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=n)
    futs = [pool.submit(fetch, httpd, path) for _ in range(n)]
    pool.shutdown(wait=False)
    return futs




def test_a_flooded_group_leaves_apache_to_the_other_sites(httpd):
    httpd.log.expect(codes=[143])
    mark = httpd.log.mark()
    futs = flood(httpd, "/slow?ms=3000", 30)
    time.sleep(1.0)
    t0 = time.monotonic()
    for _ in range(5):
        assert fetch(httpd, "/fast", timeout=10)[0] == 200
    fast = time.monotonic() - t0
    results = [f.result(timeout=60) for f in futs]
    ok = [r for r in results if r[0] == 200]
    refused = [r for r in results if r[0] == 503]
    assert len(ok) + len(refused) == 30, results
    # Racing requests count themselves before they look, so a burst may
    # let in one or two fewer than the cap, never more.
    assert CAP - 2 <= len(ok) <= CAP, results
    assert all(ra == "20" for _, ra in refused), refused
    assert fast < 3.0, fast
    lines = httpd.log.wait_for(r"PYW0143\b", since=mark, count=len(refused))
    assert len(lines) == len(refused), httpd.log.text(mark)
    assert all("group=slowg" in l and "uri=/slow" in l
               and "queue-limit=3" in l for l in lines), lines


def test_within_the_limit_requests_wait_for_a_worker(httpd):
    """The cap is the workers plus queue-limit: that many at once all get
    their answer, the extra ones by waiting."""
    futs = flood(httpd, "/slow?ms=500", CAP - 1)
    results = [f.result(timeout=60) for f in futs]
    assert [r[0] for r in results] == [200] * (CAP - 1), results


def in_apache_metric(httpd):
    text = httpd.get("/pyworker-status?prometheus").text
    return {s.labels["group"]: s.value
            for fam in text_string_to_metric_families(text)
            if fam.name == "pyworker_requests_in_apache"
            for s in fam.samples}


def test_the_status_page_shows_what_apache_holds(httpd):
    idle = status_json(httpd)
    assert (idle["slowg"]["queue_limit"], idle["slowg"]["in_apache"]) \
        == (3, 0)
    assert (idle["fastg"]["queue_limit"], idle["fastg"]["in_apache"]) \
        == (None, None)
    futs = flood(httpd, "/slow?ms=2000", CAP - 1)
    time.sleep(1.0)
    assert status_json(httpd)["slowg"]["in_apache"] == CAP - 1
    metric = in_apache_metric(httpd)
    assert metric["slowg"] == CAP - 1 and "fastg" not in metric, metric
    page = httpd.get("/pyworker-status").text
    assert "Requests in Apache: %d of at most %d (1 x 2 workers + " \
        "queue-limit 3)" % (CAP - 1, CAP) in page
    assert page.count("Requests in Apache:") == 4     # not for fastg, qfree
    assert all(f.result(timeout=60)[0] == 200 for f in futs)
    assert status_json(httpd)["slowg"]["in_apache"] == 0


def test_through_mod_proxy_the_refusal_is_a_503(httpd):
    httpd.log.expect(codes=[143])
    mark = httpd.log.mark()
    futs = flood(httpd, "/slow?ms=2500", CAP)
    time.sleep(1.0)
    r = requests.get(httpd.url("/proxied/x"), timeout=10)
    assert r.status_code == 503 and r.headers.get("Retry-After") == "20"
    assert httpd.log.wait_for(r"PYW0143\b.*group=slowg.*uri=/proxied/x",
                              since=mark)
    assert all(f.result(timeout=60)[0] == 200 for f in futs)


def test_waiting_at_the_balancer_counts_against_the_members_limits(httpd):
    """byfreeworkers with timeout= keeps requests in its line until a
    worker is free; the line holds no more than the members may still
    take, so the balancer's requests stay within what the members'
    limits allow (here 2 x 2 in the members + 2 in the line), and the
    rest are answered 503 at once, not after the line's 30 s."""
    httpd.log.expect(codes=[143])
    t0 = time.monotonic()
    futs = flood(httpd, "/queued/?ms=1500", 20)
    results = [f.result(timeout=90) for f in futs]
    took = time.monotonic() - t0
    ok = [r for r in results if r[0] == 200]
    assert 2 <= len(ok) <= 6, results
    assert len(ok) + sum(1 for r in results if r[0] == 503) == 20, results
    # Those let in ran two at a time, 1.5 s each.
    assert took < 1.5 * 3 + 3, took
    # No member was put in error state (retry= 60 s): both serve again.
    groups = {fetch_json(httpd, "/rr/")["group"] for _ in range(4)}
    assert groups == {"qa", "qb"}, groups
    assert {fetch_json(httpd, "/queued/")["group"] for _ in range(6)} \
        <= {"qa", "qb"}


def test_a_full_member_is_not_put_in_error(httpd):
    """byrequests may send a request to a full member: it gets 503, and
    the member stays in (a member in error would be out for retry=)."""
    httpd.log.expect(codes=[143])
    futs = flood(httpd, "/rr/?ms=1500", 10)
    results = [f.result(timeout=60) for f in futs]
    assert any(r[0] == 503 for r in results), results
    assert any(r[0] == 200 for r in results), results
    groups = {fetch_json(httpd, "/rr/")["group"] for _ in range(4)}
    assert groups == {"qa", "qb"}, groups


def test_byfreeworkers_sends_nothing_to_a_full_member(httpd):
    """A full member scores below any queue: while qfull holds all its
    limit allows, the balancer's requests queue at qfree and all get 200,
    though qfull's board shows no more requests than qfree's (without
    that score, the second request went to qfull and got 503)."""
    held = flood(httpd, "/qfull/?ms=4000", 3)
    time.sleep(0.8)
    futs = []
    for _ in range(4):
        futs.append(flood(httpd, "/fullfirst/?ms=500", 1)[0])
        time.sleep(0.2)
    results = [f.result(timeout=60) for f in futs]
    assert results == [(200, None)] * 4, results
    assert [f.result(timeout=60)[0] for f in held] == [200] * 3


def fetch_json(httpd, path):
    r = requests.get(httpd.url(path), timeout=15)
    assert r.status_code == 200, (path, r.status_code, r.text[:200])
    return r.json()


def apache_children(httpd):
    """The MPM's children: Apache's program and the parent's title (the
    process manager's waker has a title of its own)."""
    title = procs.cmdline(httpd.pid)
    return [p for p in httpd.children()
            if (procs.exe(p) or "").endswith("/apache2")
            and procs.cmdline(p) == title]


def test_requests_of_a_killed_apache_child_are_forgotten(httpd):
    """An Apache child that dies holding requests gives nothing back; the
    parent hears of its exit and frees its count, else the group would
    stay refused."""
    httpd.log.expect(r"AH00052", codes=[143, (110, 119), (200, 399)])
    kids = apache_children(httpd)
    assert len(kids) == 2, kids
    starts = {pid: procs.stat(pid)[1] for pid in kids}
    futs = flood(httpd, "/slow?ms=1500", CAP)
    time.sleep(0.7)
    for pid in kids:
        os.kill(pid, signal.SIGKILL)
    assert not procs.wait_gone(starts, 10)
    [f.result(timeout=60) for f in futs]      # reset: the child is gone
    deadline = time.monotonic() + 10
    while len(apache_children(httpd)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    # The daemon still finishes what it ran; then the full cap is free.
    time.sleep(2.0)
    futs = flood(httpd, "/slow?ms=300", CAP)
    results = [f.result(timeout=60) for f in futs]
    assert [r[0] for r in results] == [200] * CAP, results


def test_a_full_restart_leaves_no_count_behind(httpd):
    """apachectl restart (SIGHUP) ends every child with requests in
    hand; the count is kept with the group's socket across the restart,
    so rows of children that are gone must not stay claimed."""
    httpd.log.expect(r"AH0004[0-9]|AH00052", codes=[143, (110, 119),
                                                    (200, 399), (30, 49)])
    futs = flood(httpd, "/slow?ms=1500", CAP)
    time.sleep(0.7)
    mark = httpd.log.mark()
    os.kill(httpd.pid, signal.SIGHUP)
    assert httpd.log.wait_for(r"resuming normal operations", since=mark,
                              timeout=30), httpd.log.text(mark)
    [f.result(timeout=60) for f in futs]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if fetch(httpd, "/fast", timeout=5)[0] == 200:
            break
        time.sleep(0.2)
    time.sleep(2.0)         # what the old daemons still ran is done
    futs = flood(httpd, "/slow?ms=300", CAP)
    results = [f.result(timeout=60) for f in futs]
    assert [r[0] for r in results] == [200] * CAP, results
    assert status_json(httpd)["slowg"]["in_apache"] == 0


def test_configtest_takes_the_option():
    from pyworker_t.httpd import configtest
    rc, out = configtest("PyWorkerDaemonProcess q queue-limit=0\n"
                         "PyWorkerDaemonProcess r queue-limit=1000000\n")
    assert rc == 0, out
    rc, out = configtest("PyWorkerDaemonProcess q queue-limit=-1\n")
    assert rc != 0 and "queue-limit" in out, out

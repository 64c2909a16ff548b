"""Health checks of pyworker:// balancer members with mod_proxy_hcheck's
own settings (hcmethod, hcuri, hcinterval, ProxyHCTemplate, balancer-
manager): mod_pyworker probes the group over its wire protocol, and the
member's HC_FAIL state (balancer-manager's "HcFl") takes it out of the
balancer and brings it back.  mod_proxy_hcheck itself, which would
connect to a host "h1" and take a healthy member out, stays off them."""
import collections
import os
import signal
import time

import pytest

from pyworker_t import procs
from pyworker_t.proxy import (PROXY_MODULES, load_proxy, manager_add,
                              manager_page, manager_set, member_row)

CONF = load_proxy(PROXY_MODULES + ("watchdog", "proxy_hcheck")) + """
PyWorkerDaemonProcess h1 threads=2 script={apps}/health.wsgi
PyWorkerDaemonProcess h2 threads=2 script={apps}/health.wsgi
PyWorkerDaemonProcess h3 threads=2 script={apps}/health.wsgi \\
    connect-timeout=3 display-name=pyw-hc-h3
PyWorkerDaemonProcess h4 threads=2 script={apps}/health.wsgi
PyWorkerDaemonProcess h5 threads=2 script={apps}/health.wsgi
# Probes are no requests for a daemon's lifecycle:
PyWorkerDaemonProcess h6 threads=2 script={apps}/health.wsgi \\
    start=on-demand idle-timeout=3
PyWorkerDaemonProcess h7 threads=2 script={apps}/health.wsgi \\
    maximum-requests=3 display-name=pyw-hc-h7
PyWorkerDaemonProcess h8 threads=2 script={apps}/health.wsgi

ProxyHCTemplate okhead hcmethod=HEAD hcuri=/ok hcinterval=2
ProxyHCExpr bodyok {hc('body') =~ /^ok/}
<IfModule mod_proxy_hcheck.c>
ProxyHCExpr teapot {%{REQUEST_STATUS} == 418 && resp('X-Health') == 'good'}
</IfModule>
# Sections that do not apply: the conditions in them do not count.
<IfDefine PYW_NOT_DEFINED>
ProxyHCExpr bodyok {%{REQUEST_STATUS} == 999}
</IfDefine>
<IfModule !proxy_hcheck_module>
ProxyHCExpr teapot {%{REQUEST_STATUS} == 999}
</IfModule>
<IfFile /nonexistent/pyw-test>
ProxyHCExpr bodyok {%{REQUEST_STATUS} == 998}
</IfFile>
<IfDirective NoSuchDirective>
ProxyHCExpr teapot {%{REQUEST_STATUS} == 998}
</IfDirective>
<IfSection NoSuchSection>
ProxyHCExpr bodyok {%{REQUEST_STATUS} == 997}
</IfSection>

<Proxy balancer://hc>
    BalancerMember pyworker://h1 hcmethod=GET hcuri=/ok hcinterval=2 \
        hcfails=2 hcpasses=2
    BalancerMember pyworker://h2 hcmethod=GET hcuri=/ok hcinterval=2
    ProxySet lbmethod=byrequests
</Proxy>
ProxyPass /hc balancer://hc/

<Proxy balancer://tcp>
    BalancerMember pyworker://h3 hcmethod=TCP hcinterval=2
    BalancerMember pyworker://h2
    ProxySet lbmethod=byrequests
</Proxy>
ProxyPass /tcp balancer://tcp/

<Proxy balancer://late>
    BalancerMember pyworker://h4/sub
    BalancerMember pyworker://h5 hctemplate=okhead
</Proxy>
ProxyPass /late balancer://late/

<Proxy balancer://lifecycle>
    BalancerMember pyworker://h6 hcmethod=GET hcuri=/ok hcinterval=2
    BalancerMember pyworker://h7 hcmethod=GET hcuri=/ok hcinterval=2
</Proxy>
ProxyPass /lifecycle balancer://lifecycle/

<Proxy balancer://expr>
    BalancerMember pyworker://h8 hcmethod=GET hcuri=/ok hcinterval=2 \\
        hcexpr=bodyok
    BalancerMember pyworker://h2 hcmethod=GET hcuri=/teapot hcinterval=2 \\
        hcexpr=teapot
</Proxy>
ProxyPass /expr balancer://expr/

<Location /balancer-manager>
    SetHandler balancer-manager
</Location>
ProxyPass /balancer-manager !
"""

AGENT = "mod_pyworker-health-check"
WAIT = 15                   # seconds: a few hcintervals of 2 s


ALWAYS_ON = ("h1", "h2", "h3", "h4", "h5", "h7", "h8")


@pytest.fixture(scope="module")
def httpd(apache):
    # h6 starts on demand: the harness would wait for its daemon.
    a = apache(CONF, ready=["/hc/", "/tcp/", "/late/"], wait_daemons=False)
    for g in ALWAYS_ON:
        assert a.wait_daemons(g), a.log.tail()
    return a


def probes(httpd, group):
    try:
        with open(httpd.path("state", "probes-" + group)) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def wait_probes(httpd, group, count, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while len(probes(httpd, group)) < count \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    return probes(httpd, group)


def status(httpd, balancer, member):
    row = member_row(manager_page(httpd, balancer), balancer, member)
    assert row is not None, member
    return row[5]


def groups_of(httpd, path, n):
    c = collections.Counter()
    for _ in range(n):
        r = httpd.get(path, timeout=10)
        assert r.status_code == 200, r.text
        c[r.json()["group"]] += 1
    return c


def set_sick(httpd, group, sick, flag="sick"):
    path = httpd.path("state", "%s-%s" % (flag, group))
    if sick:
        open(path, "w").close()
    elif os.path.exists(path):
        os.unlink(path)


def test_members_are_probed_over_the_wire_and_stay_in(httpd):
    mark = httpd.log.mark()
    for g in ("h1", "h2"):
        lines = wait_probes(httpd, g, 2)
        assert len(lines) >= 2, lines
        assert set(lines) == {"GET /ok " + AGENT}, lines
    assert "HcFl" not in status(httpd, "hc", "pyworker://h1")
    assert "HcFl" not in status(httpd, "hc", "pyworker://h2")
    assert groups_of(httpd, "/hc/", 20) == {"h1": 10, "h2": 10}
    # mod_proxy_hcheck never probed them itself (it would fail: AH03303).
    assert not httpd.log.find(r"AH0330[23]|AH03249|PYW0165", since=mark)


def test_failing_member_leaves_and_comes_back(httpd):
    httpd.log.expect(codes=[165])
    mark = httpd.log.mark()
    set_sick(httpd, "h1", True)
    try:
        out = httpd.log.wait_for(r"PYW0165.*group=h1", since=mark,
                                 timeout=WAIT)
        assert out, httpd.log.tail()
        assert "pyworker://h1 is out of the balancer" in out[0], out
        assert "GET /ok" in out[0] and "answered 503" in out[0], out
        assert "failed 2 time(s) in a row" in out[0], out
        assert "pid=" in out[0], out
        # hcfails=2: two failed probes, the second takes it out.
        failed = httpd.log.find(r"PYW0167: .*pyworker://h1 .*failed: "
                                r"answered 503", since=mark)
        assert len(failed) >= 2, failed
        assert "HcFl" in status(httpd, "hc", "pyworker://h1")
        assert groups_of(httpd, "/hc/", 20) == {"h2": 20}
    finally:
        set_sick(httpd, "h1", False)
    back = httpd.log.wait_for(r"PYW0166.*group=h1", since=mark,
                              timeout=WAIT)
    assert back and "back in the balancer" in back[0], httpd.log.tail()
    assert "passed 2 time(s) in a row" in back[0], back
    assert "HcFl" not in status(httpd, "hc", "pyworker://h1")
    assert groups_of(httpd, "/hc/", 20) == {"h1": 10, "h2": 10}


def test_tcp_check_takes_out_a_stopped_group(httpd):
    httpd.log.expect(codes=[165])
    pids = httpd.wait_daemons("h3")
    assert wait_probes(httpd, "h3", 0) == []      # TCP asks for no URL
    mark = httpd.log.mark()
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        for pid in pids:
            assert procs.wait_stopped(pid)
        out = httpd.log.wait_for(r"PYW0165.*group=h3", since=mark,
                                 timeout=WAIT)
        assert out and "(TCP" in out[0], httpd.log.tail()
        # Out of the balancer: nothing waits for h3's connect-timeout.
        for _ in range(10):
            t0 = time.monotonic()
            r = httpd.get("/tcp/", timeout=10)
            assert r.status_code == 200 and r.json()["group"] == "h2"
            assert time.monotonic() - t0 < 0.5
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    back = httpd.log.wait_for(r"PYW0166.*group=h3", since=mark,
                              timeout=WAIT)
    assert back, httpd.log.tail()
    c = groups_of(httpd, "/tcp/", 10)
    assert c["h3"] >= 3 and c["h2"] >= 3, c


def test_template_and_a_method_set_in_balancer_manager(httpd):
    mark = httpd.log.mark()
    # hctemplate=okhead: HEAD /ok.
    lines = wait_probes(httpd, "h5", 1)
    assert lines and set(lines) == {"HEAD /ok " + AGENT}, lines
    # h4 had no hcmethod; balancer-manager gives it one at run time.  The
    # member's path comes before hcuri, as for requests.
    assert probes(httpd, "h4") == []
    manager_set(httpd, "late", "pyworker://h4/sub", w_hm="GET",
                w_hu="ok", w_hi="2000")
    lines = wait_probes(httpd, "h4", 2)
    assert len(lines) >= 2 and set(lines) == {"GET /sub/ok " + AGENT}, lines
    time.sleep(5)                   # two hcintervals more
    assert "HcFl" not in status(httpd, "late", "pyworker://h4/sub")
    assert not httpd.log.find(r"AH0330[23]|AH03249|PYW0165", since=mark)


def test_probes_go_on_after_a_graceful_restart(httpd):
    mark = httpd.log.mark()
    before = len(probes(httpd, "h2"))
    httpd.graceful()
    lines = wait_probes(httpd, "h2", before + 2)
    assert len(lines) >= before + 2, lines
    assert groups_of(httpd, "/hc/", 10) == {"h1": 5, "h2": 5}
    assert not httpd.log.find(r"AH0330[23]|AH03249|PYW0165", since=mark)


def test_probes_are_no_requests_for_a_daemons_life(httpd):
    """A probe keeps no daemon from idle-timeout (h6, on demand, 3 s,
    probed every 2 s) and counts for no maximum-requests (h7, 3)."""
    h7 = httpd.wait_daemons("h7")
    before = len(probes(httpd, "h7"))
    mark = httpd.log.mark()
    r = httpd.get("/lifecycle/", timeout=30)      # byrequests: h6 first
    assert r.status_code == 200 and r.json()["group"] == "h6", r.text
    assert wait_probes(httpd, "h6", 1), httpd.log.tail()
    stop = httpd.log.wait_for(r"PYW0052.*\(group=h6", since=mark,
                              timeout=WAIT)
    assert stop, httpd.log.tail()
    assert len(wait_probes(httpd, "h7", before + 4)) >= before + 4
    assert httpd.wait_daemons("h7") == h7       # not recycled
    # Asleep, h6 is not probed (a probe would start it), nor out.
    assert not httpd.log.find(r"PYW0165", since=mark)


def test_hcexpr_decides_instead_of_the_status(httpd):
    """ProxyHCExpr conditions, mod_proxy_hcheck's own, on our probes'
    answers: hc('body') (h8: a 200 whose body says "degraded" fails) and
    %{REQUEST_STATUS} with resp() (h2's /teapot: a 418 passes).  Only
    those the server applied: CONF redefines both later in an <IfDefine>
    and an <IfModule> that are false."""
    httpd.log.expect(codes=[165])
    mark = httpd.log.mark()
    teapot = httpd.log.wait_for(r"PYW0167: .*pyworker://h2 "
                                r"\(GET /teapot\): passed, answered 418",
                                since=mark, timeout=WAIT)
    assert teapot, httpd.log.tail()
    set_sick(httpd, "h8", True, flag="degraded")
    try:
        out = httpd.log.wait_for(r"PYW0165.*group=h8", since=mark,
                                 timeout=WAIT)
        assert out and "hcexpr bodyok is false (answered 200)" in out[0], \
            httpd.log.tail()
        assert groups_of(httpd, "/expr/", 10) == {"h2": 10}
    finally:
        set_sick(httpd, "h8", False, flag="degraded")
    assert httpd.log.wait_for(r"PYW0166.*group=h8", since=mark,
                              timeout=WAIT), httpd.log.tail()
    assert not httpd.log.find(r"PYW0165.*group=h2", since=mark)


VHOST_CONF = load_proxy(PROXY_MODULES + ("watchdog", "proxy_hcheck")) + """
PyWorkerDaemonProcess v1 threads=1 script={apps}/health.wsgi
PyWorkerDaemonProcess v2 threads=1 script={apps}/health.wsgi
ProxyHCExpr chk {%{REQUEST_STATUS} == 200}
<Proxy balancer://main>
    BalancerMember pyworker://v2 hcmethod=GET hcuri=/ok hcinterval=2 \\
        hcexpr=chk
</Proxy>
<VirtualHost 127.0.0.1:{port}>
    ServerName 127.0.0.1
    ProxyHCExpr chk {%{REQUEST_STATUS} == 418}
    <Proxy balancer://vh>
        BalancerMember pyworker://v1 hcmethod=GET hcuri=/teapot \\
            hcinterval=2 hcexpr=chk
    </Proxy>
    ProxyPass /vh balancer://vh/
</VirtualHost>
"""


def test_hcexpr_of_a_virtual_host_is_its_own(fresh_apache):
    """A ProxyHCExpr in a <VirtualHost> is that host's, as in
    mod_proxy_hcheck: the same name means 418 for the virtual host's
    member and 200 for the main server's."""
    a = fresh_apache(VHOST_CONF)
    for member, probe, status in (("v1", "GET /teapot", 418),
                                  ("v2", "GET /ok", 200)):
        assert a.log.wait_for(r"PYW0167: .*pyworker://%s \(%s\): passed, "
                              r"answered %d" % (member, probe, status),
                              timeout=WAIT), a.log.tail()
    assert not a.log.find(r"PYW0165"), a.log.tail()


GROW_CONF = load_proxy(PROXY_MODULES + ("watchdog", "proxy_hcheck")) + """
PyWorkerDaemonProcess app1 threads=1 script={apps}/health.wsgi
PyWorkerDaemonProcess bare threads=1
<Proxy balancer://grow>
    BalancerMember pyworker://app1
    ProxySet growth=2 lbmethod=byrequests
</Proxy>
ProxyPass /grow balancer://grow/
<Location /balancer-manager>
    SetHandler balancer-manager
</Location>
ProxyPass /balancer-manager !
"""


def test_a_member_added_at_run_time_without_an_app_fails_its_checks(
        fresh_apache):
    """configtest refuses a pyworker:// member whose group has neither
    script= nor paste= (PYW0161); balancer-manager adds one at run time
    all the same.  Its HTTP health check fails, saying why, and takes
    it out; nothing else is disturbed."""
    a = fresh_apache(GROW_CONF)
    mark = a.log.mark()
    manager_add(a, "grow", "pyworker://bare")
    assert member_row(manager_page(a, "grow"), "grow", "pyworker://bare")
    manager_set(a, "grow", "pyworker://bare", w_hm="GET", w_hu="/ok",
                w_hi="2000")
    out = a.log.wait_for(r"PYW0165.*group=bare", since=mark, timeout=WAIT)
    assert out and "the group has no script= or paste= to ask" in out[0], \
        a.log.tail()
    assert "HcFl" in status(a, "grow", "pyworker://bare")
    assert groups_of(a, "/grow/", 6) == {"app1": 6}
    assert not a.log.find(r"AH00052|egmentation", since=mark), a.log.tail()


IDLE_CONF = load_proxy(PROXY_MODULES + ("watchdog", "proxy_hcheck")) + """
PyWorkerDaemonProcess sleepy threads=2 idle-timeout=1 \\
    script={apps}/health.wsgi display-name=%{GROUP}
PyWorkerDaemonProcess awake threads=2 script={apps}/health.wsgi \\
    display-name=%{GROUP}
<Proxy balancer://idle>
    BalancerMember pyworker://sleepy hcmethod=GET hcuri=/ok hcinterval=1
    BalancerMember pyworker://awake hcmethod=GET hcuri=/ok hcinterval=1
</Proxy>
ProxyPass /idle balancer://idle/
"""


def test_a_start_always_group_stopped_by_idle_timeout_is_not_probed(
        fresh_apache):
    """A group with no daemon running is not probed, for it may sleep:
    that held for start=on-demand only.  sleepy runs from Apache's start
    (start=always) with idle-timeout=1; once idle-timeout stopped it
    (PYW0052), the next probe's connection started it again (PYW0050),
    idle-timeout stopped it again, and so on: a full start of the
    application every hcinterval, for ever, with no visitor.  The probe
    now asks the same question as the balancer's choice of a member."""
    a = fresh_apache(IDLE_CONF, wait_daemons=False)
    assert a.log.wait_for(r"PYW0052: .*\(group=sleepy\)", timeout=WAIT), \
        a.log.tail()
    assert a.log.wait_for(r"PYW0032: .*group=sleepy\b", timeout=WAIT)
    mark = a.log.mark()
    time.sleep(5)
    again = a.log.find(r"PYW005[02]: .*group=sleepy\b", since=mark)
    assert again == [], "\n".join(again)
    assert a.daemon_pids("sleepy") == []
    # awake is probed meanwhile; a visitor still starts sleepy.
    assert a.log.find(r"PYW0167: .*pyworker://awake", since=mark)
    assert groups_of(a, "/idle/", 2) == {"sleepy": 1, "awake": 1}

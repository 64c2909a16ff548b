"""The application of a group that serves through mod_proxy
(`ProxyPass /x pyworker://GROUP/`, `BalancerMember pyworker://GROUP`):
script= names it, application-group= and callable-object= say where and
under which name it runs, for proxied requests and for health checks
alike (a probe in another interpreter would load a second copy of the
app, and pass or fail for it).  PyWorkerApplicationGroup and
PyWorkerCallableObject where a request matches win for that request.
"""
import os
import time

import pytest

from pyworker_t.httpd import configtest
from pyworker_t.proxy import PROXY_MODULES, load_proxy

WAIT = 15                   # seconds: a few hcintervals of 2 s

CONF = load_proxy(PROXY_MODULES + ("watchdog", "proxy_hcheck")) + """
PyWorkerDaemonProcess ag threads=2 python-path={apps}/lib \\
    script={apps}/appgroup.wsgi application-group=site-a
PyWorkerDaemonProcess cb threads=2 script={apps}/callable.wsgi \\
    callable-object=other
PyWorkerDaemonProcess rl threads=1 script={apps}/health.wsgi

ProxyHCExpr insitea {hc('body') =~ /"application_group": "site-a"/}
<Proxy balancer://ag>
    BalancerMember pyworker://ag hcmethod=GET hcuri=/probe hcinterval=2 \\
        hcexpr=insitea
</Proxy>
ProxyPass /ag balancer://ag/
<Proxy balancer://cb>
    BalancerMember pyworker://cb hcmethod=GET hcuri=/probe hcinterval=2
</Proxy>
ProxyPass /cb balancer://cb/
<Proxy balancer://rl>
    BalancerMember pyworker://rl hcmethod=GET hcuri=/ok hcinterval=2
</Proxy>
ProxyPass /rl balancer://rl/

ProxyPass /agloc pyworker://ag/
<Location /agloc>
    PyWorkerApplicationGroup site-b
</Location>
ProxyPass /cbloc pyworker://cb/
<Location /cbloc>
    PyWorkerCallableObject app
</Location>
"""


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/ag/", "/cb/"])


def test_proxied_requests_run_in_the_groups_application_group(httpd):
    r = httpd.get("/ag/")
    assert r.status_code == 200, r.text
    assert r.json()["application_group"] == "site-a"


def test_the_requests_own_application_group_wins(httpd):
    r = httpd.get("/agloc/")
    assert r.status_code == 200, r.text
    assert r.json()["application_group"] == "site-b"
    assert r.json()["interpreter"] != httpd.get("/ag/").json()["interpreter"]


def test_callable_object_names_the_groups_callable(httpd):
    r = httpd.get("/cb/")
    assert r.status_code == 200, r.text
    assert r.json() == {"who": "other", "callable_object": "other"}
    r = httpd.get("/cbloc/")
    assert r.status_code == 200, r.text
    assert r.json()["who"] == "app"


def test_health_checks_run_where_the_groups_requests_run(httpd):
    """ag's probe passes only in site-a (its hcexpr reads the body), and
    cb's only with the callable `other` (callable.wsgi has no
    `application`: a 500)."""
    mark = httpd.log.mark()
    for member in ("ag", "cb"):
        assert httpd.log.wait_for(r"PYW0167: .*pyworker://%s \(GET /probe\): "
                                  r"passed, answered 200" % member,
                                  since=mark, timeout=WAIT), httpd.log.tail()
    assert not httpd.log.find(r"PYW0165"), httpd.log.tail()


def test_a_changed_script_is_noticed_by_requests_not_by_probes(httpd):
    """A probe is no visitor: with PyWorkerScriptReloading On (the
    default) a changed script asks for a rolling restart (PYW0333) when
    a request comes, as without health checks, never from a probe."""
    assert httpd.get("/rl/").status_code == 200     # the script loaded
    mark = httpd.log.mark()
    path = httpd.path("apps", "health.wsgi")
    st = os.stat(path)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10 ** 9))
    probe = r"PYW0167: .*pyworker://rl \(GET /ok\): passed"
    deadline = time.monotonic() + WAIT
    while len(httpd.log.find(probe, since=mark)) < 3 \
            and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(httpd.log.find(probe, since=mark)) >= 3, httpd.log.tail()
    assert not httpd.log.find(r"PYW0333", since=mark), httpd.log.tail()
    assert httpd.get("/rl/").status_code == 200
    assert httpd.log.wait_for(r"PYW0333.*\(group=rl ", since=mark,
                              timeout=WAIT), httpd.log.tail()


@pytest.mark.parametrize("conf, words", [
    ("PyWorkerDaemonProcess x script={apps}/hello.wsgi "
     "application-group=%{SERVER}", "use %{GLOBAL} or a name"),
    ("PyWorkerDaemonProcess x script={apps}/hello.wsgi "
     "application-group=%{RESOURCE}", "use %{GLOBAL} or a name"),
    ("PyWorkerDaemonProcess x application-group=site",
     "the group has neither"),
    ("PyWorkerDaemonProcess x callable-object=app", "the group has neither"),
    ("PyWorkerDaemonProcess x paste={apps}/paste/minimal.ini "
     "callable-object=app", "callable-object= is for script="),
])
def test_configtest_refuses_what_cannot_work(conf, words):
    rc, out = configtest(conf)
    assert rc != 0 and words in out, out

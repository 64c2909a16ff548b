"""The talk's scenario (issue 14, part 7): two ZEO clients of one Plone
site as two daemon groups behind Apache's balancer
(t/plone_t/balance.py writes the configuration):

    PyWorkerDaemonProcess zeo1 processes=1 threads=2 script=<inst>/zope.wsgi
    PyWorkerDaemonProcess zeo2 processes=1 threads=2 script=<inst>/zope.wsgi
    <Proxy balancer://byfreeworkers>
        BalancerMember pyworker://zeo1
        BalancerMember pyworker://zeo2
        ProxySet lbmethod=byfreeworkers
    </Proxy>
    ProxyPass /byfreeworkers balancer://byfreeworkers/

The only skip: the Plone virtualenv cannot be built on this machine."""
import os
import re
import time

import pytest
import requests

from plone_t import SITE_ID, BuildError, PloneWorld, build_env
from plone_t import balance
from pyworker_t.load import Load

READY_TIMEOUT = 240


@pytest.fixture(scope="module")
def world():
    try:
        venv, _ = build_env()
    except BuildError as e:
        if e.missing:
            pytest.skip("the Plone virtualenv cannot be built on this "
                        "machine: %s" % e)
        raise
    w = PloneWorld(venv, [("one", "Plone Site One", "pywtest1")])
    try:
        w.create()
    except Exception:
        w.stop()
        raise
    yield w
    w.stop(keep=os.environ.get("PYW_KEEP") == "1")


def wait_ready(a, paths, timeout=READY_TIMEOUT):
    deadline = time.monotonic() + timeout
    for path in paths:
        while True:
            try:
                if a.get(path, timeout=60).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or a.proc.poll() is not None:
                raise RuntimeError("%s not ready:\n%s" % (path,
                                                          a.log.tail(40)))
            time.sleep(0.5)


@pytest.fixture(scope="module")
def httpd(world, apache):
    a = apache(balance.snippet(world, processes=1, single=False,
                               health=True),
               wait_daemons=False)
    wait_ready(a, ["/byfreeworkers/" + SITE_ID])
    return a


def test_both_zeo_clients_serve_the_site_through_the_balancer(httpd):
    mark = httpd.log.mark()
    res = Load(httpd.port, "/byfreeworkers/" + SITE_ID, total=40,
               concurrency=4, timeout=60, keep_body=True).run()
    assert res.ok == 40, res
    # Links carry the ProxyPass prefix: SCRIPT_NAME is /byfreeworkers.
    body = res.records[-1].body.decode("utf-8", "replace")
    assert "/byfreeworkers/%s" % SITE_ID in body
    served = set(re.findall(r"PYW0163\b.*\(group=(zeo\d) ",
                            "\n".join(httpd.log.lines(mark))))
    assert served == {"zeo1", "zeo2"}, served


def test_health_checks_of_the_zeo_clients_ask_plone_ok(httpd):
    """hcmethod=GET hcuri=/Plone/@@ok on both members: the probes reach
    Zope (Plone's own @@ok view) and pass; no member leaves."""
    passed = httpd.log.wait_for(r"PYW0167: .*@@ok\): passed, answered 200",
                                timeout=20, count=4)
    groups = set(re.findall(r"\(group=(zeo\d) ", "\n".join(passed)))
    assert groups == {"zeo1", "zeo2"}, passed
    assert not httpd.log.find(r"PYW0165|AH0330[23]")
    res = Load(httpd.port, "/checked/" + SITE_ID, total=10, concurrency=2,
               timeout=60).run()
    assert res.ok == 10, res

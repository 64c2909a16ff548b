"""mod_cache in front of a group: a whole response is kept and served
from the cache; one that broke after it started (the application raised,
the daemon died) is not kept, as mod_proxy keeps no broken backend's.
(Before, mod_cache_disk stored the part sent and served it afterwards as
a complete 200.  Found by a hunt for bugs.)"""
import os
import time

import pytest

from pyworker_t import codes, rawhttp
from pyworker_t.httpd import MODDIR

CONF = """
LoadModule cache_module %(m)s/mod_cache.so
LoadModule cache_disk_module %(m)s/mod_cache_disk.so
CacheRoot {state}/cache
CacheEnable disk /c
PyWorkerDaemonProcess cached threads=2 display-name=pyw-cached
PyWorkerScriptAlias /c {apps}/cacheable.wsgi process-group=cached
""" % {"m": MODDIR}


@pytest.fixture(scope="module")
def httpd(apache):
    a = apache(CONF, ready=["/c?n=warm"])
    os.makedirs(a.path("state", "cache"), exist_ok=True)
    os.chmod(a.path("state", "cache"), 0o777)
    return a


def get(httpd, path):
    with rawhttp.Conn(httpd.port, timeout=20) as c:
        return c.request("GET", path)


def test_a_whole_response_is_served_from_the_cache(httpd):
    first = get(httpd, "/c?how=ok&n=whole")
    assert first.complete and first.header("X-Runs") == "1"
    time.sleep(0.5)
    again = get(httpd, "/c?how=ok&n=whole")
    assert again.header("X-Runs") == "1" and again.header("Age") is not None
    assert again.body == b"first part\nsecond part\n"


@pytest.mark.parametrize("how", ["raise", "exit"])
def test_a_response_that_broke_is_not_kept(httpd, how):
    httpd.log.expect(r"\bgroup=cached\b",
                     codes=[codes.APP_ABORTED, codes.DAEMON_DIED])
    path = "/c?how=%s&n=broken-%s" % (how, how)
    mark = httpd.log.mark()
    first = get(httpd, path)
    assert first.status == 200 and not first.complete, first
    time.sleep(1.0)
    again = get(httpd, path)
    assert again.header("X-Runs") == "2", (
        "the broken response came from the cache: %r %r" % (again.headers,
                                                             again.body))
    if how == "exit":
        # The second run kills its daemon too: its line before the end.
        assert len(httpd.log.wait_for(r"\bPYW0022\b.*group=cached\b",
                                      since=mark, count=2)) == 2


def test_a_head_cut_short_is_not_kept(httpd):
    """mod_cache's CACHE_SAVE makes a HEAD reach the application as GET
    (PyWorkerMapHEADToGET Auto), and a HEAD ends with its headers, without
    the rest of the body: what mod_cache saw of it is not the entity and
    must not be served to a later GET as if whole.  mod_pyworker sets
    r->no_cache for it, as for a broken response (mod_cache_disk keeps no
    entity from a HEAD anyway; another provider may)."""
    with rawhttp.Conn(httpd.port, timeout=20) as c:
        head = c.request("HEAD", "/c?how=ok&n=head-cut")
    assert head.status == 200 and head.body == b""
    assert head.header("X-Runs") == "1"
    time.sleep(0.5)
    again = get(httpd, "/c?how=ok&n=head-cut")
    assert again.complete and again.body == b"first part\nsecond part\n", \
        (again.headers, again.body)

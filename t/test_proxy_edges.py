"""pyworker:// through mod_proxy at its edges: a plain reverse proxy to
another backend must never lead into a group, a rewrite to a group never
becomes an HTTP request to this server (whatever the client wrote),
paths with %3F, %2F and mapping=encoded reach the application as under
PyWorkerScriptAlias, mod_proxy's timeouts hold for requests as they do
for health checks, and configtest refuses URLs that could only fail or
reach the wrong group.  (Found by hunts for bugs; each test failed on the
build before its fix.)"""
import json
import threading
import time

import pytest
import requests

from pyworker_t import rawhttp
from pyworker_t.httpd import configtest
from pyworker_t.proxy import load_proxy

REWRITE = """
<IfModule !rewrite_module>
    LoadModule rewrite_module /usr/lib/apache2/modules/mod_rewrite.so
</IfModule>
<IfModule !authz_host_module>
    LoadModule authz_host_module /usr/lib/apache2/modules/mod_authz_host.so
</IfModule>
"""

CONF = load_proxy() + REWRITE + """
AllowEncodedSlashes NoDecode
PyWorkerDaemonProcess admin threads=2 script={apps}/member.wsgi
PyWorkerDaemonProcess pub threads=2 script={apps}/member.wsgi
PyWorkerDaemonProcess slow threads=2 script={apps}/member.wsgi

# A group guarded by its URL and by mod_proxy's own section.
ProxyPass /admin pyworker://admin/
<Location /admin>
    Require ip 10.0.0.0/8
</Location>
<Proxy "pyworker://admin*">
    Require ip 10.0.0.0/8
</Proxy>
ProxyPass /pub pyworker://pub/
ProxyPass /nc pyworker://pub/ nocanon
ProxyPass /enc pyworker://pub/ mapping=encoded
PyWorkerScriptAlias /alias {apps}/member.wsgi process-group=pub

# Reverse proxies to another backend: nocanon (as Jenkins asks), and a
# rewrite that keeps the query as it is.
ProxyPass /jenkins http://backend.invalid:8080/jenkins nocanon
RewriteEngine On
RewriteRule ^/api/(.*)$ http://backend.invalid:8080/api/$1 [P,NE]
RewriteRule ^/rwd/(.*)$ pyworker://pub/$1 [P,L]

ProxyPass /member-timeout pyworker://slow/ timeout=1
<Proxy balancer://slowb>
    BalancerMember pyworker://slow timeout=1
</Proxy>
ProxyPass /balancer-timeout balancer://slowb/

# A 200 with a local Location passes through mod_proxy as it is.
PyWorkerDaemonProcess resp threads=1 script={apps}/respond.wsgi
ProxyPass /resp pyworker://resp/
"""


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/pub/"])


def raw_get(port, target, host="127.0.0.1"):
    """Status and body of one request sent as written (requests would
    normalise the target)."""
    r = rawhttp.request(port, "GET", target, [("Host", host)], timeout=15)
    return r.status, r.body


def paths(httpd, target):
    status, body = raw_get(httpd.port, target)
    assert status == 200, body[:300]
    j = json.loads(body)
    return j["group"], j["script_name"], j["path_info"], j["query"]


def hops(httpd):
    """Requests this Apache sent to itself with a pyworker:// URL in the
    path (the access log's request line)."""
    with open(httpd.access_log) as f:
        return [line for line in f if '"GET /pyworker:' in line]


# -- a reverse proxy to another backend is no way into a group -------------
@pytest.mark.parametrize("target", [
    "/jenkins/pyworker://admin/secret",          # the path, nocanon
    "/jenkins/pyworker%3A//admin/secret",
    "/api/x?q=/pyworker://admin/secret",         # the query, [NE]
])
def test_a_proxy_to_another_backend_never_reaches_a_group(httpd, target):
    """With "Host: backend.invalid:8080", Apache's own name for itself
    (UseCanonicalName Off) is the backend's, so the URL mod_proxy made,
    http://backend.invalid:8080/jenkins/pyworker://admin/secret, looked
    like a RewriteRule [P] to pyworker://admin: the admin group answered,
    past both guards.  It must go to the backend, which does not
    resolve, or be refused (403, PYW0170: the client wrote "pyworker:"
    into the path of a URL of "this server", which is never left to
    mod_proxy_http either, see below)."""
    httpd.log.expect(r"AH00898|AH01114|AH00959|AH01630|AH00957",
                     codes=[170])
    status, body = raw_get(httpd.port, target, "backend.invalid:8080")
    assert b'"group"' not in body, body[:300]
    assert status in (403, 500, 502, 503), (status, body[:300])


def test_the_guards_and_a_real_rewrite_still_work(httpd):
    httpd.log.expect(r"AH01630")
    assert raw_get(httpd.port, "/admin/secret")[0] == 403
    assert paths(httpd, "/rwd/x?y=1") == ("pub", "/rwd", "/x", "y=1")


@pytest.mark.parametrize("query", ["next=pyworker://admin/secret",
                                   "q=pyworker%3A"])
def test_a_rewrite_to_a_group_holds_whatever_the_query_says(httpd, query):
    """RewriteRule ^/rwd/(.*)$ pyworker://pub/$1 [P]: mod_pyworker took
    the rewritten URL back only if the client had not written "pyworker:"
    anywhere in its request line, query string included.  A visitor's
    search for "pyworker:" (or a return-to URL holding one) then went to
    mod_proxy_http as http://thisserver/pyworker://pub/x, an HTTP request
    from Apache to itself, answered 404.  Only the path is looked at now:
    mod_proxy keeps the query after the '?', where no group is taken
    from."""
    before = len(hops(httpd))
    assert paths(httpd, "/rwd/x?" + query) == ("pub", "/rwd", "/x", query)
    assert hops(httpd)[before:] == []


# -- a whole-site rewrite ---------------------------------------------------
WHOLE_SITE = load_proxy() + REWRITE + """
%s
ProxyTimeout 8
PyWorkerDaemonProcess site threads=2 script={apps}/member.wsgi
RewriteEngine On
RewriteRule ^/(.*)$ pyworker://site/$1 [P,L]
"""

# What mod_proxy_http logs when a request loops through this server.
LOOP_LINES = (r"AH01102|AH00898|AH01097|AH00957|AH01114|AH00484|AH01110|"
              r"AH10159|AH00959|AH01084")


def test_a_whole_site_rewrite_does_not_proxy_to_itself(fresh_apache):
    """The usual whole-site rule (Plone's VirtualHostBase rule has this
    shape), RewriteRule ^/(.*)$ pyworker://site/$1 [P]: a request whose
    query held "pyworker:" was proxied over HTTP to this same Apache,
    where the rule matched again, and again, each hop holding an Apache
    thread until LimitRequestLine (here 600 bytes) ended it with 414."""
    a = fresh_apache(WHOLE_SITE % "LimitRequestLine 600", ready=["/"])
    a.log.expect(LOOP_LINES)
    r = rawhttp.request(a.port, "GET", "/page?q=pyworker:",
                        [("Host", "127.0.0.1:%d" % a.port)], timeout=30)
    assert (r.status, len(hops(a))) == (200, 0), (r.status, r.body[:200])
    j = json.loads(r.body)
    assert (j["group"], j["path_info"], j["query"]) == \
        ("site", "/page", "q=pyworker:")


def test_one_request_with_pyworker_in_its_query_leaves_the_site_up(
        fresh_apache):
    """The same loop at the default LimitRequestLine (8190): the chain of
    requests Apache made to itself was longer than MaxRequestWorkers, so
    one request took every worker thread (AH00484) and the site answered
    nobody until the hops timed out."""
    a = fresh_apache(WHOLE_SITE % "Timeout 8", ready=["/"])
    a.log.expect(LOOP_LINES)
    hostile = threading.Thread(target=lambda: rawhttp.request(
        a.port, "GET", "/?q=pyworker:", [("Host", "127.0.0.1:%d" % a.port)],
        timeout=20), daemon=True)
    hostile.start()
    failures = []
    for _ in range(6):
        time.sleep(0.5)
        try:
            r = requests.get(a.url("/ok"), timeout=2)
            if r.status_code != 200:
                failures.append(r.status_code)
        except requests.RequestException as e:
            failures.append(type(e).__name__)
    hostile.join(25)
    assert failures == [] and not a.log.find(r"AH00484"), failures
    assert hops(a) == []


def test_a_path_with_pyworker_in_it_is_refused_not_proxied(fresh_apache):
    """Under the same rule, "pyworker:" in the client's path (where a
    proxy to another backend could carry a group's URL in) makes the
    rewritten URL one mod_pyworker does not take back.  It was left to
    mod_proxy_http, which sent it to this server, where the rule matched
    again: the same loop.  It is refused instead (403, PYW0170), and
    nothing goes over HTTP."""
    a = fresh_apache(WHOLE_SITE % "LimitRequestLine 600", ready=["/"])
    a.log.expect(LOOP_LINES, codes=[170])
    mark = a.log.mark()
    for target in ("/wiki/pyworker:x", "/a/pyworker%3A//site/b"):
        r = rawhttp.request(a.port, "GET", target,
                            [("Host", "127.0.0.1:%d" % a.port)], timeout=30)
        assert r.status == 403, (target, r.status, r.body[:200])
    assert hops(a) == []
    assert a.log.wait_for(r"PYW0170\b.*uri=/a/pyworker(:|%3A)", since=mark)


# -- paths ------------------------------------------------------------------
def test_an_encoded_question_mark_stays_in_the_path(httpd):
    """It was taken for the start of the query: PATH_INFO /a and no
    SCRIPT_NAME."""
    assert paths(httpd, "/alias/a%3Fb/c?x=1") == ("pub", "/alias", "/a?b/c",
                                                  "x=1")
    assert paths(httpd, "/pub/a%3Fb/c?x=1") == ("pub", "/pub", "/a?b/c",
                                                "x=1")


def test_mapping_encoded_gives_the_same_path_info_as_the_alias(httpd):
    """ProxyPass ... mapping=encoded (httpd 2.4.59+) maps the request
    before Apache decodes its path, hands the scheme that path escaped
    and says so with the "proxy-noencode" note, which mod_proxy_http,
    _fcgi and _uwsgi honour.  pyw_proxy_canon escaped it again, so the
    application saw "%20" and "%3F" in PATH_INFO."""
    want = paths(httpd, "/alias/a%2Fb/c%20d%3Fe?q=%2F")
    assert want == ("pub", "/alias", "/a%2Fb/c d?e", "q=%2F")
    got = paths(httpd, "/enc/a%2Fb/c%20d%3Fe?q=%2F")
    assert got == ("pub", "/enc", "/a%2Fb/c d?e", "q=%2F")


def test_an_encoded_slash_stays_with_nodecode_and_nocanon(httpd):
    """AllowEncodedSlashes NoDecode with nocanon (GitLab's and Jenkins'
    set-ups): %2F was decoded, and SCRIPT_NAME lost."""
    assert paths(httpd, "/alias/a%2Fb") == ("pub", "/alias", "/a%2Fb", "")
    assert paths(httpd, "/pub/a%2Fb") == ("pub", "/pub", "/a%2Fb", "")
    assert paths(httpd, "/nc/a%2Fb") == ("pub", "/nc", "/a%2Fb", "")


# -- timeouts ---------------------------------------------------------------
@pytest.mark.parametrize("path, setting", [
    ("/member-timeout/", "the member's timeout="),
    ("/balancer-timeout/", "the member's timeout=")])
def test_a_members_timeout_holds_for_requests(httpd, path, setting):
    """It held for health checks only: the request waited 3 s for 200."""
    httpd.log.expect(r"\bgroup=slow\b")
    mark = httpd.log.mark()
    t0 = time.monotonic()
    r = requests.get(httpd.url(path + "?ms=3000"), timeout=30)
    took = time.monotonic() - t0
    assert (r.status_code, took < 2.5) == (504, True), (r.status_code, took)
    assert httpd.log.wait_for(r"did not answer within %s of 1 s"
                              % setting, since=mark)
    # The application, left to run, finds Apache gone (its line, here).
    assert httpd.log.wait_for(r"PYW0320: .*uri=%s" % path, since=mark)


def test_proxy_timeout_holds_for_requests(fresh_apache):
    a = fresh_apache(load_proxy() + """
PyWorkerDaemonProcess slow threads=2 script={apps}/member.wsgi
ProxyTimeout 1
ProxyPass /slow pyworker://slow/
""", ready=["/slow/"])
    a.log.expect(r"\bgroup=slow\b")
    t0 = time.monotonic()
    r = requests.get(a.url("/slow/?ms=3000"), timeout=30)
    took = time.monotonic() - t0
    assert (r.status_code, took < 2.5) == (504, True), (r.status_code, took)
    assert a.log.wait_for(r"did not answer within ProxyTimeout of 1 s")
    assert a.log.wait_for(r"PYW0320: .*uri=/slow/")


# -- configtest -------------------------------------------------------------
VHOSTS = """
<VirtualHost 127.0.0.1:{port}>
    ServerName a.test
    PyWorkerDaemonProcess agroup threads=1 script={apps}/member.wsgi
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName b.test
    %s
</VirtualHost>
"""


@pytest.mark.parametrize("line", [
    "ProxyPass /x pyworker://agroup/",
    "<Proxy balancer://b>\n BalancerMember pyworker://agroup\n</Proxy>\n"
    "ProxyPass /x balancer://b/"], ids=["proxypass", "member"])
def test_configtest_refuses_another_vhosts_group(line):
    """Every request would fail (503, PYW0102); a PyWorkerScriptAlias to
    it was refused already (PYW0003)."""
    rc, out = configtest(load_proxy() + VHOSTS % line)
    assert rc != 0 and "PYW0003" in out and "another virtual host" in out, \
        out


def test_configtest_takes_a_main_server_route_to_a_vhosts_group():
    """The main server's ProxyPass serves every vhost, also the one the
    group belongs to: not refused."""
    rc, out = configtest(load_proxy() + """
<VirtualHost 127.0.0.1:{port}>
    ServerName a.test
    PyWorkerDaemonProcess agroup threads=1 script={apps}/member.wsgi
</VirtualHost>
ProxyPass /x pyworker://agroup/
""")
    assert rc == 0, out


@pytest.mark.parametrize("line", [
    "ProxyPass /port pyworker://pub:8080/",
    "<Proxy balancer://b>\n BalancerMember pyworker://pub:8080\n</Proxy>\n"
    "ProxyPass /x balancer://b/"], ids=["proxypass", "member"])
def test_configtest_refuses_a_port_in_a_pyworker_url(line):
    """pyworker://pub:8080/ (a port out of habit): configtest took it (it
    checks the host mod_proxy parsed, pub), and every request then failed
    with 503, PYW0160 "pyworker://pub:8080 names no PyWorkerDaemonProcess"
    (the handler takes all before the first '/' as the group)."""
    rc, out = configtest(load_proxy() + """
PyWorkerDaemonProcess pub threads=1 script={apps}/member.wsgi
""" + line)
    assert rc != 0 and "PYW0169" in out and "pyworker://pub:8080" in out, \
        out


def test_configtest_refuses_group_names_that_differ_only_in_case():
    """mod_proxy lower-cases a pyworker:// URL's host: BalancerMember
    pyworker://Shop reached group shop, another tenant's."""
    rc, out = configtest("PyWorkerDaemonProcess Shop threads=1\n"
                         "PyWorkerDaemonProcess shop threads=1\n")
    assert rc != 0 and "differ in more than case" in out, out


def test_a_200_with_a_local_location_through_mod_proxy_is_passed_on(httpd):
    """Under PyWorkerScriptAlias a 200 with `Location: /path` is an
    internal redirect (CGI's local redirect, as in mod_wsgi); mod_proxy's
    backends (fcgi://, uwsgi://) never do that, and neither does
    pyworker://: the application's response goes out as it is."""
    r = rawhttp.request(httpd.port, "GET",
                        "/resp/?h=Location:/pub/x&body=own+body", timeout=15)
    assert (r.status, r.body) == (200, b"own body")
    assert r.header("Location") == "/pub/x"

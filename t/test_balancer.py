"""mod_proxy's pyworker://GROUP/ scheme and Apache's balancer over daemon
groups (issue 14, parts 1 and 2): requests reach the group's script= /
paste= application over mod_pyworker's own connections, SCRIPT_NAME is
the ProxyPass prefix, and mod_proxy_balancer's methods, stickiness, hot
standby and balancer-manager work unchanged on pyworker:// members."""
import collections
import json
import os
import shutil
import tempfile
import time

import hashlib
import re

import pytest
import requests

from pyworker_t import load, rawhttp
from pyworker_t.httpd import configtest
from pyworker_t.proxy import (load_proxy, manager_add, manager_page,
                              manager_set, member_row)

CONF = load_proxy() + """
PyWorkerDaemonProcess m1 threads=4 script={apps}/member.wsgi
PyWorkerDaemonProcess m2 threads=4 script={apps}/member.wsgi
PyWorkerDaemonProcess m3 threads=2 script={apps}/member.wsgi
PyWorkerDaemonProcess pm threads=2 paste={apps}/paste/minimal.ini \
    python-path={apps}/paste
PyWorkerDaemonProcess rt threads=2 script={apps}/member.wsgi \
    request-timeout=1
PyWorkerDaemonProcess crashy threads=2 script={apps}/crash.wsgi
PyWorkerDaemonProcess files threads=2 script={apps}/fdfile.wsgi
PyWorkerDaemonProcess recycled processes=2 threads=2 maximum-requests=7 \
    script={apps}/member.wsgi

ProxyPass /direct pyworker://m1/
ProxyPass /slash/ pyworker://m2/
ProxyPass /pasted pyworker://pm/

<Proxy balancer://rr>
    BalancerMember pyworker://m1
    BalancerMember pyworker://m2
    ProxySet lbmethod=byrequests
</Proxy>
ProxyPass /rr balancer://rr/

<Proxy balancer://weighted>
    BalancerMember pyworker://m1 loadfactor=3
    BalancerMember pyworker://m2 loadfactor=1
    ProxySet lbmethod=byrequests
</Proxy>
ProxyPass /weighted balancer://weighted/

<Proxy balancer://busy>
    BalancerMember pyworker://m1
    BalancerMember pyworker://m2
    ProxySet lbmethod=bybusyness
</Proxy>
ProxyPass /busy balancer://busy/

<Proxy balancer://traffic>
    BalancerMember pyworker://m1
    BalancerMember pyworker://m2
    ProxySet lbmethod=bytraffic
</Proxy>
ProxyPass /traffic balancer://traffic/

<Proxy balancer://upload>
    BalancerMember pyworker://m1
    BalancerMember pyworker://m2
    ProxySet lbmethod=bytraffic
</Proxy>
ProxyPass /upload balancer://upload/

<Proxy balancer://free>
    BalancerMember pyworker://m1
    BalancerMember pyworker://m2
    ProxySet lbmethod=byfreeworkers
</Proxy>
ProxyPass /free balancer://free/

<Proxy balancer://sticky>
    BalancerMember pyworker://m1 route=one
    BalancerMember pyworker://m2 route=two
    ProxySet stickysession=ROUTEID
</Proxy>
ProxyPass /sticky balancer://sticky/
<Location /sticky>
    Header add Set-Cookie "ROUTEID=.%{BALANCER_WORKER_ROUTE}e; path=/sticky" env=BALANCER_ROUTE_CHANGED
</Location>

<Proxy balancer://hot>
    BalancerMember pyworker://m1
    BalancerMember pyworker://m3 status=+H
</Proxy>
ProxyPass /hot balancer://hot/

<Proxy balancer://managed>
    BalancerMember pyworker://m1
    BalancerMember pyworker://m2
</Proxy>
ProxyPass /managed balancer://managed/

ProxyPass /rt pyworker://rt/
ProxyPass /crashy pyworker://crashy/
ProxyPass /files pyworker://files/
<Proxy balancer://recycled>
    BalancerMember pyworker://recycled
    BalancerMember pyworker://m1
</Proxy>
ProxyPass /recycled balancer://recycled/

<IfModule !rewrite_module>
    LoadModule rewrite_module /usr/lib/apache2/modules/mod_rewrite.so
</IfModule>
RewriteEngine On
RewriteRule ^/rw/(.*)$ balancer://rr/inner/$1 [P,L]
RewriteRule ^/rwd/(.*)$ pyworker://m1/inner/$1 [P,L]
RewriteRule ^/vhm/(.*)$ pyworker://m2/VirtualHostBase/http/www.example.com:80/Plone/VirtualHostRoot/$1 [P,L]
RewriteRule ^/rwnone/(.*)$ pyworker://nosuch/$1 [P,L]
RewriteRule ^/rwrt/(.*)$ pyworker://rt/$1 [P,L]
<Directory "{htdocs}">
    RewriteEngine On
    RewriteRule ^indir/(.*)$ pyworker://m2/fromdir/$1 [P,L]
</Directory>

# Room for a member added in balancer-manager.
<Proxy balancer://grow>
    BalancerMember pyworker://m1
    BalancerMember pyworker://m2
    ProxySet growth=2
</Proxy>
ProxyPass /grow balancer://grow/

# The site's own page for a 500, as PyWorkerScriptAlias gets it.
PyWorkerScriptAlias /alias {apps}/member.wsgi process-group=m1
<LocationMatch "^/(alias|direct|rr)/">
    ErrorDocument 500 /err500.html
</LocationMatch>

<Location /balancer-manager>
    SetHandler balancer-manager
</Location>
ProxyPass /balancer-manager !
"""

ERR500 = "<p>the site's own 500 page</p>\n"


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/direct/"])


def get_json(httpd, path, **kw):
    r = requests.get(httpd.url(path), timeout=15, **kw)
    assert r.status_code == 200, (path, r.status_code, r.text[:300])
    return r.json()


def groups_of(httpd, path, n, pause=0.0):
    seen = collections.Counter()
    for _ in range(n):
        seen[get_json(httpd, path)["group"]] += 1
        time.sleep(pause)
    return seen


def test_direct_proxypass_runs_the_groups_script(httpd, apps=None):
    j = get_json(httpd, "/direct/a/b?x=1")
    assert j["group"] == "m1"
    assert j["script_name"] == "/direct"
    assert j["path_info"] == "/a/b"
    assert j["query"] == "x=1"
    assert j["script_filename"].endswith("/apps/member.wsgi")


def test_script_name_and_path_info_at_the_prefix(httpd):
    j = get_json(httpd, "/direct")
    assert (j["script_name"], j["path_info"]) == ("/direct", "")
    j = get_json(httpd, "/slash/")
    assert (j["group"], j["script_name"], j["path_info"]) == \
        ("m2", "/slash", "/")
    j = get_json(httpd, "/slash/x%20y")
    assert (j["script_name"], j["path_info"]) == ("/slash", "/x y")


def test_rewrite_rule_p_to_a_balancer(httpd):
    """RewriteRule [P] (Zope's virtual host monster paths): the rewritten
    path is PATH_INFO, and as it is no tail of the URL, SCRIPT_NAME is
    empty."""
    j = get_json(httpd, "/rw/a/b?q=1")
    assert (j["script_name"], j["path_info"], j["query"]) == \
        ("", "/inner/a/b", "q=1")


def requests_for(httpd, text):
    with open(os.path.join(httpd.dirs["logs"], "access.log")) as f:
        return [line for line in f if text in line]


def test_rewrite_rule_p_to_a_group(httpd):
    """RewriteRule [P] straight to pyworker://GROUP/: mod_rewrite knows
    no such scheme and makes it a URL of this server; the request goes to
    the group, not back to Apache over HTTP (where the rule would match
    again)."""
    j = get_json(httpd, "/rwd/a/b?q=1")
    assert (j["group"], j["script_name"], j["path_info"], j["query"]) == \
        ("m1", "", "/inner/a/b", "q=1")
    assert get_json(httpd, "/rwd/x%20y")["path_info"] == "/inner/x y"
    r = requests.post(httpd.url("/rwd/post"), data=b"z" * 70000, timeout=15)
    assert r.status_code == 200 and r.json()["len"] == 70000
    assert requests_for(httpd, "pyworker:") == []


def test_rewrite_rule_p_with_zopes_virtual_host_paths(httpd):
    j = get_json(httpd, "/vhm/front-page/@@edit?x=1")
    assert (j["group"], j["script_name"], j["query"]) == ("m2", "", "x=1")
    assert j["path_info"] == ("/VirtualHostBase/http/www.example.com:80"
                              "/Plone/VirtualHostRoot/front-page/@@edit")


def test_rewrite_rule_p_to_a_group_in_a_directory(httpd):
    """In a <Directory> (or .htaccess) mod_rewrite puts the directory
    before the substitution and rewrites after mod_proxy's canon hook."""
    j = get_json(httpd, "/indir/p%20q?z=2")
    assert (j["group"], j["script_name"], j["path_info"], j["query"]) == \
        ("m2", "", "/fromdir/p q", "z=2")
    assert requests_for(httpd, "pyworker:") == []


def test_rewrite_rule_p_to_no_such_group_is_503(httpd):
    httpd.log.expect(codes=[160])
    mark = httpd.log.mark()
    r = requests.get(httpd.url("/rwnone/x"), timeout=15)
    assert r.status_code == 503
    assert httpd.log.wait_for(r"PYW0160\b.*pyworker://nosuch names no "
                              r"PyWorkerDaemonProcess", since=mark)


def rt_times_out(httpd, uri):
    """A request to group rt (request-timeout=1) at uri that runs 2.5 s:
    504 and PYW0141 naming it.  The log's mark before it."""
    httpd.log.expect(codes=[141, (200, 299), (20, 59), 320])
    mark = httpd.log.mark()
    r = requests.get(httpd.url(uri + "?ms=2500"), timeout=15)
    assert r.status_code == 504
    assert httpd.log.wait_for(r"PYW0141\b.*group=rt pid=\d+ uri=%s" % uri,
                              since=mark)
    return mark


def test_rewritten_timeout_leaves_other_rewrites_alone(httpd):
    """A 504 marks a ProxyPass worker in error for retry=; a rewritten
    request runs on mod_proxy's shared default worker, which must not be:
    every other RewriteRule [P] would fail with it."""
    mark = rt_times_out(httpd, "/rwrt/slow")
    assert get_json(httpd, "/rwd/after")["group"] == "m1"
    assert get_json(httpd, "/rw/after")["path_info"] == "/inner/after"
    assert not [x for x in httpd.log.lines(since=mark) if "PYW0162" in x]
    assert httpd.log.wait_for(r"PYW0320: \w+(Error|Exception)\b.*group=rt",
                              since=mark, timeout=10)


def test_request_body_reaches_the_app(httpd):
    r = requests.post(httpd.url("/direct/post"), data=b"x" * 100000,
                      timeout=15)
    assert r.status_code == 200 and r.json()["len"] == 100000
    r = requests.post(httpd.url("/direct/chunked"),
                      data=iter([b"a" * 1000, b"b" * 1000]), timeout=15)
    assert r.status_code == 200 and r.json()["len"] == 2000


def test_paste_group_through_the_proxy(httpd):
    r = requests.get(httpd.url("/pasted/"), timeout=15)
    assert r.status_code == 200, r.text[:300]


def test_app_exception_is_500_and_member_stays_usable(httpd):
    httpd.log.expect(codes=[(300, 399)])
    r = requests.get(httpd.url("/rr/?fail=1"), timeout=15)
    assert r.status_code == 500
    # Both members still serve: an application error is not a dead member.
    assert set(groups_of(httpd, "/rr/", 6)) == {"m1", "m2"}


@pytest.mark.parametrize("path", ["/direct/x?fail=1", "/rr/x?fail=1"])
def test_an_app_exception_through_the_proxy_gets_the_error_document(
        httpd, path):
    """ErrorDocument 500 /err500.html: an application that raises under
    PyWorkerScriptAlias gets the site's page (ap_die runs the
    ErrorDocument); through pyworker:// it got Apache's built-in 500 page
    (pyw_proxy_status sent it itself with ap_send_error_response, which
    knows only quoted-string ErrorDocuments, and returned OK).  The
    member stays in (the previous test)."""
    with open(os.path.join(httpd.dirs["htdocs"], "err500.html"), "w") as f:
        f.write(ERR500)
    httpd.log.expect(codes=[(300, 399)])
    r = requests.get(httpd.url("/alias/x?fail=1"), timeout=15)
    assert (r.status_code, r.text) == (500, ERR500)
    r = requests.get(httpd.url(path), timeout=15)
    assert (r.status_code, r.text) == (500, ERR500), r.text[:300]


@pytest.mark.parametrize("conf, code, words", [
    ("ProxyPass /x pyworker://nosuch/", 160, "names no PyWorkerDaemonProcess"),
    ("PyWorkerDaemonProcess noapp threads=1\n"
     "<Proxy balancer://b>\n    BalancerMember pyworker://noapp\n</Proxy>",
     161, "without script= or paste="),
])
def test_configtest_refuses_a_member_that_cannot_work(conf, code, words):
    rc, out = configtest(load_proxy() + "\n" + conf)
    assert rc != 0, out
    assert "PYW%04d" % code in out and words in out, out


def test_configtest_takes_health_checks_of_groups_and_http_members():
    rc, out = configtest(
        load_proxy() + "\n" + load_proxy(("watchdog", "proxy_hcheck"))
        + "\n"
        "ProxyHCExpr ok234 {%{REQUEST_STATUS} =~ /^[234]/}\n"
        "PyWorkerDaemonProcess m threads=1 script=/x.wsgi\n"
        "<Proxy balancer://b>\n"
        "    BalancerMember pyworker://m hcmethod=GET hcuri=/ok "
        "hcexpr=ok234\n"
        "    BalancerMember http://127.0.0.1:9 hcmethod=TCP status=+H\n"
        "</Proxy>")
    assert rc == 0, out


def test_configtest_refuses_script_and_paste_together():
    rc, out = configtest("PyWorkerDaemonProcess both script=/x.wsgi "
                         "paste=/x.ini")
    assert rc != 0 and "exclude each other" in out, out


def test_byrequests_alternates(httpd):
    c = groups_of(httpd, "/rr/", 20)
    assert c["m1"] == 10 and c["m2"] == 10, c


def test_byrequests_lbfactor(httpd):
    c = groups_of(httpd, "/weighted/", 40)
    assert c["m1"] == 30 and c["m2"] == 10, c


def test_bytraffic_balances_bytes(httpd):
    c = groups_of(httpd, "/traffic/", 20)
    assert c["m1"] >= 5 and c["m2"] >= 5, c


def test_bytraffic_counts_a_chunked_upload(httpd):
    """A chunked body has no Content-Length: its bytes count as they are
    sent to the daemon.  8 MB is more than all other traffic through
    /upload (a balancer of its own, whose counters no other test moves),
    so the small requests after it go to the other member."""
    chunks = iter([b"u" * 65536] * 128)
    r = requests.post(httpd.url("/upload/up"), data=chunks, timeout=30)
    assert r.status_code == 200 and r.json()["len"] == 8 << 20
    took = r.json()["group"]
    c = groups_of(httpd, "/upload/", 10)
    assert took not in c, (took, c)


@pytest.mark.parametrize("path", ["/busy", "/free"])
def test_busy_member_is_avoided(httpd, path):
    """bybusyness and byfreeworkers: while one member runs long requests,
    short ones go to the other.  (Each short one is counted busy until
    mod_proxy's post_request, which may run after its client has the
    answer: the pause keeps the next from seeing it, and a tie.)"""
    slow = load.Load(httpd.port, path + "/?ms=1500", total=3,
                     concurrency=3, timeout=20)
    slow.start()
    time.sleep(0.5)
    c = groups_of(httpd, path + "/", 10, pause=0.02)
    res = slow.join()
    assert res.ok == 3, res
    assert len(c) == 1, c       # all to the member without the slow ones


def test_byfreeworkers_sees_load_from_outside_the_balancer(httpd):
    """m1's workers are taken by requests that do not pass the balancer
    (ProxyPass /direct): bybusyness cannot see them, byfreeworkers reads
    m1's load board and sends everything to m2."""
    slow = load.Load(httpd.port, "/direct/?ms=1500", total=4,
                     concurrency=4, timeout=20)
    slow.start()
    time.sleep(0.5)
    c = groups_of(httpd, "/free/", 8)
    res = slow.join()
    assert res.ok == 4, res
    assert c == {"m2": 8}, c


def test_sticky_route_cookie_keeps_the_member(httpd):
    s = requests.Session()
    first = s.get(httpd.url("/sticky/"), timeout=15)
    assert first.status_code == 200
    route = s.cookies.get("ROUTEID")
    group = first.json()["group"]
    assert route == {"m1": ".one", "m2": ".two"}[group]
    for _ in range(6):
        assert s.get(httpd.url("/sticky/"), timeout=15).json()["group"] \
            == group
    other = {".one": ".two", ".two": ".one"}[route]
    r = requests.get(httpd.url("/sticky/"), cookies={"ROUTEID": other},
                     timeout=15)
    assert r.json()["group"] != group


def test_hot_standby_only_when_the_member_is_out(httpd):
    assert groups_of(httpd, "/hot/", 6) == {"m1": 6}
    manager_set(httpd, "hot", "pyworker://m1", w_status_D="1")
    try:
        assert groups_of(httpd, "/hot/", 4) == {"m3": 4}
    finally:
        manager_set(httpd, "hot", "pyworker://m1", w_status_D="0")
    assert groups_of(httpd, "/hot/", 4) == {"m1": 4}


def test_balancer_manager_lists_members_with_counters(httpd):
    """Each member's row: its status, how often it was elected (other
    tests use this balancer too: the count grows by 3 each here) and the
    bytes it answered."""
    members = ("pyworker://m1", "pyworker://m2")
    before = manager_page(httpd, "managed")
    elected_before = {m: int(member_row(before, "managed", m)[6] or 0)
                      for m in members}
    groups_of(httpd, "/managed/", 6)
    page = manager_page(httpd, "managed")
    for m in members:
        row = member_row(page, "managed", m)
        assert row is not None, page[:2000]
        status, elected, frm = row[5], row[6], row[10]
        assert "Ok" in status, row
        assert int(elected) == elected_before[m] + 3, (row, elected_before)
        assert frm not in ("", "0"), row    # bytes read from the member


def test_balancer_manager_disable_drain_enable(httpd):
    manager_set(httpd, "managed", "pyworker://m2", w_status_D="1")
    try:
        assert groups_of(httpd, "/managed/", 6) == {"m1": 6}
        row = member_row(manager_page(httpd, "managed"), "managed",
                         "pyworker://m2")
        assert any("Dis" in c for c in row), row
    finally:
        manager_set(httpd, "managed", "pyworker://m2", w_status_D="0")
    manager_set(httpd, "managed", "pyworker://m1", w_status_N="1")
    try:
        assert groups_of(httpd, "/managed/", 6) == {"m2": 6}
    finally:
        manager_set(httpd, "managed", "pyworker://m1", w_status_N="0")
    assert set(groups_of(httpd, "/managed/", 6)) == {"m1", "m2"}


def test_a_member_added_for_no_group_does_not_fail_its_share(httpd):
    """A typo in balancer-manager's "add member" (configtest never sees
    it): pyworker://nosuch answered 503 (PYW0160) for every request the
    balancer gave it, a third of them here, and stayed "Ok": the
    "proxy-error-override" note, right for a group this request may not
    use (another vhost's, PyWorkerRestrictProcess), kept mod_proxy from
    failing over and from putting it in error.  A member whose group does
    not exist is broken for everyone: in error, the request sent to
    another member."""
    httpd.log.expect(codes=[160])
    manager_add(httpd, "grow", "pyworker://nosuch")
    manager_set(httpd, "grow", "pyworker://nosuch", w_status_D="0")
    got = collections.Counter()
    for _ in range(9):
        r = requests.get(httpd.url("/grow/x"), timeout=15)
        got[(r.status_code,
             r.json()["group"] if r.status_code == 200 else None)] += 1
    assert set(got) == {(200, "m1"), (200, "m2")}, got
    row = member_row(manager_page(httpd, "grow"), "grow", "pyworker://nosuch")
    assert "Err" in row[5], row


# ---- what the handler path has holds for proxied requests ----

def test_request_timeout_is_504_with_code_group_and_uri(httpd):
    mark = rt_times_out(httpd, "/rt/slow")
    # The daemon logs the stacks and is replaced; the request, left to
    # run, finds Apache gone when it answers.
    assert httpd.log.wait_for(r"PYW0246\b.*group=rt", since=mark)
    # ... the traceback's last line (the exception) ends it.
    assert httpd.log.wait_for(r"PYW0320: \w+(Error|Exception)\b.*group=rt",
                              since=mark, timeout=10)
    time.sleep(0.2)


def test_daemon_crash_is_502_with_code_and_pid(httpd):
    httpd.log.expect(codes=[111, (20, 59)])
    mark = httpd.log.mark()
    r = requests.get(httpd.url("/crashy/?how=exit"), timeout=15)
    assert r.status_code == 502
    lines = httpd.log.wait_for(r"PYW0111\b.*group=crashy pid=\d+ "
                               r"uri=/crashy/", since=mark)
    assert lines, httpd.log.tail()
    pid = int(re.search(r"group=crashy pid=(\d+)", lines[0]).group(1))
    # The parent has reaped it (its line is this test's, not the next
    # one's) and starts another.
    assert httpd.log.wait_for(r"PYW0022\b.*group=crashy pid=%d\b" % pid,
                              since=mark), httpd.log.tail()
    assert httpd.wait_daemons("crashy", exclude=[pid])


def test_file_wrapper_descriptor_is_passed(httpd):
    size = 3000000
    mark = httpd.log.mark()
    r = rawhttp.request(httpd.port, "GET",
                        "/files/?kind=file&size=%d" % size, timeout=30)
    assert r.status == 200 and r.complete and len(r.body) == size
    want = b"".join(hashlib.sha256(b"%d" % i).digest()
                    for i in range(size // 32 + 1))[:size]
    assert r.body == want
    # Apache sent it from the daemon's descriptor (PYW0180).
    assert httpd.log.wait_for(r"PYW0180\b.*group=files", since=mark)


def test_recycled_daemons_lose_no_request(httpd):
    """maximum-requests=7: daemons are replaced all the time and turn
    requests down with GOODBYE; the proxy path sends them again."""
    res = load.Load(httpd.port, "/recycled/?ms=5", total=300,
                    concurrency=8, timeout=20).run()
    assert res.ok == 300, res


def test_mod_pyworker_does_not_link_to_mod_proxy():
    import os
    import subprocess
    from pyworker_t.httpd import module_path
    out = subprocess.run(["nm", "-D", "--undefined-only", module_path()],
                         capture_output=True, text=True, check=True).stdout
    assert "proxy" not in out, out
    assert os.path.exists(module_path())


def test_without_mod_proxy_the_module_loads_and_serves(fresh_apache):
    a = fresh_apache("""
PyWorkerDaemonProcess solo threads=1 script={apps}/member.wsgi
PyWorkerScriptAlias /solo {apps}/member.wsgi process-group=solo
""", ready=["/solo"])
    assert "proxy_module" not in a.conf_text
    r = a.get("/solo/x")
    assert r.status_code == 200 and r.json()["group"] == "solo"


def test_scheme_and_method_survive_a_graceful_restart(httpd):
    """Each configuration cycle starts with no hooks: the scheme is
    registered again, and the balancer's lbmethod is found again."""
    httpd.graceful()
    assert get_json(httpd, "/direct/after")["path_info"] == "/after"
    assert set(groups_of(httpd, "/free/", 6)) <= {"m1", "m2"}
    assert set(groups_of(httpd, "/rr/", 4)) == {"m1", "m2"}


# Debian's own order (mods-enabled/*.load, alphabetical): mod_proxy is
# loaded before mod_pyworker.
PROXY_FIRST = """
ServerRoot "{root}"
DefaultRuntimeDir "{run}"
PidFile "{run}/httpd.pid"
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
%s
LoadModule pyworker_module "{module}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
%s
ErrorLog "{logs}/error.log"
LogLevel info pyworker:debug
PyWorkerDaemonProcess first threads=1 script={apps}/member.wsgi
ProxyPass /first pyworker://first/
"""


def test_mod_proxy_loaded_before_mod_pyworker(fresh_apache):
    from pyworker_t.httpd import IS_ROOT
    a = fresh_apache(PROXY_FIRST % (
        load_proxy(), "User www-data\nGroup www-data" if IS_ROOT else ""),
        base=False, ready=["/first/"])
    j = a.get("/first/x").json()
    assert (j["group"], j["script_name"], j["path_info"]) == \
        ("first", "/first", "/x")


@pytest.mark.skipif(not os.geteuid() == 0, reason="chown needs root")
def test_script_user_holds_for_the_groups_own_script(fresh_apache):
    """script-user= restricts the file a group serves through mod_proxy
    (script=) as it does PyWorkerScriptAlias files: a script of another
    owner is refused with 403 and PYW0106 naming it, and the daemon never
    runs it."""
    scripts = tempfile.mkdtemp(prefix="pyw-owner-", dir="/tmp")
    try:
        os.chmod(scripts, 0o755)
        owners = {"mine": "pywtest1", "other": "root"}
        for name, user in owners.items():
            path = os.path.join(scripts, name + ".wsgi")
            shutil.copy(os.path.join(os.path.dirname(__file__), "apps",
                                     "member.wsgi"), path)
            shutil.chown(path, user, user)
        a = fresh_apache(load_proxy() + """
PyWorkerDaemonProcess mine threads=1 script-user=pywtest1 \\
    script=%(d)s/mine.wsgi
PyWorkerDaemonProcess other threads=1 script-user=pywtest1 \\
    script=%(d)s/other.wsgi
ProxyPass /mine pyworker://mine/
ProxyPass /other pyworker://other/
""" % {"d": scripts})
        assert a.get("/mine/x").json()["group"] == "mine"
        mark = a.log.mark()
        assert a.get("/other/x").status_code == 403
        line = a.log.wait_for(r"\bPYW0106\b.*other\.wsgi.*script-user="
                              r"pywtest1", since=mark)
        assert line and "(group=other " in line[0], a.log.tail()
        a.log.expect(r"\bPYW0106\b")
        # Its preload at start was refused the same way (t/test_preload.py),
        # and so are the starts of the replacement it asks for.
        a.log.expect(r"\bPYW0311\b.*(preloading \S+/other\.wsgi failed|"
                     r"PermissionError: \S+/other\.wsgi is owned by uid 0)")
        a.log.expect(r"\bPYW0(023|210|258)\b.*\(group=other\b")
        assert a.log.find(r"\bPYW0311\b.*PermissionError: \S+/other\.wsgi")
    finally:
        shutil.rmtree(scripts)

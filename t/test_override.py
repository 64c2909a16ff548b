"""PyWorkerErrorOverride (and ProxyErrorOverride for pyworker:// URLs) and
PyWorkerMapHEADToGET, as mod_wsgi users know them from WSGIErrorOverride
and WSGIMapHEADToGET.

Error override: an error status from the application gets Apache's own
error document (ErrorDocument) with the same status; the application's
body and headers are dropped (but a 401's WWW-Authenticate, a 503's
Retry-After); the daemon connection stays clean for the next request:
drained and reused, or closed when the body is longer than 1 MiB.  (Apache
itself closes the client's connection after a 500 or 503 it answers, so
the keep-alive checks use 404 and 410.)

HEAD to GET: On always, Off never, Auto when a resource or content-set
output filter (mod_deflate, mod_filter) is in the request's chain."""
import os
import re
import shutil
import time

import pytest

from pyworker_t import h2, rawhttp
from pyworker_t.httpd import configtest
from pyworker_t.proxy import load_proxy

APP = "{apps}/override.wsgi"
CONF = load_proxy() + """
Protocols h2c http/1.1
PyWorkerDaemonProcess ovr processes=1 threads=2 display-name=pyw-ovr \
    script=%(app)s
PyWorkerScriptAlias /off %(app)s process-group=ovr
PyWorkerScriptAlias /on %(app)s process-group=ovr
PyWorkerScriptAlias /head-on %(app)s process-group=ovr
PyWorkerScriptAlias /head-off %(app)s process-group=ovr
PyWorkerScriptAlias /head-auto %(app)s process-group=ovr
PyWorkerScriptAlias /head-headers %(app)s process-group=ovr
PyWorkerScriptAlias /head-deflate %(app)s process-group=ovr
PyWorkerScriptAlias /head-bytype %(app)s process-group=ovr
PyWorkerScriptAlias /htx {root}/htx/override.wsgi process-group=ovr

ErrorDocument 404 "apache says 404"
ErrorDocument 401 "apache says 401"
ErrorDocument 503 "apache says 503"
ErrorDocument 500 /err500.html
ErrorDocument 403 /off/method

<Location /forbidden>
    Require all denied
</Location>

<Location /on>
    PyWorkerErrorOverride On
    Header always set X-Always "set by mod_headers"
</Location>
<Directory "{root}/htx">
    AllowOverride FileInfo
    Require all granted
</Directory>

<Location /head-on>
    PyWorkerMapHEADToGET On
</Location>
<Location /head-off>
    PyWorkerMapHEADToGET Off
    SetOutputFilter DEFLATE
</Location>
<Location /head-headers>
    Header set X-Extra "mod_headers only"
</Location>
<Location /head-deflate>
    SetOutputFilter DEFLATE
</Location>
<Location /head-bytype>
    AddOutputFilterByType DEFLATE text/plain
</Location>

ProxyPass /px-off pyworker://ovr/
ProxyPass /px-on pyworker://ovr/
ProxyPass /px-codes pyworker://ovr/
ProxyPass /px-head pyworker://ovr/
<Location /px-on>
    ProxyErrorOverride On
</Location>
<Location /px-codes>
    ProxyErrorOverride On 404
</Location>
<Location /px-head>
    PyWorkerMapHEADToGET On
</Location>
<Proxy balancer://ob>
    BalancerMember pyworker://ovr
</Proxy>
ProxyPass /bal balancer://ob/
<Location /bal>
    ProxyErrorOverride On
</Location>
""" % {"app": APP}

ERR500 = "<p>apache's own 500 page</p>\n"
APP_BODY = b"app-body"


@pytest.fixture(scope="module")
def httpd(apache):
    a = apache(CONF, ready=["/off/ok"])
    with open(os.path.join(a.dirs["htdocs"], "err500.html"), "w") as f:
        f.write(ERR500)
    htx = a.path("htx")
    os.makedirs(htx, exist_ok=True)
    shutil.copy(os.path.join(a.dirs["apps"], "override.wsgi"), htx)
    with open(os.path.join(htx, ".htaccess"), "w") as f:
        f.write("PyWorkerErrorOverride On\n")
    for d, names in ((htx, ("override.wsgi", ".htaccess")),):
        os.chmod(d, 0o755)
        for n in names:
            os.chmod(os.path.join(d, n), 0o644)
    return a


def get(httpd, path, method="GET", headers=None):
    return rawhttp.request(httpd.port, method, path, headers)


def daemon_sockets(httpd):
    """Socket inodes the group's one daemon holds open: its listening
    socket and its connections from Apache's children."""
    (pid,) = httpd.daemon_pids("ovr")
    out = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            link = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if link.startswith("socket:"):
            out.add(link)
    return out


def ok_after(conn, n=3):
    """n plain requests on the same client connection come back whole and
    in order: no frame of an earlier response was left behind."""
    seen = []
    for _ in range(n):
        r = conn.request("GET", "/off/ok")
        assert r.status == 200 and r.complete, r
        assert re.fullmatch(rb"ok \d+\n", r.body), r.body
        seen.append(int(r.body.split()[1]))
    assert seen == sorted(seen)


# ---- PyWorkerErrorOverride --------------------------------------------

@pytest.mark.parametrize("code", [404, 500])
def test_off_passes_the_apps_error_page(httpd, code):
    r = get(httpd, "/off/status/%d?size=100" % code)
    assert r.status == code
    assert r.reason == "App Status"
    assert r.body == (APP_BODY * 13)[:100]
    assert r.header("X-App") == "yes"


def test_on_404_gets_the_errordocument_string(httpd):
    r = get(httpd, "/on/status/404?size=100")
    assert r.status == 404
    assert r.body == b"apache says 404"
    assert APP_BODY not in r.body
    assert r.header("X-App") is None
    assert r.header("Set-Cookie") is None


def test_header_always_set_still_applies(httpd):
    r = get(httpd, "/on/status/404")
    assert r.status == 404 and r.header("X-Always") == "set by mod_headers"


@pytest.mark.parametrize("size", [10, 200000])
def test_an_unread_request_body_leaves_the_client_connection_usable(httpd,
                                                                    size):
    # The app never reads the body it is sent; Apache reads what is left.
    with rawhttp.Conn(httpd.port) as c:
        r = c.request("POST", "/on/status/404", body=b"b" * size)
        assert r.status == 404 and r.body == b"apache says 404"
        ok_after(c)


def test_on_500_gets_the_errordocument_file(httpd):
    r = get(httpd, "/on/status/500?size=100")
    assert r.status == 500
    assert r.body.decode() == ERR500
    assert r.header("X-App") is None


def test_on_without_errordocument_gets_apaches_default_page(httpd):
    r = get(httpd, "/on/status/410?size=100")
    assert r.status == 410
    assert b"<title>410 Gone</title>" in r.body
    assert APP_BODY not in r.body


def test_a_status_apache_does_not_know_passes_through(httpd):
    # Apache has no page for 418: it would answer 500 instead.
    r = get(httpd, "/on/status/418?size=100")
    assert r.status == 418 and r.body == (APP_BODY * 13)[:100]


@pytest.mark.parametrize("path", ["/on/status/403", "/forbidden"])
def test_an_error_page_the_app_serves_keeps_the_status(httpd, path):
    # ErrorDocument 403 /off/method: the app answers it with "200 OK",
    # the client still gets the 403, as with a static error page.
    httpd.log.expect(r"AH01630: client denied")
    r = get(httpd, path)
    assert r.status == 403
    assert r.header("X-Seen-Method") == "GET"
    assert r.body.startswith(b"seen GET\n")


def test_an_error_page_for_a_request_with_big_headers(httpd):
    """Headers within Apache's limits (75 x 8000 bytes) are kept twice
    after an internal redirect (HTTP_* and REDIRECT_HTTP_*): past the 1
    MiB the environ had, the error page was Apache's default with
    PYW0118 at error level."""
    headers = [("X-Big-%02d" % i, "b" * 8000) for i in range(75)]
    assert get(httpd, "/off/method", headers=headers).status == 200
    r = get(httpd, "/on/status/403", headers=headers)
    assert r.status == 403
    assert r.body.startswith(b"seen GET\n"), r.body[:300]


def test_on_leaves_success_untouched(httpd):
    r = get(httpd, "/on/status/200?size=100")
    assert r.status == 200 and r.body == (APP_BODY * 13)[:100]
    assert r.header("X-App") == "yes"
    r = get(httpd, "/on/status/302?size=5")
    assert r.status == 302 and r.body == b"app-b"


def test_401_keeps_its_challenges_and_nothing_else(httpd):
    mark = httpd.log.mark()
    r = get(httpd, "/on/status/401")
    assert r.status == 401
    assert r.body == b"apache says 401"
    assert r.header_all("WWW-Authenticate") == ['Basic realm="app"',
                                                'Bearer realm="app"']
    assert r.header("Set-Cookie") is None and r.header("X-App") is None
    assert not httpd.log.find(r"\bPYW0122\b", since=mark)


def test_401_without_a_challenge_is_logged(httpd):
    """RFC 7235: a 401 must carry WWW-Authenticate.  Without one the
    error document goes out with no challenge, and a browser never asks
    for a login: one warning names the group, the daemon and the URI."""
    httpd.log.expect(r"\bPYW0122\b")
    mark = httpd.log.mark()
    r = get(httpd, "/on/status/401?nochallenge=1")
    assert r.status == 401 and r.body == b"apache says 401"
    assert r.header("WWW-Authenticate") is None
    line = httpd.log.wait_for(r"\bPYW0122\b.*\(group=ovr pid=\d+ "
                              r"uri=/on/status/401(\?\S*)?\)", since=mark)
    assert line and "without WWW-Authenticate" in line[0], httpd.log.tail()


def test_405_allow_is_the_apps_list(httpd):
    r = get(httpd, "/on/status/405")
    assert r.status == 405 and APP_BODY not in r.body
    allowed = set(r.header("Allow").split(","))
    # Apache names HEAD with GET, adds TRACE (TraceEnable is on by
    # default), and would have said only TRACE without the app's list.
    assert allowed - {"TRACE", "HEAD"} == {"GET", "POST", "PROPFIND"}


def test_503_keeps_retry_after(httpd):
    r = get(httpd, "/on/status/503")
    assert r.status == 503
    assert r.body == b"apache says 503"
    assert r.header("Retry-After") == "120"


def test_head_gets_the_status_only(httpd):
    r = get(httpd, "/on/status/404", method="HEAD")
    assert r.status == 404 and r.body == b""


def test_htaccess_can_turn_it_on(httpd):
    r = get(httpd, "/htx/status/404")
    assert r.status == 404 and r.body == b"apache says 404"


@pytest.mark.parametrize("what", [
    "status/404?size=64",
    "status/404?size=1000000",                  # long, still drained
    "status/410?size=200000&parts=50",          # iterated (chunked)
    "fw/404?size=300000",                       # wsgi.file_wrapper
])
def test_connection_is_drained_and_reused(httpd, what):
    with rawhttp.Conn(httpd.port) as c:
        ok_after(c, 1)                  # this child has its connection
        before = daemon_sockets(httpd)
        r = c.request("GET", "/on/" + what)
        assert r.status == int(what.split("/")[1][:3])
        assert APP_BODY not in r.body and r.complete
        ok_after(c)
        # The same daemon connection served all of them.
        assert daemon_sockets(httpd) == before
    assert httpd.log.wait_for(r"PYW0120: .*its body was read and "
                              r"discarded.* uri=/on/%s\)"
                              % re.escape(what))


def test_too_long_a_body_closes_the_connection(httpd):
    with rawhttp.Conn(httpd.port) as c:
        ok_after(c, 1)
        before = daemon_sockets(httpd)
        r = c.request("GET", "/on/status/404?size=8000000&parts=200")
        assert r.status == 404 and r.body == b"apache says 404"
        ok_after(c)
        # The daemon lets go of the old connection once its write fails.
        deadline = time.monotonic() + 5
        while len(daemon_sockets(httpd)) != len(before) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        after = daemon_sockets(httpd)
    assert len(after) == len(before) and after != before
    assert httpd.log.wait_for(r"PYW0120: .*too long to read: connection "
                              r"closed")


def test_an_app_failing_in_its_discarded_body_gets_500(httpd):
    httpd.log.expect(r"PYW0321: ")
    r = get(httpd, "/on/status/404?size=3000&parts=3&fail=1")
    assert r.status == 500 and r.body.decode() == ERR500
    with rawhttp.Conn(httpd.port) as c:
        ok_after(c)
    assert httpd.log.wait_for(r"PYW0321: .*override.wsgi fails in the "
                              r"middle")


def test_the_app_status_is_logged_as_the_requests(httpd):
    mark = httpd.log.mark()
    get(httpd, "/on/status/404")
    assert httpd.log.wait_for(r"PYW0120: .*answered 404: Apache's error "
                              r"document", since=mark)


# ---- ProxyErrorOverride on pyworker:// --------------------------------

def test_proxy_without_override_passes_the_apps_page(httpd):
    r = get(httpd, "/px-off/status/404?size=20")
    assert r.status == 404 and r.body == (APP_BODY * 3)[:20]


@pytest.mark.parametrize("code,body", [(404, b"apache says 404"),
                                       (500, ERR500.encode()),
                                       (503, b"apache says 503")])
def test_proxy_error_override(httpd, code, body):
    r = get(httpd, "/px-on/status/%d?size=5000&parts=5" % code)
    assert r.status == code and r.body == body
    assert r.header("X-App") is None


def test_proxy_connection_is_drained_and_reused(httpd):
    with rawhttp.Conn(httpd.port) as c:
        ok_after(c, 1)
        before = daemon_sockets(httpd)
        r = c.request("GET", "/px-on/status/404?size=300000&parts=30")
        assert r.status == 404 and r.body == b"apache says 404"
        ok_after(c)
        assert daemon_sockets(httpd) == before


def test_proxy_error_override_status_list(httpd):
    r = get(httpd, "/px-codes/status/404")
    assert r.status == 404 and r.body == b"apache says 404"
    r = get(httpd, "/px-codes/status/500?size=20")
    assert r.status == 500 and r.body == (APP_BODY * 3)[:20]


def test_overridden_errors_leave_the_balancer_member_in_service(httpd):
    for _ in range(3):
        r = get(httpd, "/bal/status/500")
        assert r.status == 500 and r.body.decode() == ERR500
        r = get(httpd, "/bal/status/503")
        assert r.status == 503 and r.body == b"apache says 503"
    r = get(httpd, "/bal/ok")
    assert r.status == 200 and r.body.startswith(b"ok ")


# ---- PyWorkerMapHEADToGET ---------------------------------------------

def head_and_get(httpd, loc, headers=None):
    h = get(httpd, loc + "/method", "HEAD", headers)
    g = get(httpd, loc + "/method", "GET", headers)
    assert h.status == 200 and g.status == 200
    assert h.body == b""
    return h, g


def test_on_maps_head_to_get(httpd):
    h, g = head_and_get(httpd, "/head-on")
    assert h.header("X-Seen-Method") == "GET"
    assert h.header("Content-Length") == g.header("Content-Length") \
        == str(len(g.body))


def test_off_keeps_head_even_with_a_filter(httpd):
    h, _ = head_and_get(httpd, "/head-off")
    assert h.header("X-Seen-Method") == "HEAD"


def test_auto_without_body_filters_keeps_head(httpd):
    h, _ = head_and_get(httpd, "/head-auto")
    assert h.header("X-Seen-Method") == "HEAD"
    h, _ = head_and_get(httpd, "/head-headers")
    assert h.header("X-Seen-Method") == "HEAD"
    assert h.header("X-Extra") == "mod_headers only"


@pytest.mark.parametrize("loc", ["/head-deflate", "/head-bytype"])
def test_auto_with_deflate_maps_head_to_get(httpd, loc):
    mark = httpd.log.mark()
    h, g = head_and_get(httpd, loc, {"Accept-Encoding": "gzip"})
    assert h.header("X-Seen-Method") == "GET"
    assert g.header("Content-Encoding") == "gzip"
    # HEAD gets the headers GET gets: that is what the mapping is for.
    for name in ("Content-Encoding", "Content-Length", "Vary"):
        assert h.header(name) == g.header(name), name
    assert httpd.log.wait_for(r"(?i)PYW0121: .*Auto: output filter \S*DEFLATE"
                              r"\S* needs the body", since=mark)


def test_get_and_post_are_never_changed(httpd):
    r = get(httpd, "/head-on/method")
    assert r.header("X-Seen-Method") == "GET"
    r = rawhttp.request(httpd.port, "POST", "/head-on/method", body=b"x")
    assert r.header("X-Seen-Method") == "POST"


def test_proxy_maps_head_to_get(httpd):
    h = get(httpd, "/px-head/method", "HEAD")
    assert h.status == 200 and h.body == b""
    assert h.header("X-Seen-Method") == "GET"
    h = get(httpd, "/px-off/method", "HEAD")
    assert h.header("X-Seen-Method") == "HEAD"


@pytest.mark.skipif(not h2.curl_has_http2(), reason="curl without HTTP/2")
def test_http2_maps_head_and_overrides_errors(httpd):
    # mod_http2 runs the request in its own worker; the mapping and the
    # override must hold there as over HTTP/1.1.
    gz = {"Accept-Encoding": "gzip"}
    h = h2.request(httpd.url("/head-deflate/method"), "HEAD", gz)
    g = h2.request(httpd.url("/head-deflate/method"), "GET", gz)
    assert (h.version, h.status, g.status) == ("HTTP/2", 200, 200)
    assert h.header("x-seen-method") == "GET" and h.body == b""
    assert h.header("content-encoding") == g.header("content-encoding") \
        == "gzip"
    h = h2.request(httpd.url("/head-off/method"), "HEAD")
    assert h.header("x-seen-method") == "HEAD"
    r = h2.request(httpd.url("/on/status/404"))
    assert r.status == 404 and r.body == b"apache says 404"
    r = h2.request(httpd.url("/off/status/404"))
    assert r.status == 404 and APP_BODY in r.body
    r = h2.request(httpd.url("/px-on/status/503"))
    assert r.status == 503 and r.body == b"apache says 503"
    assert r.header("retry-after") == "120"
    r = h2.request(httpd.url("/on/ok"))    # the connection pool is intact
    assert r.status == 200


# ---- configuration ----------------------------------------------------

def test_configtest_refuses_a_bad_map_head_value():
    rc, out = configtest("PyWorkerMapHEADToGET Sometimes\n")
    assert rc != 0
    assert "PyWorkerMapHEADToGET: 'Sometimes': use On, Off or Auto" in out
    rc, out = configtest("PyWorkerErrorOverride Maybe\n")
    assert rc != 0 and "PyWorkerErrorOverride" in out

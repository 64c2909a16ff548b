"""Real Plone 6 sites on mod_pyworker (issue 12, part 4).

Two Plone sites, each in its own ZEO storage, its own Zope instance and
its own daemon group (processes=2 threads=2) under its own user:

    PyWorkerDaemonProcess ploneone processes=2 threads=2 user=pywtest1 \\
        python-home=<plone venv> home=<instance> display-name=%{GROUP}
    PyWorkerImportScript <instance>/zope.wsgi process-group=ploneone
    PyWorkerScriptAlias /one <instance>/zope.wsgi process-group=ploneone
    (the same for "two" as pywtest2)
    <VirtualHost 127.0.0.1:{port}>     # www.one.test
        RewriteRule ^/(.*)$ /one/VirtualHostBase/http/www.one.test:{port}/Plone/VirtualHostRoot/$1 [PT,L]
    </VirtualHost>

(t/plone_t.PloneWorld.snippet writes it.)  Besides, a second Zope
instance of site one's storage (p1/) served from Zope's own etc/zope.ini
(what `mkwsgiinstance` writes for `runwsgi`), preloaded:

    PyWorkerDaemonProcess plonepaste processes=1 threads=2 user=pywtest1 \\
        python-home=<plone venv> home=<p1> display-name=%{GROUP}
    PyWorkerPasteApp /site1 <p1>/etc/zope.ini process-group=plonepaste \\
        application-group=%{GLOBAL}

The venv comes from plone/build-env (built once, cached under
/var/cache/pyworker-plone); the sites are made by t/plone_t/mksite.py
when the module starts.  The only skip: the venv cannot be built on this
machine (no PyPI).
"""
import hashlib
import os
import pwd
import re
import shutil
import signal
import time
import urllib.parse

import pytest
import requests

from plone_t import (ADMIN, ADMIN_PASSWORD, PAGE_ID, SITE_ID, BuildError,
                     PloneWorld, build_env, write_instance)
from plone_t import browser
from pyworker_t import procs
from pyworker_t.httpd import T_DIR
from pyworker_t.load import Load, parallel

SITES = [("one", "Plone Site One", "pywtest1"),
         ("two", "Plone Site Two", "pywtest2")]
NAMES = [s[0] for s in SITES]
CONFLICTS = os.path.join(T_DIR, "apps", "plone_conflicts.py")
READY_TIMEOUT = 300         # five Zope processes start on two cores
PASTE_GROUP = "plonepaste"


@pytest.fixture(scope="module")
def world():
    try:
        venv, seconds = build_env()
    except BuildError as e:
        if e.missing:
            pytest.skip("the Plone virtualenv cannot be built on this "
                        "machine: %s" % e)
        raise
    w = PloneWorld(venv, SITES)
    w.timings["env"] = seconds
    try:
        w.create()
        write_zope_ini_instance(w)
    except Exception:
        w.stop(keep=os.environ.get("PYW_KEEP") == "1")
        raise
    yield w
    w.stop(keep=os.environ.get("PYW_KEEP") == "1")


def write_zope_ini_instance(w):
    """A second instance of storage "one" at p1/, described by Zope's
    own etc/zope.ini (`mkwsgiinstance`'s, with its translogger and
    logging sections)."""
    w.p1 = os.path.join(w.root, "p1")
    write_instance(w.p1, w.port, "one", 2, "pywtest1")
    lib = os.path.join(w.venv, "lib")
    (pyver,) = [d for d in os.listdir(lib) if d.startswith("python")]
    skel = os.path.join(lib, pyver, "site-packages", "Zope2", "utilities",
                        "skel", "etc", "zope.ini.in")
    with open(skel) as f:
        ini = f.read().replace("<<INSTANCE_HOME>>", w.p1)
    w.ini = os.path.join(w.p1, "etc", "zope.ini")
    with open(w.ini, "w") as f:
        f.write(ini)
    os.chmod(w.ini, 0o644)


def paste_snippet(world):
    return ("PyWorkerDaemonProcess %s processes=1 threads=2 %s"
            "python-home=%s home=%s display-name=%%{GROUP}\n"
            "PyWorkerPasteApp /site1 %s process-group=%s "
            "application-group=%%{GLOBAL}\n"
            % (PASTE_GROUP, "user=pywtest1 " if os.geteuid() == 0 else "",
               world.venv, world.p1, world.ini, PASTE_GROUP))


def wait_200(a, path, deadline):
    last = None
    while True:
        try:
            r = a.get(path, timeout=60)
            if r.status_code == 200:
                return r
            last = r.status_code
        except requests.RequestException as e:
            last = repr(e)
        if time.monotonic() > deadline:
            raise RuntimeError("%s not 200 (last: %s):\n%s"
                               % (path, last, a.log.tail(40)))
        time.sleep(0.5)


@pytest.fixture(scope="module")
def httpd(world, apache):
    # world first: it is torn down last, so ZEO outlives the daemons.
    t0 = time.monotonic()
    a = apache(paste_snippet(world) + world.snippet(extra_import=CONFLICTS))
    deadline = time.monotonic() + READY_TIMEOUT
    while not a.log.find(r"\bPYW0048\b.*\(group=%s " % PASTE_GROUP):
        if time.monotonic() > deadline or a.proc.poll() is not None:
            raise RuntimeError("%s: daemon not ready:\n%s"
                               % (PASTE_GROUP, a.log.tail(40)))
        time.sleep(0.2)
    wait_200(a, "/site1/" + SITE_ID, deadline)
    for s in world.sites:
        # Every daemon ready (Zope loaded) before the first request:
        # earlier ones would wait past connect-timeout (PYW0110).
        while len(a.log.find(r"\bPYW0048\b.*\(group=%s " % s.group)) < 2:
            if time.monotonic() > deadline or a.proc.poll() is not None:
                raise RuntimeError("%s: daemons not ready:\n%s\n%s"
                                   % (s.group, a.log.tail(40),
                                      s.event_log()[-3000:]))
            time.sleep(0.2)
        while True:
            try:
                r = a.get(s.prefix + "/" + SITE_ID, timeout=60)
                if r.status_code == 200:
                    break
                last = r.status_code
            except requests.RequestException as e:
                last = repr(e)
            if time.monotonic() > deadline:
                raise RuntimeError("%s not ready (last: %s):\n%s\n%s"
                                   % (s.name, last, a.log.tail(40),
                                      s.event_log()[-3000:]))
            time.sleep(0.5)
    world.timings["apache+zope start"] = time.monotonic() - t0
    print("\nPlone timings (s): %s" % ", ".join(
        "%s %.1f" % kv for kv in world.timings.items()))
    return a


def site(world, name):
    (s,) = [s for s in world.sites if s.name == name]
    return s


def site_url(httpd, s, path=""):
    return httpd.url("%s/%s%s" % (s.prefix, SITE_ID, path))


_sessions = {}


def login(httpd, s, client=0):
    """A requests.Session logged in as admin through Plone's login form
    (cookie __ac); one per site and client number, made once."""
    if (s.name, client) in _sessions:
        return _sessions[s.name, client]
    sess = requests.Session()
    url = site_url(httpd, s, "/login")
    r = sess.get(url, timeout=60)
    assert r.status_code == 200, r.status_code
    form = browser.find_form(r.text, has_field="__ac_name")
    form.set("__ac_name", ADMIN)
    form.set("__ac_password", ADMIN_PASSWORD)
    button = [b for b in form.buttons if "login" in b.lower()][0]
    r = browser.submit(sess, url, form, button)
    assert r.status_code == 200, r.status_code
    assert "__ac" in sess.cookies, (sess.cookies, r.text[:2000])
    _sessions[s.name, client] = sess
    return sess


def edit_form(sess, httpd, s):
    url = site_url(httpd, s, "/%s/edit" % PAGE_ID)
    r = sess.get(url, timeout=60)
    assert r.status_code == 200, r.status_code
    form = browser.find_form(r.text, has_button="form.buttons.save")
    assert form.get("_authenticator"), "no CSRF token in the edit form"
    return url, form


def page_title(sess, httpd, s):
    r = sess.get(site_url(httpd, s, "/" + PAGE_ID),
                 headers={"Accept": "application/json"}, timeout=60)
    assert r.status_code == 200, r.status_code
    return r.json()["title"]


# -- each site ---------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_front_page_is_200_with_the_sites_title(httpd, world, name):
    s = site(world, name)
    r = httpd.get("%s/%s" % (s.prefix, SITE_ID), timeout=60)
    assert r.status_code == 200
    assert "text/html" in r.headers["Content-Type"]
    title = re.search(r"<title>(.*?)</title>", r.text, re.S).group(1)
    assert s.title in title
    other = [t for n, t, u in SITES if n != name][0]
    assert other not in r.text


@pytest.mark.parametrize("name", NAMES)
def test_sites_run_in_their_own_groups_under_their_own_users(httpd, world,
                                                             name):
    s = site(world, name)
    pids = httpd.daemon_pids(s.group)
    assert len(pids) == 2
    if os.geteuid() == 0:
        uid = pwd.getpwnam(s.user).pw_uid
        for pid in pids:
            assert procs.status_field(pid, "Uid").split() == [str(uid)] * 4


@pytest.mark.parametrize("name", NAMES)
def test_login_and_edit_a_page_with_the_csrf_token(httpd, world, name):
    s = site(world, name)
    sess = login(httpd, s)
    url, form = edit_form(sess, httpd, s)
    title_field = form.field_matching(r"\.title$")
    new_title = "Edited on %s at %.6f" % (name, time.time())
    form.set(title_field, new_title)
    r = browser.submit(sess, url, form, "form.buttons.save")
    assert r.status_code == 200, r.status_code
    assert r.url.rstrip("/").endswith("/" + PAGE_ID), r.url
    assert new_title in r.text
    assert page_title(requests, httpd, s) == new_title   # anonymous


@pytest.mark.parametrize("name", NAMES)
def test_20mb_file_uploads_and_downloads_intact(httpd, world, name):
    s = site(world, name)
    sess = login(httpd, s)
    data = os.urandom(20 * 1024 * 1024)
    digest = hashlib.sha256(data).hexdigest()
    url = site_url(httpd, s, "/++add++File")
    r = sess.get(url, timeout=60)
    assert r.status_code == 200, r.status_code
    form = browser.find_form(r.text, has_button="form.buttons.save")
    assert form.get("_authenticator")
    (file_field,) = form.files
    form.set(form.field_matching(r"\.title$"), "Big file %s" % name)
    filename = "big-%s.bin" % name
    r = browser.submit(sess, url, form, "form.buttons.save",
                       files={file_field: (filename, data,
                                           "application/octet-stream")},
                       timeout=180)
    assert r.status_code == 200, r.status_code
    item = re.sub(r"/view$", "", r.url)
    assert item != url and "++add++" not in item, r.url
    r = sess.get(item + "/@@download/file", timeout=180)
    assert r.status_code == 200, r.status_code
    assert int(r.headers["Content-Length"]) == len(data)
    assert hashlib.sha256(r.content).hexdigest() == digest


@pytest.mark.parametrize("name", NAMES)
def test_restapi_answers_json(httpd, world, name):
    s = site(world, name)
    r = httpd.get("%s/%s" % (s.prefix, SITE_ID),
                  headers={"Accept": "application/json"}, timeout=60)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["@type"] == "Plone Site"
    assert body["title"] == s.title
    assert body["@id"] == site_url(httpd, s)
    r = httpd.get("%s/%s/%s" % (s.prefix, SITE_ID, PAGE_ID),
                  headers={"Accept": "application/json"}, timeout=60)
    assert r.status_code == 200
    assert r.json()["@id"] == site_url(httpd, s, "/" + PAGE_ID)
    assert r.json()["@type"] == "Document"
    # Authenticated REST (HTTP Basic, so PyWorkerPassAuthorization On):
    # @users needs Manager.
    r = httpd.get("%s/%s/@users" % (s.prefix, SITE_ID),
                  headers={"Accept": "application/json"},
                  auth=(ADMIN, ADMIN_PASSWORD), timeout=60)
    assert r.status_code == 200, r.text[:500]
    users = r.json()
    users = users["items"] if isinstance(users, dict) else users
    assert isinstance(users, list)


@pytest.mark.parametrize("name", NAMES)
def test_virtual_host_every_link_points_at_the_public_host(httpd, world,
                                                          name):
    s = site(world, name)
    public = "http://%s:%d" % (s.host, httpd.port)
    local_hosts = {"127.0.0.1", "localhost"} | {x.host for x in world.sites}
    headers = {"Host": "%s:%d" % (s.host, httpd.port)}
    for path in ("/", "/" + PAGE_ID):
        r = httpd.get(path, headers=headers, timeout=60)
        assert r.status_code == 200, (path, r.status_code)
        assert s.title in r.text
        assert "VirtualHost" not in r.text
        urls = browser.absolute_urls(r.text)
        local = [u for u in urls
                 if urllib.parse.urlsplit(
                     u if u.startswith("http") else "http:" + u).hostname
                 in local_hosts]
        assert local, "no link to the site in %s" % path
        wrong = [u for u in local if not (u == public or
                                          u.startswith(public + "/"))]
        assert not wrong, wrong[:10]
        assert not [u for u in local if "/%s/%s" % (s.name, SITE_ID) in u]
    # A link followed through the public host works, and JSON too.
    r = httpd.get("/" + PAGE_ID, headers=dict(headers,
                                              Accept="application/json"),
                  timeout=60)
    assert r.status_code == 200
    assert r.json()["@id"] == public + "/" + PAGE_ID


@pytest.mark.parametrize("name", NAMES)
def test_two_clients_editing_one_page_at_once_both_get_200(httpd, world,
                                                           name):
    """Both saves overlap, so one transaction meets a ZODB ConflictError
    at commit and Zope's publisher retries the whole request (up to
    max-conflict-retries, 3): it re-reads the request body from the start,
    wsgi.input.seek(0) (ZPublisher.HTTPRequest.retry).  Both clients must
    get their 200.  t/apps/plone_conflicts.py logs each retry, so the test
    knows a conflict really happened (it tries up to 8 rounds).

    Without a seekable wsgi.input the retried request ends in
    AttributeError, 500 and PYW0320; with it (t/test_input_seek.py) the
    first round passes, one retry logged."""
    s = site(world, name)
    clients = [login(httpd, s, 0), login(httpd, s, 1)]
    since = len(s.event_log())
    for rnd in range(8):
        forms = [edit_form(c, httpd, s) for c in clients]
        titles = ["Round %d client %d %.6f" % (rnd, i, time.time())
                  for i in range(2)]
        for (url, form), title in zip(forms, titles):
            form.set(form.field_matching(r"\.title$"), title)
        results = parallel([
            (lambda c=c, u=u, f=f: browser.submit(c, u, f,
                                                  "form.buttons.save"))
            for c, (u, f) in zip(clients, forms)], timeout=120)
        for r in results:
            assert not isinstance(r, Exception), r
            assert r.status_code == 200, (r.status_code, r.text[-3000:])
            assert r.url.rstrip("/").endswith("/" + PAGE_ID), r.url
        assert page_title(requests, httpd, s) in titles
        retries = re.findall(r"publisher abort: ConflictError retry=True",
                             s.event_log()[since:])
        if retries:
            break
    assert retries, "8 rounds of simultaneous saves, no ConflictError"


# -- both sites, restarts ----------------------------------------------------

def front_pages(world):
    pages = ["%s/%s" % (s.prefix, SITE_ID) for s in world.sites]
    return lambda i: pages[i % len(pages)]


def start_load(httpd, world, keepalive=True):
    titles = {s.prefix: s.title for s in world.sites}
    headers = {} if keepalive else {"Connection": "close"}
    load = Load(httpd.port, front_pages(world), total=10 ** 6,
                concurrency=4, timeout=60, deadline=600, headers=headers,
                check=lambda status, body: any(t.encode() in body
                                               for t in titles.values()))
    return load.start()


def stop_load(load):
    load.deadline = 0           # _take() hands out no more requests
    return load.join()


def wait_replaced(httpd, old, groups, timeout=240):
    """Until every pid in old is gone and each group has its processes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not [p for p in old if procs.alive(p)] and all(
                len(httpd.daemon_pids(g)) >= 2 for g in groups):
            return True
        time.sleep(0.2)
    return False


def assert_no_failure(res):
    assert res.records, "no request was sent"
    assert res.counts == {200: len(res.records)}, \
        (res.counts, res.failures()[:10])


def test_graceful_restart_under_load_fails_no_request(httpd, world):
    groups = [s.group for s in world.sites]
    # Across an Apache restart, Apache's own children close idle
    # keep-alive connections as they stop (see test_deploys.py).
    load = start_load(httpd, world, keepalive=False)
    time.sleep(2)
    old = httpd.graceful(wait=True, timeout=120)
    assert len(old) == 5            # the sites' 2 + 2, plonepaste's 1
    replaced = wait_replaced(httpd, old, groups)
    time.sleep(2)
    res = stop_load(load)
    print("\ngraceful under load: %s" % res)
    assert replaced, "old daemons still running: %s" % old
    assert_no_failure(res)
    assert not set(httpd.all_daemon_pids()) & set(old)


def test_rolling_restart_under_load_fails_no_request(httpd, world):
    one, two = world.sites
    old = httpd.daemon_pids(one.group) + httpd.daemon_pids(two.group)
    load = start_load(httpd, world)
    time.sleep(2)
    # Group one: SIGUSR2 to one of its daemons.  Group two: its script
    # touched (a deploy).
    os.kill(httpd.daemon_pids(one.group)[0], signal.SIGUSR2)
    now = time.time() + 1
    os.utime(two.script, (now, now))
    replaced = wait_replaced(httpd, old, [one.group, two.group])
    time.sleep(2)
    res = stop_load(load)
    print("\nrolling restarts under load: %s" % res)
    assert replaced, "old daemons still running: %s" % old
    assert_no_failure(res)


# -- PasteDeploy zope.ini: a preload that fails ------------------------------

def break_blob_cache(world):
    """What an integrator gets wrong: the instance's var/ not writable by
    the group's user, so ZEO's blob cache cannot be made and Zope cannot
    start (PermissionError in ClientStorage)."""
    var = os.path.join(world.p1, "var")
    shutil.rmtree(os.path.join(var, "blobcache"), ignore_errors=True)
    os.chown(var, 0, 0)
    os.chmod(var, 0o755)


def fix_blob_cache(world):
    var = os.path.join(world.p1, "var")
    pw = pwd.getpwnam("pywtest1")
    os.chown(var, pw.pw_uid, pw.pw_gid)
    os.chmod(var, 0o700)


def touch(path):
    t = max(time.time(), os.stat(path).st_mtime + 2)
    os.utime(path, (t, t))


def expect_load_failures(httpd):
    # PYW0313: the PasteDeploy load failed; PYW0210/PYW0023: a daemon
    # that would replace a serving one not starting, retried; PYW0258: a
    # daemon started without its application asking for its replacement;
    # PYW0320: the half-loaded Zope raising on a request; PYW0363 and
    # PYW0361: Zope's own ERROR records and output; PYW0022: the daemon
    # killed on purpose.
    httpd.log.expect(codes=[313, 210, 23, 258, 320, 363, 361, 22])


def replaced_after(httpd, mark, timeout):
    """Until a new plonepaste daemon took over after mark (PYW0031) and
    /site1 answers 200; whether that happened within timeout."""
    deadline = time.monotonic() + timeout
    path = "/site1/%s/%s" % (SITE_ID, PAGE_ID)
    while time.monotonic() < deadline:
        if httpd.log.find(r"\bPYW0031\b.*\(group=%s " % PASTE_GROUP,
                          since=mark):
            try:
                if httpd.get(path, timeout=60).status_code == 200:
                    return True
            except requests.RequestException:
                pass
        time.sleep(1)
    return False


def get_status(httpd, path):
    try:
        return httpd.get(path, timeout=60).status_code
    except requests.RequestException as e:
        return repr(e)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (user=)")
def test_zope_ini_deploy_that_cannot_load_keeps_the_old_daemon_serving(
        httpd, world):
    """A deploy (zope.ini touched) while Zope cannot start in a new
    process (var/ not writable): the new daemon's preload failed
    (PYW0313), it said READY all the same, the rolling restart retired
    the working daemon (PYW0031) and every request got 500: the site was
    down.  The same mistake with zope.wsgi + PyWorkerImportScript left
    the old daemon serving.  Now a daemon that replaces a serving one
    fails its start when its preload fails (PYW0210), is retried with
    back-off, and the old one serves on until a retry loads Zope."""
    expect_load_failures(httpd)
    path = "/site1/%s/%s" % (SITE_ID, PAGE_ID)
    assert httpd.get(path, timeout=60).status_code == 200
    old = httpd.daemon_pids(PASTE_GROUP)
    mark = httpd.log.mark()
    break_blob_cache(world)
    statuses = []
    try:
        touch(world.ini)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            statuses.append(get_status(httpd, path))
            time.sleep(0.5)
        failed = httpd.log.find(r"\bPYW0023\b.*\(group=%s " % PASTE_GROUP,
                                since=mark)
    finally:
        fix_blob_cache(world)
        recovered = replaced_after(httpd, mark, 180)
        expect_load_failures(httpd)
    bad = [s for s in statuses if s != 200]
    assert not bad, ("the site went down on a deploy that could not load "
                     "(daemons %s -> %s): %d of %d requests failed: %s"
                     % (old, httpd.daemon_pids(PASTE_GROUP), len(bad),
                        len(statuses), bad[:5]))
    assert failed, "no start of the new daemon failed:\n" + \
        httpd.log.text(mark)[-3000:]
    assert recovered, "the deploy did not go through once var/ was fixed"
    assert old[0] not in httpd.daemon_pids(PASTE_GROUP)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (user=)")
def test_zope_ini_app_that_failed_to_load_serves_again_once_fixed(
        httpd, world):
    """A PasteDeploy Zope whose daemon starts with nothing serving in its
    place (here: restarted after it was killed) while Zope cannot start
    (var/ not writable), then the cause fixed: the site must come back by
    itself.  The daemon's requests loaded zope.ini again in the same
    process, but Zope starts only once per process: the second
    make_wsgi_app returned an application whose database was never
    opened, and every request was 500 for good (PYW0320, TypeError in
    ZPublisher's load_app) until someone restarted the group.  Now that
    daemon asks for its replacement (PYW0258), retried with back-off
    until one loads Zope, which takes over."""
    expect_load_failures(httpd)
    path = "/site1/%s/%s" % (SITE_ID, PAGE_ID)
    (pid,) = httpd.daemon_pids(PASTE_GROUP)
    mark = httpd.log.mark()
    break_blob_cache(world)
    try:
        os.kill(pid, signal.SIGKILL)
        # Restarted at once, without its application (PYW0313) ...
        assert httpd.log.wait_for(r"\bPYW0313\b.*\(group=%s " % PASTE_GROUP,
                                  since=mark, timeout=180), \
            httpd.log.text(mark)[-3000:]
        httpd.log.wait_for(r"\bPYW0200\b.*\(group=%s " % PASTE_GROUP,
                           since=mark, timeout=60)
        # ... so down meanwhile: 500 from the daemon that has no Zope.
        assert get_status(httpd, path) == 500
        assert get_status(httpd, path) == 500
        # A replacement's start failing too, before the fix.
        httpd.log.wait_for(r"\bPYW0023\b.*\(group=%s " % PASTE_GROUP,
                           since=mark, timeout=30)
    finally:
        fix_blob_cache(world)
        fixed = time.monotonic()
        # The back-off reached (under 30 s) plus a Zope start.
        recovered = replaced_after(httpd, mark, 180)
        took = time.monotonic() - fixed
        expect_load_failures(httpd)
    assert recovered, ("180 s after the cause was fixed, /site1 still "
                       "answers %s; log:\n%s" % (get_status(httpd, path),
                                                 httpd.log.text(mark)[-3000:]))
    print("\nzope.ini site back %.1f s after the fix" % took)
    assert httpd.log.find(r"\bPYW0258\b.*\(group=%s pid=" % PASTE_GROUP,
                          since=mark)
    assert pid not in httpd.daemon_pids(PASTE_GROUP)

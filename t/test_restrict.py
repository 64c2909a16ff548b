"""Who may use which daemon group: PyWorkerRestrictProcess (mod_wsgi's
WSGIRestrictProcess), and PyWorkerProcessGroup / PyWorkerApplicationGroup
in .htaccess under AllowOverride FileInfo.

The hosting set-up: tenants under {root}/tenants/<area>/<site>/ choose
their group in .htaccess; the administrator's <Directory> limits the
choice.  A group outside the list in force, unknown, or defined in another
virtual host answers 500 with one log line (PYW0107, 0101, 0102).
"""
import os
import shutil

import pytest

from pyworker_t.httpd import configtest
from pyworker_t.proxy import load_proxy, manager_page, member_row

CONF = load_proxy() + """
<IfModule !rewrite_module>
    LoadModule rewrite_module /usr/lib/apache2/modules/mod_rewrite.so
</IfModule>
PyWorkerDaemonProcess alpha threads=2 display-name=pyw-r-alpha \
    script={apps}/environ.wsgi
PyWorkerDaemonProcess beta threads=2 display-name=pyw-r-beta \
    script={apps}/environ.wsgi

<Directory {root}/tenants>
    AllowOverride FileInfo
</Directory>
<Directory {root}/tenants/alpha-only>
    PyWorkerRestrictProcess alpha
</Directory>
<Directory {root}/tenants/alpha-only/dir-alpha>
    PyWorkerProcessGroup alpha
</Directory>
<Directory {root}/tenants/alpha-only/dir-beta>
    PyWorkerProcessGroup beta
</Directory>
<Directory {root}/tenants/alpha-only/listed>
    AllowOverrideList PyWorkerRestrictProcess
</Directory>
<Directory {root}/tenants/no-fileinfo>
    AllowOverride AuthConfig Indexes
</Directory>

<VirtualHost 127.0.0.1:{port}>
    ServerName main.test
    PyWorkerScriptAlias /ready {apps}/hello.wsgi process-group=alpha
    PyWorkerScriptAliasMatch ^/t/([a-z-]+)/([a-z-]+) \\
        {root}/tenants/$1/$2/app.wsgi
    PyWorkerScriptAlias /pinned {root}/tenants/open/pinned/app.wsgi \\
        process-group=alpha
    <Proxy balancer://shop>
        BalancerMember pyworker://beta
    </Proxy>
    ProxyPass /shop balancer://shop/
    <Location /balancer-manager>
        SetHandler balancer-manager
    </Location>
    ProxyPass /balancer-manager !
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName restricted.test
    PyWorkerRestrictProcess alpha
    PyWorkerScriptAlias /alpha {apps}/environ.wsgi process-group=alpha
    PyWorkerScriptAlias /beta {apps}/environ.wsgi process-group=beta
    PyWorkerScriptAlias /inner/alpha {apps}/environ.wsgi process-group=alpha
    PyWorkerScriptAlias /inner/beta {apps}/environ.wsgi process-group=beta
    <Location /inner>
        PyWorkerRestrictProcess beta
    </Location>
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName other.test
    PyWorkerDaemonProcess private threads=1 display-name=pyw-r-private
    PyWorkerScriptAlias / {apps}/environ.wsgi process-group=private
</VirtualHost>
"""

# <area>/<site> under {root}/tenants: its .htaccess (None: none).  Each
# site's app.wsgi is t/apps/environ.wsgi.
TENANTS = {
    "alpha-only/dir-alpha": None,
    "alpha-only/dir-beta": None,
    "alpha-only/ht-alpha": "PyWorkerProcessGroup alpha\n"
                           "PyWorkerApplicationGroup %{GLOBAL}\n",
    "alpha-only/ht-beta": "PyWorkerProcessGroup beta\n",
    "alpha-only/widen": "PyWorkerRestrictProcess alpha beta\n"
                        "PyWorkerProcessGroup beta\n",
    "alpha-only/listed": "PyWorkerRestrictProcess beta\n"
                         "PyWorkerProcessGroup beta\n",
    "no-fileinfo/site": "PyWorkerProcessGroup alpha\n",
    "open/free": "PyWorkerProcessGroup beta\n",
    "open/unknown": "PyWorkerProcessGroup nosuch\n",
    "open/foreign": "PyWorkerProcessGroup private\n",
    "open/pinned": "PyWorkerProcessGroup beta\n",
    # RewriteRule [P] to pyworker:// is held to the same lists.
    "alpha-only/rw-alpha": "RewriteEngine On\n"
                           "RewriteRule ^(.*)$ pyworker://alpha/rw/$1 [P]\n",
    "alpha-only/rw-beta": "RewriteEngine On\n"
                          "RewriteRule ^(.*)$ pyworker://beta/rw/$1 [P]\n",
    "open/rw-free": "RewriteEngine On\n"
                    "RewriteRule ^(.*)$ pyworker://beta/rw/$1 [P]\n",
    "open/rw-foreign": "RewriteEngine On\n"
                       "RewriteRule ^(.*)$ pyworker://private/$1 [P]\n",
    "alpha-only/rw-shop": "RewriteEngine On\n"
                          "RewriteRule ^(.*)$ balancer://shop/$1 [P]\n",
}

# What the core logs (level alert) for a directive a .htaccess may not use.
HTACCESS_REFUSED = r"\.htaccess: PyWorker\w+ "


def _mkdir(path):
    os.makedirs(path, exist_ok=True)
    os.chmod(path, 0o755)


@pytest.fixture(scope="module")
def httpd(apache):
    a = apache(CONF, ready=["/ready"])
    _mkdir(a.path("tenants"))
    for site, htaccess in TENANTS.items():
        area = a.path("tenants", site.split("/")[0])
        _mkdir(area)
        _mkdir(a.path("tenants", site))
        script = a.path("tenants", site, "app.wsgi")
        shutil.copy(a.path("apps", "environ.wsgi"), script)
        os.chmod(script, 0o644)
        if htaccess is not None:
            path = a.path("tenants", site, ".htaccess")
            with open(path, "w") as f:
                f.write(htaccess)
            os.chmod(path, 0o644)
    return a


def get(httpd, path, host="main.test"):
    return httpd.get(path, headers={"Host": host})


def served_by(r):
    """The app's view of the request: its process and application group."""
    assert r.status_code == 200, r.text
    env = r.json()["environ"]
    return (env["mod_pyworker.process_group"],
            env["mod_pyworker.application_group"])


def refused(httpd, path, code, host="main.test"):
    """path answers 500 and logs exactly one severe line, with code; that
    line is returned."""
    httpd.log.expect(codes=[code])
    mark = httpd.log.mark()
    r = get(httpd, path, host)
    assert r.status_code == 500, r.text
    assert "mod_pyworker.process_group" not in r.text
    assert httpd.log.wait_for(r"\bPYW%04d\b" % code, since=mark), \
        httpd.log.text(mark)
    severe = [l for l in httpd.log.lines(since=mark) if l.severe]
    assert len(severe) == 1 and severe[0].code == code, severe
    assert "uri=%s" % path in severe[0], severe[0]
    return severe[0]


# ---- PyWorkerRestrictProcess in a virtual host and a <Location> ----

def test_vhost_restriction_lets_the_listed_group_serve(httpd):
    r = get(httpd, "/alpha", host="restricted.test")
    assert served_by(r) == ("alpha", "")        # %{GLOBAL}


def test_alias_group_outside_the_vhost_list_gives_500_and_one_line(httpd):
    line = refused(httpd, "/beta", 107, host="restricted.test")
    assert "'beta'" in line and "allows only: alpha" in line, line
    assert "group=beta" in line


def test_inner_list_replaces_the_outer_one(httpd):
    # <Location /inner> lists beta only: beta is allowed there, and alpha,
    # allowed by the vhost, is not (the lists are not joined).
    r = get(httpd, "/inner/beta", host="restricted.test")
    assert served_by(r)[0] == "beta"
    line = refused(httpd, "/inner/alpha", 107, host="restricted.test")
    assert "'alpha'" in line and "allows only: beta" in line, line


# ---- PyWorkerRestrictProcess in a <Directory> ----

def test_directory_group_in_the_list_serves(httpd):
    assert served_by(get(httpd, "/t/alpha-only/dir-alpha"))[0] == "alpha"


def test_directory_group_outside_the_list_gives_500_and_one_line(httpd):
    line = refused(httpd, "/t/alpha-only/dir-beta", 107)
    assert "'beta'" in line and "allows only: alpha" in line, line


# ---- .htaccess (AllowOverride FileInfo) ----

def test_htaccess_chooses_the_group_and_application_group(httpd):
    r = get(httpd, "/t/alpha-only/ht-alpha")
    assert served_by(r) == ("alpha", "")        # %{GLOBAL}


def test_htaccess_without_a_restriction_may_choose_any_visible_group(httpd):
    assert served_by(get(httpd, "/t/open/free"))[0] == "beta"


def test_alias_process_group_wins_over_htaccess(httpd):
    assert served_by(get(httpd, "/pinned"))[0] == "alpha"


def test_htaccess_choosing_a_group_outside_the_list_gives_500(httpd):
    line = refused(httpd, "/t/alpha-only/ht-beta", 107)
    assert "'beta'" in line and "allows only: alpha" in line, line


def test_htaccess_cannot_widen_the_list(httpd):
    # Not allowed under AllowOverride FileInfo ...
    httpd.log.expect(HTACCESS_REFUSED)
    assert get(httpd, "/t/alpha-only/widen").status_code == 500
    # ... nor when AllowOverrideList names it: the directive refuses it.
    mark = httpd.log.mark()
    assert get(httpd, "/t/alpha-only/listed").status_code == 500
    lines = httpd.log.wait_for(HTACCESS_REFUSED, since=mark)
    assert lines and "PyWorkerRestrictProcess" in lines[0] \
        and "htaccess" in lines[0].split(".htaccess:", 1)[1], lines


def test_htaccess_without_fileinfo_override_cannot_choose(httpd):
    httpd.log.expect(HTACCESS_REFUSED)
    mark = httpd.log.mark()
    assert get(httpd, "/t/no-fileinfo/site").status_code == 500
    lines = httpd.log.wait_for(HTACCESS_REFUSED, since=mark)
    assert lines and "PyWorkerProcessGroup" in lines[0], lines


def test_htaccess_naming_an_unknown_group_gives_500_and_one_line(httpd):
    line = refused(httpd, "/t/open/unknown", 101)
    assert "'nosuch'" in line and "group=nosuch" in line, line


def test_htaccess_naming_another_vhosts_group_gives_500_and_one_line(httpd):
    line = refused(httpd, "/t/open/foreign", 102)
    assert "'private'" in line, line
    # The group itself is fine from its own virtual host.
    assert served_by(get(httpd, "/x", host="other.test"))[0] == "private"


# ---- RewriteRule [P] to pyworker:// in .htaccess ----

def test_htaccess_rewrite_to_a_group_serves_there(httpd):
    r = get(httpd, "/t/open/rw-free")
    assert served_by(r)[0] == "beta"
    assert r.json()["environ"]["PATH_INFO"] == "/rw/app.wsgi"
    assert served_by(get(httpd, "/t/alpha-only/rw-alpha"))[0] == "alpha"


@pytest.mark.parametrize("site, code, group", [
    ("alpha-only/rw-beta", 107, "beta"),     # outside the list in force
    ("open/rw-foreign", 102, "private"),     # another virtual host's
])
def test_htaccess_rewrite_cannot_reach_a_group_it_may_not_use(
        httpd, site, code, group):
    """A tenant's rewrite reaches no group its PyWorkerProcessGroup could
    not name: 503, one line with the code."""
    httpd.log.expect(codes=[code])
    mark = httpd.log.mark()
    r = get(httpd, "/t/" + site)
    assert r.status_code == 503, r.text
    lines = httpd.log.wait_for(r"\bPYW%04d\b" % code, since=mark)
    assert lines and "'%s'" % group in lines[0], httpd.log.text(mark)


def test_a_refused_rewrite_to_a_shared_balancer_leaves_its_member_in(
        httpd):
    """The 503 put the member in error for its retry=, for every site
    that uses the balancer: a tenant could take it out at will."""
    httpd.log.expect(codes=[107])
    assert get(httpd, "/shop/").status_code == 200
    assert get(httpd, "/t/alpha-only/rw-shop").status_code == 503
    row = member_row(manager_page(httpd, "shop"), "shop", "pyworker://beta")
    assert "Err" not in row[5], row
    assert get(httpd, "/shop/").status_code == 200


# ---- configtest ----

def test_restriction_is_accepted_in_every_configuration_context():
    rc, out = configtest("""
PyWorkerDaemonProcess g1
PyWorkerDaemonProcess g2
PyWorkerRestrictProcess g1 g2
<VirtualHost 127.0.0.1:{port}>
    ServerName vh.test
    PyWorkerRestrictProcess g1
</VirtualHost>
<Directory {apps}>
    PyWorkerRestrictProcess g2
</Directory>
<Location /a>
    PyWorkerRestrictProcess g1
</Location>
<Files app.wsgi>
    PyWorkerRestrictProcess g1 g2
</Files>
""")
    assert rc == 0, out


@pytest.mark.parametrize("args,named", [
    ("", "PyWorkerRestrictProcess"),                 # no group given
    ("g1 bad/name", "bad/name"),
    ("%{GLOBAL}", "%{GLOBAL}"),
    ("g1 nosuch", "PYW0002"),                        # no such group
])
def test_bad_restriction_argument_fails_configtest(args, named):
    rc, out = configtest("PyWorkerDaemonProcess g1\n"
                         "<Location /a>\n"
                         "    PyWorkerRestrictProcess %s\n"
                         "</Location>\n" % args)
    assert rc != 0, out
    assert named in out, out


def test_a_top_level_directory_may_name_a_vhosts_group(fresh_apache):
    """A <Directory> outside every <VirtualHost> serves every host, so
    naming a vhost's group there is checked per request, as mod_wsgi does
    (configtest refused it, PYW0003): that host's requests run in it,
    another host's get 500 and PYW0102."""
    a = fresh_apache("""
<VirtualHost 127.0.0.1:{port}>
    ServerName other.test
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName shop.test
    PyWorkerDaemonProcess shop threads=1 display-name=pyw-rshop
    PyWorkerScriptAlias /app {apps}/environ.wsgi
</VirtualHost>
<Directory {apps}>
    PyWorkerProcessGroup shop
</Directory>
PyWorkerScriptAlias /app {apps}/environ.wsgi
""", ready=[])
    r = a.get("/app", headers={"Host": "shop.test"})
    assert r.status_code == 200, r.text
    assert r.json()["environ"]["mod_pyworker.process_group"] == "shop"
    a.log.expect(r"PYW0102")
    assert a.get("/app", headers={"Host": "other.test"}).status_code == 500
    assert a.log.wait_for(r"PYW0102")

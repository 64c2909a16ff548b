"""A status page in a virtual host shows the groups that host can use:
its own and the main server's, never another tenant's (their URIs and
numbers are theirs)."""
import pytest

CONF = """
PyWorkerDaemonProcess shared threads=1 display-name=pyw-sv-shared
<Location /pyworker-status>
    SetHandler pyworker-status
</Location>
<VirtualHost 127.0.0.1:{port}>
    ServerName main.test
    PyWorkerScriptAlias /s {apps}/status_codes.wsgi process-group=shared
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName alpha.test
    PyWorkerDaemonProcess alpha threads=1 display-name=pyw-sv-alpha
    PyWorkerScriptAlias /a {apps}/status_codes.wsgi process-group=alpha
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName beta.test
    PyWorkerDaemonProcess beta threads=1 display-name=pyw-sv-beta
    PyWorkerScriptAlias /b {apps}/status_codes.wsgi process-group=beta
    # Two tenants of beta's host, each held to its own group; the
    # first's .htaccess turns on a status page (the test writes it).
    PyWorkerDaemonProcess beta2 threads=1 display-name=pyw-sv-beta2
    Alias /t1 {htdocs}/t1
    <Directory {htdocs}/t1>
        AllowOverride FileInfo
        PyWorkerRestrictProcess beta2
    </Directory>
</VirtualHost>
"""


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/s/200"])


def groups_seen(httpd, host):
    r = httpd.get("/pyworker-status?json", headers={"Host": host})
    assert r.status_code == 200
    return [g["name"] for g in r.json()["groups"]]


def test_each_vhost_sees_its_own_groups_and_the_main_servers(httpd):
    assert groups_seen(httpd, "main.test") == ["shared"]
    assert groups_seen(httpd, "alpha.test") == ["shared", "alpha"]
    assert groups_seen(httpd, "beta.test") == ["shared", "beta", "beta2"]


def test_a_tenants_htaccess_status_page_shows_only_its_groups(httpd):
    """A tenant's .htaccess may SetHandler pyworker-status (FileInfo):
    its page showed every group of the host, with the URIs (and their
    query strings) of other sites' running requests."""
    import os
    os.makedirs(httpd.path("htdocs", "t1"), exist_ok=True)
    with open(httpd.path("htdocs", "t1", ".htaccess"), "w") as f:
        f.write("SetHandler pyworker-status\n")
    r = httpd.get("/t1/?json", headers={"Host": "beta.test"})
    assert r.status_code == 200
    assert [g["name"] for g in r.json()["groups"]] == ["beta2"]
    assert groups_seen(httpd, "beta.test") == ["shared", "beta", "beta2"]


def test_another_tenants_groups_are_not_in_html_or_prometheus(httpd):
    html = httpd.get("/pyworker-status", headers={"Host": "alpha.test"}).text
    prom = httpd.get("/pyworker-status?prometheus",
                     headers={"Host": "alpha.test"}).text
    assert 'id="g-alpha"' in html and 'group="alpha"' in prom
    assert "beta" not in html and "beta" not in prom

"""PyWorkerCallableObject and callable-object= (mod_wsgi's
WSGICallableObject): the WSGI callable is looked up under another name
than `application`, per alias or per location; a name the script lacks
is a 500 with one log line naming it; a name that is not a Python
identifier is refused by configtest."""
import os
import shutil

import pytest

from pyworker_t import codes
from pyworker_t.httpd import configtest

CONF = """
PyWorkerDaemonProcess calls threads=2 display-name=pyw-calls
PyWorkerScriptAlias /app {apps}/callable.wsgi process-group=calls \\
    callable-object=app
PyWorkerScriptAliasMatch ^/match/(callable) {apps}/$1.wsgi \\
    process-group=calls callable-object=other
PyWorkerScriptAlias /byloc {apps}/callable.wsgi process-group=calls
<Location /byloc>
    PyWorkerCallableObject other
</Location>
<Location /byloc/inner>
    PyWorkerCallableObject app
</Location>
PyWorkerScriptAlias /default {apps}/callable.wsgi process-group=calls
PyWorkerScriptAlias /missing {apps}/callable.wsgi process-group=calls \\
    callable-object=nosuch
PyWorkerScriptAlias /notcallable {apps}/callable.wsgi process-group=calls \\
    callable-object=not_callable
PyWorkerScriptAlias /hello {apps}/hello.wsgi process-group=calls
PyWorkerScriptAlias /ht {apps}/ht/callable.wsgi process-group=calls
<Directory {apps}/ht>
    AllowOverride FileInfo
</Directory>
<Directory {htdocs}/idx>
    DirectoryIndex /app
</Directory>
"""


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/hello"])


@pytest.mark.parametrize("path,who", [
    ("/app", "app"),
    ("/match/callable", "other"),
    ("/byloc", "other"),
    ("/byloc/inner", "app"),
])
def test_the_named_callable_serves(httpd, path, who):
    r = httpd.get(path)
    assert r.status_code == 200, r.text
    assert r.json() == {"who": who, "callable_object": who}


def test_a_directory_index_at_an_alias_keeps_its_options(httpd):
    """DirectoryIndex /app serves the alias /app as mod_wsgi does, with
    its process-group= and callable-object=: mod_dir's redirect kept the
    URL but lost the alias's options (500, no process group)."""
    os.makedirs(httpd.path("htdocs", "idx"), exist_ok=True)
    r = httpd.get("/idx/")
    assert r.status_code == 200, r.text
    assert r.json() == {"who": "app", "callable_object": "app"}


def test_htaccess_may_name_the_callable(httpd):
    ht = httpd.path("apps", "ht")
    os.makedirs(ht, exist_ok=True)
    shutil.copy(httpd.path("apps", "callable.wsgi"), ht)
    with open(os.path.join(ht, ".htaccess"), "w") as f:
        f.write("PyWorkerCallableObject other\n")
    r = httpd.get("/ht")
    assert r.status_code == 200, r.text
    assert r.json()["who"] == "other"


def test_the_default_is_application_and_is_in_the_environ(httpd):
    r = httpd.get("/hello")
    assert r.status_code == 200
    httpd.log.expect(codes=[codes.NO_APPLICATION])
    mark = httpd.log.mark()
    r = httpd.get("/default")             # callable.wsgi has none
    assert r.status_code == 500
    line = httpd.log.wait_for(r"\bPYW%04d\b.*no callable 'application'"
                              % codes.NO_APPLICATION, since=mark)
    assert line and "uri=/default" in line[0], httpd.log.tail()


@pytest.mark.parametrize("path,name", [
    ("/missing", "nosuch"),
    ("/notcallable", "not_callable"),
])
def test_a_name_the_script_lacks_is_a_500_naming_it(httpd, path, name):
    httpd.log.expect(codes=[codes.NO_APPLICATION])
    mark = httpd.log.mark()
    r = httpd.get(path)
    assert r.status_code == 500
    lines = httpd.log.wait_for(r"\bPYW%04d\b.*no callable '%s'"
                               % (codes.NO_APPLICATION, name), since=mark)
    assert lines, httpd.log.tail()
    assert "uri=%s" % path in lines[0]
    assert httpd.get("/app").status_code == 200   # the daemon is fine


@pytest.mark.parametrize("snippet", [
    "PyWorkerScriptAlias /a {apps}/callable.wsgi callable-object=app()\n",
    "PyWorkerScriptAlias /a {apps}/callable.wsgi callable-object=1app\n",
    "<Location /a>\n  PyWorkerCallableObject my-app\n</Location>\n",
])
def test_a_name_that_is_not_an_identifier_is_refused(snippet):
    rc, out = configtest("PyWorkerDaemonProcess g1\n" + snippet)
    assert rc != 0
    assert "callable object" in out, out

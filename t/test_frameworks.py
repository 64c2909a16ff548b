"""Real applications written with Debian's Flask, Django and Pyramid,
mounted under a prefix, each in its own daemon group."""
import pytest

from pyworker_t.load import Load

CONF = """
PyWorkerDaemonProcess flask threads=4 display-name=pyw-flask
PyWorkerDaemonProcess django threads=4 display-name=pyw-django
PyWorkerDaemonProcess pyramid threads=4 display-name=pyw-pyramid
PyWorkerScriptAlias /flask {apps}/flask_app/app.wsgi process-group=flask
PyWorkerScriptAlias /django {apps}/django_site/site.wsgi process-group=django
PyWorkerScriptAlias /pyramid {apps}/pyramid_app.wsgi process-group=pyramid
"""


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/flask/", "/django/", "/pyramid/"])


def base(httpd):
    return "http://127.0.0.1:%d" % httpd.port


# -- Flask --------------------------------------------------------------
def test_flask_text_route(httpd):
    r = httpd.get("/flask/")
    assert r.status_code == 200 and r.text == "flask ok\n"


def test_flask_json_and_script_root(httpd):
    r = httpd.get("/flask/json")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.json() == {"framework": "flask", "items": [1, 2, 3],
                        "script_root": "/flask"}


def test_flask_url_for_includes_mount_point(httpd):
    r = httpd.get("/flask/hello/bob")
    assert r.json()["hello"] == "bob"
    assert r.json()["url"] == "/flask/hello/again"
    assert r.json()["external"] == base(httpd) + "/flask/hello/again"


def test_flask_form_post_and_upload(httpd):
    r = httpd.post("/flask/form", data={"name": "ann", "item": ["1", "2"]})
    assert r.json() == {"name": "ann", "items": ["1", "2"], "upload": None}
    r = httpd.post("/flask/form", data={"name": "f"},
                   files={"file": ("a.bin", b"\0" * 300000)})
    assert r.json()["upload"] == 300000


def test_flask_streamed_response_and_404(httpd):
    r = httpd.get("/flask/stream")
    assert r.text == "line 0\nline 1\nline 2\n"
    assert httpd.get("/flask/nope").status_code == 404


# -- Django -------------------------------------------------------------
def test_django_text_view(httpd):
    r = httpd.get("/django/")
    assert r.status_code == 200 and r.text == "django ok\n"


def test_django_json_view_and_script_name(httpd):
    r = httpd.get("/django/json/")
    assert r.json() == {"framework": "django", "items": [1, 2, 3],
                        "script_name": "/django"}


def test_django_reverse_includes_mount_point(httpd):
    r = httpd.get("/django/hello/bob/")
    assert r.json()["hello"] == "bob"
    assert r.json()["url"] == "/django/hello/again/"
    assert r.json()["absolute"] == base(httpd) + "/django/hello/again/"


def test_django_append_slash_redirect(httpd):
    r = httpd.get("/django/json", allow_redirects=False)
    assert r.status_code == 301
    assert r.headers["Location"].endswith("/django/json/")


def test_django_form_post(httpd):
    r = httpd.post("/django/form/", data={"name": "bo", "item": ["x", "y"]})
    assert r.json() == {"name": "bo", "items": ["x", "y"], "method": "POST"}


def test_django_404_is_djangos(httpd):
    httpd.log.expect(r"Not Found: /django/nope")   # Django logs to stderr
    r = httpd.get("/django/nope/")
    assert r.status_code == 404
    assert "Not Found" in r.text


# -- Pyramid ------------------------------------------------------------
def test_pyramid_text_view(httpd):
    r = httpd.get("/pyramid/")
    assert r.status_code == 200 and r.text == "pyramid ok\n"


def test_pyramid_route_urls_include_mount_point(httpd):
    r = httpd.get("/pyramid/hello/zed")
    out = r.json()
    assert out["hello"] == "zed"
    assert out["url"] == "/pyramid/hello/again"
    assert out["full_url"] == base(httpd) + "/pyramid/hello/again"
    assert out["script_name"] == "/pyramid"
    assert out["path_info"] == "/hello/zed"


def test_pyramid_form_post(httpd):
    r = httpd.post("/pyramid/form", data={"name": "p", "item": ["1", "2"]})
    assert r.json() == {"name": "p", "count": 2}


# -- all three at once ----------------------------------------------------
def test_frameworks_under_concurrent_load(httpd):
    paths = ["/flask/json", "/django/json/", "/pyramid/hello/x"]
    result = Load(httpd.port, lambda i: paths[i % 3], total=150,
                  concurrency=12, timeout=20, deadline=90).run()
    assert result.counts == {200: 150}, result.failures()[:10]

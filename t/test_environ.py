"""The WSGI environ: CGI variables as Apache computes them, HTTP_* headers
with the spoofing rules, and every wsgi.* key (PEP 3333)."""
import json

import pytest

from pyworker_t import rawhttp

CONF = """
PyWorkerDaemonProcess env processes=2 threads=4 display-name=pyw-env
PyWorkerDaemonProcess single processes=1 threads=1 display-name=pyw-single
PyWorkerScriptAlias /app {apps}/environ.wsgi process-group=env
PyWorkerScriptAlias /single {apps}/environ.wsgi process-group=single
PyWorkerScriptAlias /auth {apps}/environ.wsgi process-group=env
PyWorkerScriptAliasMatch ^/match/([a-z]+) {apps}/$1.wsgi
<Location /match>
    PyWorkerProcessGroup env
    PyWorkerApplicationGroup %{GLOBAL}
</Location>
<Location /auth>
    PyWorkerPassAuthorization On
</Location>
<Location /app/headers>
    RequestHeader set X-Set-By-Apache "yes"
</Location>
SetEnv PYW_TEST_VAR "set by SetEnv"
SetEnv wsgi.run_once "spoofed"
SetEnv wsgi.version "spoofed"
SetEnv mod_pyworker.paste_app "main"
SetEnv mod_pyworker.application_group "spoofed"
SetEnv mod_pyworker.log_id "spoofed"

<VirtualHost 127.0.0.1:{port}>
    ServerName main.test
    PyWorkerScriptAlias /app {apps}/environ.wsgi process-group=env
    PyWorkerScriptAlias /auth {apps}/environ.wsgi process-group=env
    PyWorkerScriptAliasMatch ^/match/([a-z]+) {apps}/$1.wsgi
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName root.test
    PyWorkerDaemonProcess vhost threads=2 display-name=pyw-vhost
    PyWorkerScriptAlias / {apps}/environ.wsgi process-group=vhost
</VirtualHost>
"""


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/app"])


def env_of(httpd, path, method="GET", headers=None, body=None,
           version="HTTP/1.1", host=None):
    hdrs = list((headers or {}).items()) if isinstance(headers, dict) \
        else list(headers or [])
    if host:
        hdrs.insert(0, ("Host", host))
    with rawhttp.Conn(httpd.port) as c:
        r = c.request(method, path, hdrs, body, version)
        assert r.status == 200, (r.status, r.body[:500])
        out = json.loads(r.body)
        out["client_port"] = c.local_port
        return out


def test_script_name_and_path_info_split_at_the_alias(httpd):
    e = env_of(httpd, "/app/sub/path%20x?a=1")["environ"]
    assert e["SCRIPT_NAME"] == "/app"
    assert e["PATH_INFO"] == "/sub/path x"
    assert e["REQUEST_URI"] == "/app/sub/path%20x?a=1"


def test_non_ascii_path_info_is_latin1_decoded_bytes(httpd):
    # PEP 3333: the URL-decoded bytes, as a str decoded with latin-1.
    e = env_of(httpd, "/app/caf%C3%A9/%E2%82%AC")["environ"]
    assert e["PATH_INFO"] == "/caf\u00c3\u00a9/\u00e2\u0082\u00ac"
    assert e["PATH_INFO"].encode("latin-1").decode("utf-8") == \
        "/caf\u00e9/\u20ac"
    assert e["REQUEST_URI"] == "/app/caf%C3%A9/%E2%82%AC"


def test_alias_itself_gives_empty_path_info(httpd):
    e = env_of(httpd, "/app")["environ"]
    assert e["SCRIPT_NAME"] == "/app"
    assert e.get("PATH_INFO", "") == ""


def test_alias_matches_whole_segments_only(httpd):
    r = httpd.get("/application")
    assert r.status_code == 404


def test_alias_at_root_gives_empty_script_name(httpd):
    e = env_of(httpd, "/x/y", host="root.test")["environ"]
    assert e["SCRIPT_NAME"] == ""
    assert e["PATH_INFO"] == "/x/y"
    e = env_of(httpd, "/", host="root.test")["environ"]
    assert e["SCRIPT_NAME"] == ""
    assert e["PATH_INFO"] == "/"


def test_group_defined_in_a_virtual_host_serves_it(httpd):
    out = env_of(httpd, "/", host="root.test")
    assert out["environ"]["mod_pyworker.process_group"] == "vhost"
    assert out["pid"] in httpd.daemon_pids("vhost")


def test_alias_match_sets_script_from_regex_and_group_from_location(httpd):
    out = env_of(httpd, "/match/environ/extra/path")
    e = out["environ"]
    assert e["SCRIPT_NAME"] == "/match/environ"
    assert e["PATH_INFO"] == "/extra/path"
    assert e["SCRIPT_FILENAME"] == httpd.path("apps", "environ.wsgi")
    assert e["mod_pyworker.process_group"] == "env"


def test_query_string_is_raw(httpd):
    qs = "a=1&b=%2F&c=%20&d=%E2%82%AC&e=x+y&&f"
    e = env_of(httpd, "/app?" + qs)["environ"]
    assert e["QUERY_STRING"] == qs
    e = env_of(httpd, "/app")["environ"]
    assert e.get("QUERY_STRING", "") == ""


def test_request_and_server_variables(httpd):
    out = env_of(httpd, "/app/v", host="main.test:%d" % httpd.port)
    e = out["environ"]
    assert e["REQUEST_METHOD"] == "GET"
    assert e["REMOTE_ADDR"] == "127.0.0.1"
    assert e["REMOTE_PORT"] == str(out["client_port"])
    assert e["SERVER_NAME"] == "main.test"
    assert e["SERVER_PORT"] == str(httpd.port)
    assert e["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert e["SCRIPT_FILENAME"] == httpd.path("apps", "environ.wsgi")
    assert e["DOCUMENT_ROOT"] == httpd.path("htdocs")
    assert e["GATEWAY_INTERFACE"] == "CGI/1.1"
    assert e["HTTP_HOST"] == "main.test:%d" % httpd.port


def test_http10_protocol(httpd):
    e = env_of(httpd, "/app", version="HTTP/1.0")["environ"]
    assert e["SERVER_PROTOCOL"] == "HTTP/1.0"


def test_content_type_and_length(httpd):
    out = env_of(httpd, "/app", "POST", {"Content-Type": "text/x-pyw"},
                 b"0123456789")
    assert out["environ"]["CONTENT_TYPE"] == "text/x-pyw"
    assert out["environ"]["CONTENT_LENGTH"] == "10"
    assert out["body_len"] == 10
    e = env_of(httpd, "/app")["environ"]
    assert e.get("CONTENT_LENGTH", "") in ("", "0")
    assert "CONTENT_TYPE" not in e or e["CONTENT_TYPE"] == ""


def test_setenv_value_is_passed(httpd):
    e = env_of(httpd, "/app")["environ"]
    assert e["PYW_TEST_VAR"] == "set by SetEnv"


def test_request_headers_become_http_variables(httpd):
    e = env_of(httpd, "/app", headers=[("X-Custom-Thing", "value 1"),
                                       ("Accept", "text/plain")])["environ"]
    assert e["HTTP_X_CUSTOM_THING"] == "value 1"
    assert e["HTTP_ACCEPT"] == "text/plain"


def test_request_header_set_by_mod_headers_is_seen(httpd):
    e = env_of(httpd, "/app/headers")["environ"]
    assert e["HTTP_X_SET_BY_APACHE"] == "yes"


def test_header_with_underscore_is_dropped_dash_version_kept(httpd):
    e = env_of(httpd, "/app", headers=[("X-Under", "good"),
                                       ("X_Under", "evil"),
                                       ("X_Only_Underscore", "evil")])
    e = e["environ"]
    assert e["HTTP_X_UNDER"] == "good"
    assert "HTTP_X_ONLY_UNDERSCORE" not in e
    assert "evil" not in json.dumps(e)


def test_header_value_is_latin1_decoded_str(httpd):
    e = env_of(httpd, "/app", headers=[("X-Latin", b"caf\xe9")])["environ"]
    assert e["HTTP_X_LATIN"] == "caf\u00e9"


def test_authorization_hidden_by_default(httpd):
    e = env_of(httpd, "/app", headers={"Authorization": "Basic dTpw"})
    assert "HTTP_AUTHORIZATION" not in e["environ"]


def test_authorization_passed_with_pass_authorization_on(httpd):
    e = env_of(httpd, "/auth", headers={"Authorization": "Basic dTpw"})
    assert e["environ"]["HTTP_AUTHORIZATION"] == "Basic dTpw"


@pytest.mark.parametrize("path", ["/app", "/auth"])
def test_proxy_and_proxy_authorization_never_passed(httpd, path):
    e = env_of(httpd, path, headers={"Proxy": "http://evil:1",
                                     "Proxy-Authorization": "Basic eDp5"})
    assert "HTTP_PROXY" not in e["environ"]
    assert "HTTP_PROXY_AUTHORIZATION" not in e["environ"]


def test_every_wsgi_key_with_its_type(httpd):
    out = env_of(httpd, "/app")
    t, w = out["types"], out["wsgi"]
    assert out["keys_all_str"]
    assert w["version"] == [1, 0] and w["version_is_tuple"]
    assert w["url_scheme"] == "http"
    assert t["wsgi.url_scheme"] == "str"
    assert w["multithread"] is True           # threads=4
    assert w["multiprocess"] is True          # processes=2
    assert w["run_once"] is False
    assert w["input_terminated"] is True
    assert w["input_methods"] == ["__iter__", "read", "readline",
                                  "readlines"]
    assert w["errors_methods"] == ["flush", "write", "writelines"]
    assert w["file_wrapper_callable"]
    for k in ("wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once",
              "wsgi.input_terminated"):
        assert t[k] == "bool", k


def test_one_process_one_thread_is_neither_multiprocess_nor_multithread(
        httpd):
    # As mod_wsgi: Werkzeug's debugger refuses to run when it is True.
    w = env_of(httpd, "/single")["wsgi"]
    assert w["multiprocess"] is False
    assert w["multithread"] is False


def test_setenv_cannot_replace_wsgi_keys(httpd):
    # CONF sets wsgi.run_once and wsgi.version with SetEnv.
    for _ in range(3):      # the first request and the cached key paths
        w = env_of(httpd, "/app")["wsgi"]
        assert w["run_once"] is False and w["version"] == [1, 0]


def test_setenv_cannot_set_mod_pyworker_keys(httpd):
    """CONF sets mod_pyworker.* keys with SetEnv (a tenant's .htaccess
    can): mod_pyworker.paste_app made the daemon load the .wsgi script as
    a PasteDeploy file (500)."""
    e = env_of(httpd, "/app")["environ"]
    assert "mod_pyworker.paste_app" not in e
    assert e["mod_pyworker.application_group"] == ""
    assert e.get("mod_pyworker.log_id") != "spoofed"


def test_cgi_values_are_native_strings(httpd):
    out = env_of(httpd, "/app/p?q=1", headers={"X-A": "b"})
    t = out["types"]
    for k in ("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING",
              "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL",
              "REMOTE_ADDR", "HTTP_X_A"):
        assert t[k] == "str", k


def test_mod_pyworker_keys(httpd):
    e = env_of(httpd, "/app")["environ"]
    assert e["mod_pyworker.process_group"] == "env"
    assert e["mod_pyworker.application_group"] in ("", "%{GLOBAL}")


def test_environ_is_fresh_for_each_request(httpd):
    a = env_of(httpd, "/app", headers={"X-Only-First": "1"})
    b = env_of(httpd, "/app")
    assert "HTTP_X_ONLY_FIRST" in a["environ"]
    assert "HTTP_X_ONLY_FIRST" not in b["environ"]


def test_many_headers_and_a_long_one(httpd):
    hdrs = [("X-H%03d" % i, "v%d" % i) for i in range(60)]
    hdrs.append(("X-Long", "L" * 6000))
    e = env_of(httpd, "/app", headers=hdrs)["environ"]
    assert e["HTTP_X_H059"] == "v59"
    assert e["HTTP_X_LONG"] == "L" * 6000


def test_unknown_host_uses_first_virtual_host(httpd):
    e = env_of(httpd, "/app", host="other.test")["environ"]
    assert e["SCRIPT_NAME"] == "/app"

"""Bad applications: a clear answer to the client, the details in the
error log (never in the response), and nothing else harmed.

Errors found before the headers went out give 500; errors after them must
not look like a complete response (the connection is aborted: a chunked
body lacks its 0-chunk, a Content-Length body stays short).
"""
import os
import re
import time
import uuid

import pytest

from pyworker_t import codes, rawhttp
from pyworker_t.load import Load

CONF = """
PyWorkerDaemonProcess errs threads=4 display-name=pyw-errs
PyWorkerScriptAlias /errors {apps}/errors.wsgi process-group=errs
PyWorkerScriptAlias /broken {apps}/broken_import.wsgi process-group=errs
PyWorkerScriptAlias /hello {apps}/hello.wsgi process-group=errs
PyWorkerScriptAlias /echo {apps}/echo.wsgi process-group=errs
"""

NOISE = [codes.APACHE_REQUEST, codes.PYTHON]   # client went away


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/hello"])


def get(httpd, path, **kw):
    kw.setdefault("timeout", 15)
    return rawhttp.request(httpd.port, "GET", path, **kw)


def assert_hello_still_works(httpd):
    r = get(httpd, "/hello")
    assert r.status == 200 and r.body == b"Hello, World!\n"


def no_leak(r, *secrets):
    body = r.body.decode("latin-1")
    assert "Traceback" not in body
    for s in secrets:
        assert s not in body


@pytest.mark.parametrize("case", ["raise_before", "raise_after_start"])
def test_app_exception_gives_500_and_traceback_in_log(httpd, case):
    httpd.log.expect(codes=[codes.APP_EXCEPTION])
    mark = httpd.log.mark()
    r = get(httpd, "/errors?case=" + case)
    assert r.status == 500
    no_leak(r, "pyw-secret", "RuntimeError")
    lines = httpd.log.wait_for("pyw-secret-" + case, since=mark)
    assert lines, "exception message not in the error log"
    text = httpd.log.text(mark)
    assert "Traceback" in text
    assert re.search(r"group=errs\b", lines[0]), lines[0]
    assert lines[0].code == codes.APP_EXCEPTION
    assert_hello_still_works(httpd)


BAD_BEFORE_HEADERS = [
    "bad_status_text", "bad_status_int", "bad_status_bytes",
    "header_name_bytes", "header_value_bytes", "header_value_int",
    "header_not_tuple", "header_nonlatin1", "header_crlf_value",
    "header_lf_value", "header_crlf_name", "hop_connection",
    "hop_transfer_encoding", "hop_keep_alive", "hop_upgrade",
    "hop_proxy_authenticate", "status_100", "status_103",
    "header_ctl_value", "header_del_value", "header_ctl_type",
    "no_start_response", "no_start_response_empty", "str_body",
    "none_result",
]


@pytest.mark.parametrize("case", BAD_BEFORE_HEADERS)
def test_invalid_response_gives_500_and_log_line_naming_script(httpd, case):
    httpd.log.expect(codes=[codes.APP_EXCEPTION, codes.NO_START_RESPONSE])
    mark = httpd.log.mark()
    r = get(httpd, "/errors?case=" + case)
    assert r.status == 500, (r.status, r.headers)
    assert r.header("X-Evil") is None
    no_leak(r, "should not be sent")
    lines = httpd.log.wait_for(r"PYW03\d\d.*(errors\.wsgi|uri=/errors)",
                               since=mark)
    assert lines, "no PYW03xx line naming the script:\n" + \
        httpd.log.text(mark)
    assert lines[0].code in (codes.APP_EXCEPTION, codes.NO_START_RESPONSE)
    assert_hello_still_works(httpd)


@pytest.mark.parametrize("case,framing", [("raise_in_iter", "chunked"),
                                          ("raise_in_iter_cl", "length"),
                                          ("excinfo_after_headers",
                                           "chunked")])
def test_error_after_headers_is_not_a_complete_response(httpd, case,
                                                        framing):
    httpd.log.expect(codes=[codes.APP_ABORTED])
    mark = httpd.log.mark()
    r = get(httpd, "/errors?case=" + case)
    assert r.status == 200
    assert r.framing == framing
    assert not r.complete, "truncated response looked complete: %r" % r
    assert r.ended in ("eof", "reset"), r.ended
    assert b"not re-raised" not in r.body
    no_leak(r, "pyw-secret")
    lines = httpd.log.wait_for("pyw-secret-", since=mark)
    assert lines and lines[0].code == codes.APP_ABORTED
    assert_hello_still_works(httpd)


def test_body_shorter_than_content_length_is_never_complete(httpd):
    httpd.log.expect(codes=[codes.BODY_SHORT])
    r = get(httpd, "/errors?case=short_body")
    assert r.status in (200, 500)
    if r.status == 200:
        assert r.header("Content-Length") == "100"
        assert not r.complete and len(r.body) == 10
        assert r.ended in ("eof", "reset")
    assert_hello_still_works(httpd)


@pytest.mark.parametrize("case", ["long_body_one", "long_body_split"])
def test_body_longer_than_content_length_is_never_complete(httpd, case):
    httpd.log.expect(codes=[codes.BODY_OVERFLOW])
    with rawhttp.Conn(httpd.port) as c:
        r = c.request("GET", "/errors?case=" + case)
        if r.status == 200:
            assert r.header("Content-Length") == "10"
            # Even exactly 10 bytes must not be passed off as the whole
            # answer: the connection has to be aborted before that.
            assert not r.complete, "overlong body passed off as complete"
        else:
            assert r.status == 500
    assert_hello_still_works(httpd)


def test_second_start_response_without_exc_info_raises(httpd):
    r = get(httpd, "/errors?case=second_call")
    assert r.status == 200
    assert r.body.startswith(b"raised "), r.body


def test_start_response_takes_keywords_and_refuses_bad_calls(httpd):
    r = get(httpd, "/errors?case=call_signatures")
    assert (r.status, r.reason) == (202, "By Keyword")
    assert r.body == (b"TypeError TypeError TypeError TypeError TypeError\n"
                      b"written by builtin_function_or_method")


def test_exc_info_before_headers_replaces_status(httpd):
    r = get(httpd, "/errors?case=excinfo_before_headers")
    assert r.status == 500
    assert r.reason == "Replaced"
    assert r.body == b"replaced"


def test_exc_info_after_only_empty_chunks_still_replaces_status(httpd):
    r = get(httpd, "/errors?case=excinfo_after_empty")
    assert r.status == 500 and r.reason == "Replaced Late"
    assert r.body == b"replaced late" and r.complete


def test_exc_info_that_is_no_exceptions_raises_type_error(httpd):
    """Restored as given, (1, 2, 3) left a state that crashed the daemon
    (SIGSEGV) at a later request's exception."""
    pids = httpd.daemon_pids("errs")
    r = get(httpd, "/errors?case=excinfo_malformed")
    assert r.body == b"first\nTypeError TypeError TypeError\n", r.body
    httpd.log.expect(codes=[codes.APP_EXCEPTION, codes.APP_ABORTED])
    for _ in range(5):
        get(httpd, "/errors?case=raise_in_iter")     # a cut 200
        assert get(httpd, "/errors?case=raise_before").status == 500
        assert_hello_still_works(httpd)
    assert httpd.daemon_pids("errs") == pids


def close_marker(httpd, token, timeout):
    path = httpd.path("state", "close-" + token)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            time.sleep(0.05)
            with open(path) as f:
                return f.read()
        time.sleep(0.05)
    return None


def test_close_called_after_normal_end(httpd):
    token = uuid.uuid4().hex
    r = get(httpd, "/errors?case=close_normal&token=" + token)
    assert r.status == 200 and r.complete
    assert r.body == b"chunk 0001\nchunk 0002\nchunk 0003\n"
    assert close_marker(httpd, token, 5) == "closed after 3\n"


def test_close_called_after_exception_in_iteration(httpd):
    httpd.log.expect(codes=[codes.APP_ABORTED])
    token = uuid.uuid4().hex
    r = get(httpd, "/errors?case=close_raise&token=" + token)
    # Whether Apache had sent the headers yet decides between a clean 500
    # and an aborted 200; never a complete 200.
    assert r.status == 500 or not r.complete, r
    assert close_marker(httpd, token, 5) == "closed after 1\n"


@pytest.mark.parametrize("case", ["close_itself_raises",
                                  "close_itself_raises_cl"])
def test_a_failing_close_keeps_the_complete_response(httpd, case):
    """As in mod_wsgi: close() raising is logged, the response the
    application made stands.  With a Content-Length it was a 500 (the
    body was still held back), without one a 200."""
    httpd.log.expect(r"PYW0325")
    mark = httpd.log.mark()
    r = get(httpd, "/errors?case=" + case)
    assert (r.status, r.body, r.complete) == (200, b"ab", True)
    assert httpd.log.wait_for(r"PYW0325.*close\(\) of the response",
                              since=mark)
    assert httpd.log.wait_for(r"pyw-secret-close_itself", since=mark)
    no_leak(r, "pyw-secret")


def test_an_included_urls_lines_name_its_uri(fresh_apache):
    """An SSI include runs as a subrequest whose REQUEST_URI is the
    page's (CGI's rule, mod_wsgi's too): the daemon's traceback named the
    page, Apache's line the include.  Both name the include now."""
    a = fresh_apache("""
LoadModule include_module /usr/lib/apache2/modules/mod_include.so
PyWorkerDaemonProcess inc threads=2 display-name=pyw-inc
PyWorkerScriptAlias /app {apps}/errors.wsgi process-group=inc
<Directory {htdocs}>
    Options +Includes
    AddOutputFilter INCLUDES .shtml
</Directory>
""", ready=["/app?case=second_call"])
    with open(a.path("htdocs", "page.shtml"), "w") as f:
        f.write('before <!--#include virtual="/app/x?case=raise_before" -->'
                ' after\n')
    a.log.expect(r"unable to include",
                 codes=[codes.APP_EXCEPTION, codes.PYTHON, (100, 199)])
    mark = a.log.mark()
    r = a.get("/page.shtml")
    assert r.status_code == 200 and r.text.startswith("before ")
    lines = a.log.wait_for(r"PYW0320.*pyw-secret-raise_before", since=mark)
    assert lines and re.search(r"uri=/app/x(\?\S*)?\)", lines[0]), lines
    assert not a.log.find(r"PYW03\d\d.*uri=/page.shtml", since=mark)


def test_close_called_when_client_disconnects(httpd):
    httpd.log.expect(r"AH\d+", codes=NOISE)
    token = uuid.uuid4().hex
    c = rawhttp.Conn(httpd.port)
    c.send(c.build("GET", "/errors?case=close_disconnect&token=" + token))
    r = c.read_response(max_body=11)
    assert r.status == 200 and r.body.startswith(b"chunk 0001")
    c.close()
    t0 = time.monotonic()
    closed = close_marker(httpd, token, 9)
    assert closed is not None, "close() not called after client went away"
    sent = int(closed.split()[-1])
    assert sent < 400, "iteration was not stopped when the client left"
    assert time.monotonic() - t0 < 8
    assert_hello_still_works(httpd)


def test_broken_import_gives_500_for_its_urls_only(httpd):
    httpd.log.expect(codes=[codes.SCRIPT_LOAD_FAILED])
    mark = httpd.log.mark()
    for _ in range(3):
        r = get(httpd, "/broken")
        assert r.status == 500
        no_leak(r, "pyw-secret-broken-import")
        assert_hello_still_works(httpd)
        r = get(httpd, "/errors?case=write_callable")
        assert r.status == 200
    lines = httpd.log.wait_for("pyw-secret-broken-import", since=mark)
    assert lines and re.search(r"group=errs\b", lines[0])
    assert lines[0].code == codes.SCRIPT_LOAD_FAILED


def test_wsgi_errors_lines_reach_error_log_with_group(httpd):
    httpd.log.expect(codes=[codes.WSGI_ERRORS])    # error level, as mod_wsgi
    token = uuid.uuid4().hex
    mark = httpd.log.mark()
    r = get(httpd, "/errors?case=wsgi_errors&token=" + token)
    assert r.status == 200
    for marker in ("pyw-errors-marker-", "pyw-errors-lines-"):
        lines = httpd.log.wait_for(marker + token, since=mark)
        assert lines, marker + " not in the error log"
        assert re.search(r"group=errs\b", lines[0]), lines[0]
        assert lines[0].code == codes.WSGI_ERRORS


def test_unterminated_text_is_logged_when_its_request_ends(httpd):
    """A partial line waited for its newline: in a kept wsgi.errors, for
    ever; in sys.stderr, until another request's line, glued to it and
    under that request's uri.  Text after a NUL was lost."""
    httpd.log.expect(codes=[codes.WSGI_ERRORS, codes.STDERR, codes.STDOUT])
    token = uuid.uuid4().hex
    mark = httpd.log.mark()
    assert get(httpd, "/errors?case=unterminated&token=" + token).status \
        == 200
    for text, code in (("pyw-kept-", codes.WSGI_ERRORS),
                       ("pyw-partial-", codes.STDERR)):
        lines = httpd.log.wait_for(r"PYW%04d: %s%s \(group=errs pid=\d+ "
                                   r"uri=/errors(\?\S*)?\)$"
                                   % (code, text, token), since=mark)
        assert len(lines) == 1, httpd.log.text(mark)
    assert httpd.log.wait_for(r"before NUL\\x00after NUL %s" % token,
                              since=mark), httpd.log.text(mark)
    # Another request's line on the same stream stands alone.
    other = uuid.uuid4().hex
    get(httpd, "/errors?case=print_stdio&token=" + other)
    line = httpd.log.wait_for("pyw-stderr-marker-" + other, since=mark)
    assert line and "pyw-partial" not in line[0], line


def test_print_to_stdout_and_stderr_goes_to_error_log(httpd):
    httpd.log.expect(codes=[codes.STDOUT, codes.STDERR])
    token = uuid.uuid4().hex
    mark = httpd.log.mark()
    r = get(httpd, "/errors?case=print_stdio&token=" + token)
    assert r.status == 200
    for marker, code in (("pyw-stdout-marker-", codes.STDOUT),
                         ("pyw-stderr-marker-", codes.STDERR)):
        lines = httpd.log.wait_for(marker + token, since=mark)
        assert lines, marker + " not in the error log"
        assert re.search(r"group=errs\b", lines[0]), lines[0]
        assert lines[0].code == code


def test_connection_reused_after_app_error(httpd):
    httpd.log.expect(codes=[codes.APP_EXCEPTION])
    with rawhttp.Conn(httpd.port) as c:
        for _ in range(3):
            r = c.request("GET", "/errors?case=raise_before")
            assert r.status == 500 and r.complete
            if (r.header("Connection") or "").lower() == "close":
                break
            r = c.request("GET", "/hello")
            assert r.status == 200 and r.body == b"Hello, World!\n"


def test_no_crosstalk_after_abnormal_endings(httpd):
    """Connections that ended badly are closed, never reused with bytes
    left in them: afterwards every request gets exactly its own answer."""
    httpd.log.expect(r"AH\d+", codes=NOISE + [codes.BODY_OVERFLOW,
                                             codes.BODY_SHORT])
    for case in ("raise_in_iter", "long_body_split", "short_body",
                 "excinfo_after_headers", "raise_before", "str_body"):
        get(httpd, "/errors?case=" + case)
    for _ in range(3):                   # client gone mid-response
        c = rawhttp.Conn(httpd.port)
        c.send(c.build("GET", "/errors?case=close_disconnect&token=x"))
        c.read_response(max_body=11)
        c.close()
    big = b"u" * 300000                  # app never reads this body
    for _ in range(3):
        rawhttp.request(httpd.port, "POST", "/hello", body=big)

    def spec(i):
        return "POST", "/echo?raw=1", b"request %d " % i * (1 + i % 50)

    result = Load(httpd.port, spec, total=200, concurrency=8, timeout=20,
                  deadline=60, keep_body=True).run()
    assert result.counts == {200: 200}, result.failures()[:5]
    for rec in result.records:
        assert rec.body == spec(rec.index)[2], rec

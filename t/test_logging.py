"""Python logging to Apache's error log (issue 12 part 2).

A record of the logging module whose handler writes to sys.stderr (or
sys.stdout, or wsgi.errors) - logging.basicConfig(), logging.lastResort,
an explicit StreamHandler(sys.stderr), a fileConfig console handler -
lands in the error log at its own level (PYW0363: DEBUG..CRITICAL ->
debug..crit), filtered by `LogLevel pyworker:...`, one line per line of
the record, each with group=, pid= and the request's uri= (none for a
record logged outside a request).  A line longer than 8 KiB (escaped)
goes on over further log lines, cut between characters, as print()
does, up to 32 of them.  print() and plain sys.stderr writes keep their
level (error); a FileHandler writes its file only.

(A console handler from a PasteDeploy file's [handlers]: t/test_paste.py.)
"""
import re
import time
import uuid

import pytest

RECORD = 363            # a logging record, at its level
STDERR, STDOUT = 361, 362

CONF = """
PyWorkerSocketPrefix {run}/pyws
PyWorkerDaemonProcess pylog threads=2 display-name=pyw-pylog
PyWorkerImportScript {apps}/pylogging.wsgi process-group=pylog
PyWorkerScriptAlias /log {apps}/pylogging.wsgi process-group=pylog
PyWorkerScriptAlias /named {apps}/pylogging.wsgi process-group=pylog \\
    application-group=logs
PyWorkerDaemonProcess flasklog threads=2 display-name=pyw-flasklog
PyWorkerScriptAlias /flask {apps}/flask_app/app.wsgi process-group=flasklog
"""

LEVELS = [("debug", "debug"), ("info", "info"), ("warning", "warn"),
          ("error", "error"), ("critical", "crit")]


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/log", "/flask/"])


def marker():
    return "m" + uuid.uuid4().hex[:10]


def run(httpd, case, count=1, until=""):
    """GET /log?case=...&m=M; (M, the error log lines naming M, every
    line since the request), once `count` lines match M + until."""
    m = marker()
    mark = httpd.log.mark()
    r = httpd.get("/log?case=%s&m=%s" % (case, m))
    assert r.status_code == 200, r.text
    httpd.log.wait_for(re.escape(m) + until, since=mark, count=count)
    time.sleep(0.1)         # anything more would have come by now
    return (m, httpd.log.find(re.escape(m), since=mark),
            httpd.log.lines(mark))


def context(line):
    return re.search(r" \((group=\S+ pid=\d+(?: uri=\S+)?)\)$", line)


def test_each_level_lands_at_the_matching_apache_level(httpd):
    httpd.log.expect(codes=[RECORD])
    m, lines, _ = run(httpd, "levels", count=5)
    got = {}
    for l in lines:
        name = re.search(re.escape(m) + r"-(\w+)", l).group(1)
        got[name] = (l.level, l.code)
    assert got == {name: (level, RECORD) for name, level in LEVELS}, lines
    for l in lines:
        # basicConfig's format, then the context of the request.
        assert re.search(r"PYW0363: [A-Z]+:pywlog:" + m, l), l
        assert re.search(r"uri=/log(\?\S*)?$", context(l).group(1)), l
        assert "group=pylog" in l


def test_records_of_a_named_application_group_keep_their_levels(httpd):
    """The logging hook is installed in each interpreter: a sub-interpreter's
    own logging module routes its records at their levels too."""
    httpd.log.expect(codes=[RECORD])
    m = marker()
    mark = httpd.log.mark()
    r = httpd.get("/named?case=levels&m=%s" % m)
    assert r.status_code == 200, r.text
    lines = httpd.log.wait_for(re.escape(m), since=mark, count=5)
    got = {re.search(re.escape(m) + r"-(\w+)", l).group(1): (l.level, l.code)
           for l in lines}
    assert got == {name: (level, RECORD) for name, level in LEVELS}, lines
    assert all(re.search(r"uri=/named(\?\S*)?$", context(l).group(1)) for l in lines)


def test_multi_line_record_is_one_log_line_per_line(httpd):
    m, lines, _ = run(httpd, "multiline", count=3)
    assert [re.search(re.escape(m) + r"-(\w+)", l).group(1)
            for l in lines] == ["one", "two", "three"], lines
    for l in lines:
        assert l.level == "warn" and l.code == RECORD, l
        assert context(l) and "uri=/log" in l, l
    assert len({l.pid for l in lines}) == 1


def test_exception_traceback_lines_each_carry_the_context(httpd):
    httpd.log.expect(codes=[RECORD])
    m, _, since = run(httpd, "exception", until="-boom")
    record = [l for l in since if l.code == RECORD]
    assert record[0].endswith(")") and "ERROR:pywlog:%s-failed" % m \
        in record[0], record
    assert "Traceback (most recent call last):" in record[1], record
    assert "ValueError: %s-boom" % m in record[-1], record
    assert len(record) >= 4
    for l in record:
        assert l.level == "error" and "group=pylog" in l, l
        assert context(l) and re.search(r"uri=/log(\?\S*)?$", context(l).group(1)), l
    assert len({l.pid for l in record}) == 1


def test_record_at_import_has_no_uri(httpd):
    # The import script's run; /named imports it again, in a request.
    lines = [l for l in httpd.log.find(r"pywlog-import-marker")
             if "uri=/named" not in l]
    assert lines, httpd.log.tail()
    for l in lines:
        assert l.level == "warn" and l.code == RECORD, l
        assert "uri=" not in l and "group=pylog" in l, l


def test_last_resort_handler(httpd):
    m, lines, _ = run(httpd, "lastresort")
    # lastResort is level WARNING: the info record is dropped by logging.
    assert len(lines) == 1 and m + "-lastresort" in lines[0], lines
    assert lines[0].level == "warn" and lines[0].code == RECORD
    assert "uri=/log" in lines[0]


def test_explicit_stream_handler_to_stderr(httpd):
    m, lines, _ = run(httpd, "handler")
    assert len(lines) == 1 and lines[0].level == "info", lines
    assert "PYW0363: explicit INFO %s-explicit" % m in lines[0]


@pytest.mark.parametrize("case", ["stdout", "wsgierrors"])
def test_stream_handler_to_stdout_or_wsgi_errors(httpd, case):
    m, lines, _ = run(httpd, case)
    assert len(lines) == 1, lines
    assert lines[0].level == "warn" and lines[0].code == RECORD, lines
    assert "uri=/log" in lines[0]


def test_flask_app_logger_through_its_wsgi_errors_proxy(httpd):
    m = marker()
    mark = httpd.log.mark()
    assert httpd.get("/flask/log?m=" + m).status_code == 200
    lines = httpd.log.wait_for("flask-log " + m, since=mark)
    assert len(lines) == 1, httpd.log.text(mark)
    assert lines[0].level == "warn" and lines[0].code == RECORD, lines
    assert "WARNING in app: flask-log" in lines[0]
    assert "uri=/flask/log" in lines[0] and "group=flasklog" in lines[0]


def test_file_handler_writes_its_file_only(httpd):
    m = marker()
    mark = httpd.log.mark()
    r = httpd.get("/log?case=file&m=" + m)
    assert r.status_code == 200
    with open(r.text.strip()) as f:
        assert m + "-file" in f.read()
    time.sleep(0.2)
    assert not httpd.log.find(re.escape(m), since=mark)


def test_print_and_stderr_keep_their_level(httpd):
    httpd.log.expect(codes=[STDERR, STDOUT])
    m, lines, _ = run(httpd, "plain", count=2)
    got = sorted((l.code, l.level) for l in lines)
    assert got == [(STDERR, "error"), (STDOUT, "error")], lines


def test_record_after_a_partial_stderr_line_keeps_the_order(httpd):
    """The partial line goes out first, then the record, then the rest."""
    httpd.log.expect(codes=[STDERR])
    m = marker()
    mark = httpd.log.mark()
    assert httpd.get("/log?case=partial&m=" + m).status_code == 200
    httpd.log.wait_for(r"PYW0361: end ", since=mark)
    got = [(l.code, l.level) for l in httpd.log.lines(mark)
           if m in l or "PYW0361: end " in l]
    assert got == [(STDERR, "error"), (RECORD, "warn"), (STDERR, "error")], \
        httpd.log.text(mark)


def record_pieces(httpd, case):
    """GET /log?case=...&m=M of a one-line record; (M, its log lines as
    bytes, their messages decoded: the text between the code and the
    context)."""
    m = marker()
    mark = httpd.log.mark()
    assert httpd.get("/log?case=%s&m=%s" % (case, m)).status_code == 200
    httpd.log.wait_for(re.escape(m), since=mark)
    time.sleep(0.3)         # its further lines would have come by now
    with open(httpd.log.path, "rb") as f:
        f.seek(mark)
        raw = [l for l in f.read().split(b"\n") if b"PYW0363" in l]
    texts = []
    for l in raw:
        try:
            line = l.decode("utf-8")
        except UnicodeDecodeError as e:
            pytest.fail("invalid UTF-8 in the error log line: %s (%r)"
                        % (e, l[e.start - 8:e.end + 40]))
        got = re.search(r"\[pyworker:warn\] .* PYW0363: (.*) "
                        r"\(group=pylog pid=\d+ uri=/log(\?\S*)?\)$", line)
        assert got, "level, code or context lost: %r ... %r" \
            % (line[:120], line[-120:])
        texts.append(got.group(1))
    return m, raw, texts


def test_long_record_is_never_cut_inside_a_utf8_character(httpd):
    """A WARNING record of 4000 x U+20AC (12 kB of UTF-8) was cut at
    8192 bytes in the middle of a character (invalid UTF-8 in the error
    log, which breaks a log shipper that decodes strictly) and the rest
    was dropped.  Now it goes on over a second line, as print() of the
    same text does: each line valid UTF-8 with the code, level and
    context, and nothing lost."""
    m, raw, texts = record_pieces(httpd, "long")
    assert len(raw) == 2, [l[:100] for l in raw]
    assert "".join(texts) == "WARNING:pywlog:%s-long %s" % (m, "\u20ac" * 4000)


def test_escaped_record_keeps_its_context(httpd):
    """A record of 2500 ANSI colour resets ("\\x1b[0m", as colourising
    formatters write) is escaped 4x (\\x1b): the line buffer filled
    before the suffix, so the line ended "...\\x1b.." without its
    "(group=pylog pid=N uri=/log)" (whose line is it, in a log shared by
    groups?) and without its "..." cut mark.  Now every line of it carries
    the context, and the escaped text goes on over further lines."""
    m, raw, texts = record_pieces(httpd, "escapes")
    assert len(raw) == 3, [l[:100] for l in raw]
    assert all(len(l) < 8192 + 512 for l in raw)
    assert "".join(texts) == "WARNING:pywlog:%s-esc %s" \
        % (m, "\\x1b[0m" * 2500)


def test_very_long_record_line_is_cut_after_32_lines(httpd):
    """A line of 300 kB: 32 log lines of 8 KiB, the last marked "...";
    the rest is left out (one record cannot flood the log)."""
    m, raw, texts = record_pieces(httpd, "huge")
    assert len(raw) == 32, len(raw)
    assert all(t.endswith("x") for t in texts[:-1])
    assert texts[-1].endswith("x...")
    assert len("".join(texts)) == 32 * 8192 + 3


def test_log_level_filters_records(apache):
    """LogLevel pyworker:info: DEBUG records are not logged (not even
    formatted); INFO and above are."""
    a = apache(CONF, ready=["/log"], name="logging_info",
               loglevel="info pyworker:info")
    a.log.expect(codes=[RECORD])
    m = marker()
    mark = a.log.mark()
    assert a.get("/log?case=levels&m=" + m).status_code == 200
    a.log.wait_for(re.escape(m) + "-critical", since=mark)
    time.sleep(0.2)
    got = sorted(re.search(re.escape(m) + r"-(\w+)", l).group(1)
                 for l in a.log.find(re.escape(m), since=mark))
    assert got == ["critical", "error", "info", "warning"], got


def test_default_log_level_warn_keeps_warnings_and_up(apache):
    a = apache(CONF, ready=["/log"], name="logging_warn", loglevel="warn")
    a.log.expect(codes=[RECORD])
    m = marker()
    mark = a.log.mark()
    assert a.get("/log?case=levels&m=" + m).status_code == 200
    a.log.wait_for(re.escape(m) + "-critical", since=mark)
    time.sleep(0.2)
    got = sorted(re.search(re.escape(m) + r"-(\w+)", l).group(1)
                 for l in a.log.find(re.escape(m), since=mark))
    assert got == ["critical", "error", "warning"], got

# pylogging.wsgi - records of Python's logging module, the ways
# applications make them (t/test_logging.py).  Loaded as an import script,
# so what it logs at import is logged outside any request.
#   ?case=levels&m=M       one record per level, DEBUG..CRITICAL
#   ?case=exception&m=M    logger.exception(): a traceback in the record
#   ?case=multiline&m=M    a message of three lines
#   ?case=lastresort&m=M   a logger with no handler: logging.lastResort
#   ?case=handler&m=M      an explicit StreamHandler(sys.stderr)
#   ?case=stdout&m=M       a StreamHandler(sys.stdout)
#   ?case=wsgierrors&m=M   a StreamHandler(environ['wsgi.errors'])
#   ?case=file&m=M         a FileHandler: the file, never the error log
#   ?case=plain&m=M        print() and sys.stderr.write(): as before
#   ?case=partial&m=M      a partial sys.stderr line, then a record
#   ?case=long&m=M         a record of 12 kB of 3-byte UTF-8 characters
#   ?case=escapes&m=M      a record of 2500 ANSI colour resets, as
#                          colourising formatters write them
#   ?case=huge&m=M         a record of one 300 kB line
import logging
import os
import sys
from urllib.parse import parse_qs

logging.basicConfig(level=logging.DEBUG,
                    format="%(levelname)s:%(name)s:%(message)s")
log = logging.getLogger("pywlog")
log.warning("pywlog-import-marker logged at import")

alone = logging.getLogger("pywlog.alone")       # -> logging.lastResort
alone.propagate = False

explicit = logging.getLogger("pywlog.explicit")
explicit.propagate = False
_h = logging.StreamHandler(sys.stderr)
_h.setFormatter(logging.Formatter("explicit %(levelname)s %(message)s"))
explicit.addHandler(_h)

to_stdout = logging.getLogger("pywlog.stdout")
to_stdout.propagate = False
to_stdout.addHandler(logging.StreamHandler(sys.stdout))


def run(case, m, environ):
    if case == "levels":
        for name in ("debug", "info", "warning", "error", "critical"):
            getattr(log, name)("%s-%s", m, name)
    elif case == "exception":
        try:
            raise ValueError(m + "-boom")
        except ValueError:
            log.exception("%s-failed", m)
    elif case == "multiline":
        log.warning("%s-one\n%s-two\n%s-three", m, m, m)
    elif case == "lastresort":
        alone.info("%s-below-lastresort", m)
        alone.warning("%s-lastresort", m)
    elif case == "handler":
        explicit.info("%s-explicit", m)
    elif case == "stdout":
        to_stdout.warning("%s-stdout", m)
    elif case == "wsgierrors":
        lg = logging.getLogger("pywlog.wsgierrors." + m)
        lg.propagate = False
        h = logging.StreamHandler(environ["wsgi.errors"])
        lg.addHandler(h)
        lg.warning("%s-wsgierrors", m)
        lg.removeHandler(h)
    elif case == "file":
        path = os.path.join(environ["PYW_STATE"], "pylogging-%d.log"
                            % os.getpid())
        lg = logging.getLogger("pywlog.file")
        lg.propagate = False
        h = logging.FileHandler(path)
        lg.addHandler(h)
        lg.error("%s-file", m)
        lg.removeHandler(h)
        h.close()
        return path
    elif case == "plain":
        print(m + "-print")
        sys.stderr.write(m + "-stderr\n")
    elif case == "long":
        log.warning("%s-long %s", m, "\u20ac" * 4000)
    elif case == "escapes":
        log.warning("%s-esc %s", m, "\x1b[0m" * 2500)
    elif case == "huge":
        log.warning("%s-huge %s", m, "x" * 300000)
    elif case == "partial":
        sys.stderr.write(m + "-partial ")
        log.warning("%s-record", m)
        sys.stderr.write("end\n")
    return ""


def application(environ, start_response):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    body = run(q.get("case", [""])[0], q.get("m", [""])[0], environ)
    body = (body or "ok").encode() + b"\n"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

# pyversion.wsgi - which Python runs this group: version, executable,
# prefixes, sys.path, where the probe package of a test virtualenv was
# imported from (None when it is not on sys.path), and C extensions at
# work: _decimal (a shared object that needs libpython's symbols), zlib
# and pyexpat (built into Debian's libpython, with their own libraries).
# ?sleep=S holds the request S seconds; start/end say when it ran.  For
# t/test_pythons.py.
import json
import os
import sys
import time


def _probe():
    try:
        import pyw_venv_probe
    except ImportError:
        return None
    return pyw_venv_probe.__file__


def _extensions():
    import decimal
    import xml.parsers.expat
    import zlib
    mod = sys.modules.get("_decimal")
    return {
        "decimal": str(decimal.Decimal(1) / decimal.Decimal(8)),
        "decimal_file": getattr(mod, "__file__", None),
        "zlib": zlib.crc32(b"pyworker"),
        "expat": xml.parsers.expat.EXPAT_VERSION,
    }


def application(environ, start_response):
    start = time.time()
    qs = environ.get("QUERY_STRING", "")
    if qs.startswith("sleep="):
        time.sleep(float(qs[6:]))
    body = json.dumps({
        "version": sys.version,
        "version_info": list(sys.version_info[:3]),
        "executable": sys.executable,
        "prefix": sys.prefix,
        "base_prefix": sys.base_prefix,
        "path": sys.path,
        "probe": _probe(),
        "extensions": _extensions(),
        "pid": os.getpid(),
        "uid": os.getuid(),
        "start": start,
        "end": time.time(),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

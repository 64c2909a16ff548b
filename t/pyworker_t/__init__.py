"""Helpers for mod_pyworker's pytest suite (t/).

httpd.py    a private Apache: generated httpd.conf, start/stop by pid,
            graceful, daemon process discovery, configtest
errorlog.py the error log: per-test windows, PYWnnnn codes, expected lines
rawhttp.py  a tiny HTTP/1.x client over a raw socket that tells a complete
            response from a truncated one and timestamps every chunk
load.py     bounded concurrent load: fixed request count, timeouts
procs.py    /proc helpers: children, titles, fds, memory
codes.py    the PYWnnnn codes tests expect, by meaning (one place to edit)
data.py     deterministic payloads shared with t/apps (big, file_wrapper)
"""

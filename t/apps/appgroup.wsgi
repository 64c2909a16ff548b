# appgroup.wsgi - what an application group looks like from inside: the
# group Apache resolved, the interpreter, a module shared by name
# (pywagshared, on python-path), a threading.local per worker thread.
#   ?set=X       pywagshared.VALUE = X first
#   ?count=1     bump this thread's threading.local counter
#   ?spin=N      burn N ms (wall clock) of CPU in pure Python
#   ?work=N      N iterations of a pure Python loop (a fixed amount of CPU)
#   ?imp=NAME    import a C extension that may refuse sub-interpreters
#   ?atexit=1    at exit, write <root>/state/atexit-<group>-<pid>
#   ?atexit=raise  at exit, raise ValueError("atexit boom in <group>")
#   ?sleep=S     sleep S seconds (a request-timeout victim)
#   ?file=1      answer this script's own text through wsgi.file_wrapper
#   ?sub=1       run /bin/true with subprocess; ?fork=1 try os.fork()
import atexit
import json
import os
import sys
import threading
import time
import urllib.parse

import pywagshared

_local = threading.local()
LOADED_AT = time.time()
STATE = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "state")


def mark_exit(group):
    name = "atexit-%s-%d" % (group or "GLOBAL", os.getpid())
    with open(os.path.join(STATE, name), "w") as f:
        f.write("%s\n" % group)


def raise_at_exit(group):
    raise ValueError("atexit boom in %s" % (group or "GLOBAL"))


def sleeping_in_a_group(seconds):
    time.sleep(seconds)


def interpreter_id():
    for name in ("_interpreters", "_xxsubinterpreters"):
        try:
            mod = __import__(name)
        except ImportError:
            continue
        cur = mod.get_current()
        return int(cur[0] if isinstance(cur, tuple) else cur)
    return None


def spin(ms):
    end = time.perf_counter() + ms / 1000.0
    n = 0
    while time.perf_counter() < end:
        n += 1
    return n


def work(n):
    x = 0
    for i in range(n):
        x += i * i
    return x


def import_ext(name):
    # Literal import statements: the refusal log line names the module
    # from this line (Cython's and PyO3's messages do not).
    if name == "yaml":
        import yaml._yaml                                   # noqa: F401
    elif name == "cryptography":
        import cryptography.hazmat.bindings._rust           # noqa: F401
    elif name == "singlephase":
        import _testsinglephase                             # noqa: F401
    elif name == "missing":
        import subinterpreter_pool_pyw                      # noqa: F401
    return name


def application(environ, start_response):
    qs = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
    if "set" in qs:
        pywagshared.VALUE = qs["set"]
    if "count" in qs:
        _local.n = getattr(_local, "n", 0) + 1
    if "imp" in qs:
        import_ext(qs["imp"])
    if "atexit" in qs:
        atexit.register(raise_at_exit if qs["atexit"] == "raise"
                        else mark_exit,
                        environ.get("mod_pyworker.application_group"))
    if "sleep" in qs:
        sleeping_in_a_group(float(qs["sleep"]))
    extra = {}
    if "sub" in qs:
        import subprocess
        extra["sub"] = subprocess.run(["/bin/true"]).returncode
    if "fork" in qs:
        try:
            pid = os.fork()
        except RuntimeError as e:
            extra["fork"] = "RuntimeError: %s" % e
        else:
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
            extra["fork"] = "forked"
    if "file" in qs:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return environ["wsgi.file_wrapper"](open(__file__, "rb"))
    spun = spin(int(qs["spin"])) if "spin" in qs else 0
    if "work" in qs:
        work(int(qs["work"]))
    out = {
        "application_group": environ.get("mod_pyworker.application_group"),
        "interpreter": interpreter_id(),
        "sys_modules_id": id(sys.modules),
        "module_id": id(pywagshared),
        "value": pywagshared.VALUE,
        "preloaded": pywagshared.PRELOADED,
        "script_module": __name__,
        "loaded_at": LOADED_AT,
        "thread": threading.get_ident(),
        "local": getattr(_local, "n", None),
        "file_wrapper": environ["wsgi.file_wrapper"].__name__,
        "spun": spun,
        "pid": os.getpid(),
    }
    out.update(extra)
    body = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

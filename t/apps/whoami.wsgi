# whoami.wsgi - what the daemon process looks like from inside: ids,
# title, open descriptors, working directory, umask, locale, sys.path,
# native thread count.  At import it appends its pid to
# <root>/state/loads-whoami, so a test can count how often it was loaded.
import json
import locale
import os
import sys
import threading

STATE = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "state")
try:
    with open(os.path.join(STATE, "loads-whoami"), "a") as f:
        f.write("%d\n" % os.getpid())
except OSError:
    pass

_umask_lock = threading.Lock()


def read(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except OSError as e:
        return "error: %s" % e


def fds():
    out = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            out[name] = os.readlink("/proc/self/fd/" + name)
        except OSError:
            pass            # the directory listing's own descriptor
    return out


def current_umask():
    with _umask_lock:
        mask = os.umask(0)
        os.umask(mask)
    return mask


def python_path_module():
    try:
        import pywlibmod
        return pywlibmod.VALUE
    except ImportError as e:
        return "ImportError: %s" % e


def application(environ, start_response):
    cmdline = read("/proc/self/cmdline", "rb")
    if isinstance(cmdline, bytes):
        cmdline = b" ".join(p for p in cmdline.split(b"\0") if p).decode(
            "utf-8", "replace")
    out = {
        "pid": os.getpid(), "ppid": os.getppid(),
        "uid": os.getuid(), "euid": os.geteuid(),
        "resuid": list(os.getresuid()), "resgid": list(os.getresgid()),
        "groups": os.getgroups(),
        "cmdline": cmdline, "comm": read("/proc/self/comm").strip(),
        "fds": fds(), "cwd": os.getcwd(), "umask": current_umask(),
        "env": {k: os.environ.get(k) for k in ("LANG", "LC_ALL", "HOME",
                                                 "PYW_PRELOADED")},
        "locale_ctype": locale.setlocale(locale.LC_CTYPE),
        "preferred_encoding": locale.getpreferredencoding(False),
        "sys_path": sys.path, "sys_prefix": sys.prefix, "argv": sys.argv,
        "executable": sys.executable,
        "version": sys.version,
        "pywlibmod": python_path_module(),
        "native_threads": len(os.listdir("/proc/self/task")),
        "thread": threading.get_ident(),
        "process_group": environ.get("mod_pyworker.process_group"),
        "application_group": environ.get("mod_pyworker.application_group"),
    }
    body = json.dumps(out, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

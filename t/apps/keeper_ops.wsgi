# keeper_ops.wsgi - a hostile tenant working on the process tree
# around its daemon (?do=...):
#   info          {"pid", "ppid", "uid"}
#   exit N        os._exit(N) after the answer is sent (a thread)
#   exit_now N    os._exit(N) at once
#   stop          SIGSTOP to itself after the answer
#   exec_sleep    exec of /bin/sleep 3600 after the answer (fds kept)
#   exec_junk     exec of sh writing junk on fd 4, then sleeping
#   orphan N S    a double-forked, setsid orphan that sleeps S s and exits N;
#                 answers its pid
#   clone_parent N S   a raw clone(CLONE_PARENT): a sibling of the daemon,
#                 child of the keeper, that sleeps S s and exits N; answers
#                 its pid and parent
#   clone_parent2 N S  the same from inside such a sibling (twice)
#   stop_waker    SIGSTOP to the parent's waker (refused: it is root)
#   stall_waker S keep every waker stopped for S s (unstall: stop that)
#   probe         what the tenant can do to its keeper: signal, ptrace,
#                 /proc/<keeper>/mem, environ, fd
import ctypes
import errno
import json
import os
import signal
import threading
import time
from urllib.parse import parse_qs

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
SYS_clone = 56
CLONE_PARENT = 0x00008000


def later(fn, delay=0.3):
    def run():
        time.sleep(delay)
        fn()
    threading.Thread(target=run, daemon=True).start()


def err(e):
    return errno.errorcode.get(e.errno, str(e.errno))


def raw_clone_parent(flags_extra=0):
    """pid in the parent, 0 in the child (fork semantics, no CLONE_VM)."""
    pid = libc.syscall(SYS_clone, CLONE_PARENT | signal.SIGCHLD
                       | flags_extra, 0, 0, 0, 0)
    if pid < 0:
        raise OSError(ctypes.get_errno(), "clone")
    return pid


def ppid_of(pid):
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def find_wakers():
    apache = ppid_of(os.getppid())
    found = []
    for d in os.listdir("/proc"):
        try:
            if (d.isdigit() and ppid_of(int(d)) == apache
                    and open("/proc/%s/comm" % d).read().strip()
                    == "pyw-waker"):
                found.append(int(d))
        except OSError:
            pass
    return found


STALL = {"on": False, "stopped": set()}


def stall_loop(until):
    while STALL["on"] and time.monotonic() < until:
        for w in find_wakers():
            try:
                os.kill(w, signal.SIGSTOP)
                STALL["stopped"].add(w)
            except OSError:
                pass
        time.sleep(0.05)
    for w in STALL["stopped"]:
        try:
            os.kill(w, signal.SIGCONT)
        except OSError:
            pass


def application(environ, start_response):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    do = q.get("do", ["info"])[0]
    n = int(q.get("n", ["15"])[0])
    s = float(q.get("s", ["3"])[0])
    out = {"pid": os.getpid(), "ppid": os.getppid(), "uid": os.getuid()}
    if do == "exit":
        later(lambda: os._exit(n))
    elif do == "exit_now":
        os._exit(n)
    elif do == "stop":
        later(lambda: os.kill(os.getpid(), signal.SIGSTOP))
    elif do == "exec_sleep":
        later(lambda: os.execv("/bin/sleep", ["sleep", "3600"]))
    elif do == "exec_junk":
        later(lambda: os.execv("/bin/sh", [
            "sh", "-c", "printf 'RRRRjunk\\001\\002' >&4; exec sleep 3600"]))
    elif do == "orphan":
        r, w = os.pipe()
        if os.fork() == 0:
            os.setsid()
            pid = os.fork()
            if pid == 0:
                os.write(w, b"%d" % os.getpid())
                time.sleep(s)
                os._exit(n)
            os._exit(0)
        os.close(w)
        out["orphan"] = int(os.read(r, 32))
        os.close(r)
    elif do in ("clone_parent", "clone_parent2"):
        r, w = os.pipe()
        pid = raw_clone_parent()
        if pid == 0:
            if do == "clone_parent2":
                pid2 = raw_clone_parent()
                if pid2 != 0:
                    libc._exit(0)    # the first sibling goes at once
            os.write(w, b"%d" % os.getpid())
            libc.sleep(int(s))
            libc._exit(n)
        os.close(w)
        child = int(os.read(r, 32))
        os.close(r)
        out["child"] = child
        try:
            out["child_ppid"] = ppid_of(child)
        except OSError as e:
            out["child_ppid"] = err(e)
    elif do == "stop_waker":
        # The waker: Apache's User, a child of Apache's parent (our
        # keeper's parent), found by name in /proc.
        apache = ppid_of(os.getppid())
        out["stopped"] = []
        for d in os.listdir("/proc"):
            try:
                if (d.isdigit() and ppid_of(int(d)) == apache
                        and open("/proc/%s/comm" % d).read().strip()
                        == "pyw-waker"):
                    os.kill(int(d), signal.SIGSTOP)
                    out["stopped"].append(int(d))
            except OSError as e:
                out.setdefault("errors", []).append(err(e))
    elif do == "stall_waker":
        STALL["on"] = True
        threading.Thread(target=stall_loop, args=(time.monotonic() + s,),
                         daemon=True).start()
        time.sleep(0.2)
        out["stopped"] = sorted(STALL["stopped"])
    elif do == "unstall":
        STALL["on"] = False
        time.sleep(0.2)
    elif do == "probe":
        k = int(q.get("target", [os.getppid()])[0])
        for name, fn in (
                ("kill0", lambda: os.kill(k, 0)),
                ("sigcont", lambda: os.kill(k, signal.SIGCONT)),
                ("sigstop", lambda: os.kill(k, signal.SIGSTOP)
                 if "stop" in q else None),
                ("mem", lambda: open("/proc/%d/mem" % k, "rb").read(1)),
                ("environ", lambda: open("/proc/%d/environ" % k,
                                         "rb").read()),
                ("fd", lambda: os.listdir("/proc/%d/fd" % k)),
                ("maps", lambda: open("/proc/%d/maps" % k).read())):
            try:
                v = fn()
                out[name] = "ok" if v is None else "read %d" % len(v)
            except OSError as e:
                out[name] = err(e)
        PTRACE_ATTACH = 16
        libc.ptrace.restype = ctypes.c_long
        rc = libc.ptrace(PTRACE_ATTACH, k, 0, 0)
        out["ptrace"] = "ok" if rc == 0 else errno.errorcode.get(
            ctypes.get_errno(), "?")
        if rc == 0:
            libc.ptrace(17, k, 0, 0)     # PTRACE_DETACH
    body = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

# safety.wsgi - an application that tries to break its daemon.
#   ?do=signal    signal.signal(SIGTERM, ...) and signal.signal(SIGINT, ...)
#                 (answers with what they returned)
#   ?do=print     print() a marker line to sys.stdout
#   ?do=exit15    os._exit(15)
#   ?do=thread    start a non-daemon thread that sleeps for an hour
#   ?do=atexit    register an atexit callback that never returns
#   ?do=fork      fork a child that installs a handler of its own (it is
#                 not the daemon), then end it with SIGTERM
#   otherwise     answer with the pid
import atexit
import json
import os
import signal
import threading
import time
from urllib.parse import parse_qs


def on_term(signum, frame):
    pass


def fork_child(out):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            signal.signal(signal.SIGUSR1, signal.SIG_IGN)
            ok = signal.getsignal(signal.SIGUSR1) == signal.SIG_IGN
            os.write(w, b"1" if ok else b"0")
            time.sleep(10)
        finally:
            os._exit(7)
    os.close(w)
    out["child_handler"] = os.read(r, 1).decode()
    os.close(r)
    os.kill(pid, signal.SIGTERM)
    _, status = os.waitpid(pid, 0)
    out["child_pid"] = pid
    out["child_end"] = ("signal %d" % os.WTERMSIG(status)
                        if os.WIFSIGNALED(status)
                        else "exit %d" % os.WEXITSTATUS(status))


def application(environ, start_response):
    do = parse_qs(environ.get("QUERY_STRING", "")).get("do", [""])[0]
    out = {"pid": os.getpid()}
    if do == "signal":
        out["term"] = repr(signal.signal(signal.SIGTERM, on_term))
        out["int"] = repr(signal.signal(signal.SIGINT, signal.SIG_IGN))
        out["now"] = repr(signal.getsignal(signal.SIGTERM))
    elif do == "print":
        print("safety.wsgi says hello through print()")
    elif do == "exit15":
        os._exit(15)
    elif do == "thread":
        threading.Thread(target=time.sleep, args=(3600,),
                         name="app-sleeper").start()
    elif do == "atexit":
        atexit.register(time.sleep, 3600)
    elif do == "fork":
        fork_child(out)
    body = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

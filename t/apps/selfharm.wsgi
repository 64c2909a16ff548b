# selfharm.wsgi - an application that damages its own daemon's
# descriptors, as buggy libraries do (?do=):
#   close_listen  close the group's listening socket
#   close_sigpipe close both ends of the daemon's signal pipe
#   close_stdio   close fds 1 and 2 (daemonizing code does)
#   close_conn    os.close() the request's own connection to Apache
#   closerange    os.closerange(3, 4096), as daemonizing code does
#   raise         raise an exception (a traceback to log)
#   (else)        answer "ok <pid>"
import os
import socket
import stat
from urllib.parse import parse_qs


def listening_socket():
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            s = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                return fd
        finally:
            s.close()
    return None


def connections():
    out = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            s = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            if (s.family == socket.AF_UNIX
                    and not s.getsockopt(socket.SOL_SOCKET,
                                         socket.SO_ACCEPTCONN)):
                out.append(fd)
        finally:
            s.close()
    return out


def signal_pipe():
    """The pipe whose both ends the daemon holds."""
    ends = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink("/proc/self/fd/" + name)
        except OSError:
            continue
        if target.startswith("pipe:"):
            ends.setdefault(target, []).append(int(name))
    return [fds for fds in ends.values() if len(fds) == 2]


def application(environ, start_response):
    do = parse_qs(environ.get("QUERY_STRING", "")).get("do", [""])[0]
    if do == "close_listen":
        # as C code would: os.close() of it is refused
        socket.socket(fileno=listening_socket()).close()
    elif do == "close_sigpipe":
        for fd in signal_pipe()[0]:
            os.close(fd)
    elif do == "close_stdio":
        os.close(1)
        os.close(2)
    elif do in ("close_conn", "closerange"):
        refused = 0
        try:
            if do == "closerange":
                os.closerange(3, 4096)
            for fd in connections():
                try:
                    os.close(fd)
                except OSError:
                    refused += 1
        except OSError:
            pass
        body = ("refused %d\n" % refused).encode()
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [body]
    elif do == "raise":
        raise RuntimeError("pyw-selfharm-raise")
    body = ("ok %d\n" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]

# rawframe.wsgi - a tenant's app that bypasses start_response and
# writes its own wire frames on its connection to Apache (the daemon is
# the tenant's process: nothing stops it).  ?mode= picks what is sent.
# The connection is the accepted AF_UNIX stream socket of this daemon
# (run with one Apache child and one client, so there is one).
import json
import os
import socket
import stat
import struct
from urllib.parse import parse_qs

HEADERS, DATA, END, ERROR, FILE = 6, 7, 8, 9, 11


def frame(kind, payload=b""):
    return struct.pack(">BBHI", kind, 0, 0, len(payload)) + payload


def pairs(items):
    out = b""
    for k, v in items:
        out += struct.pack(">HI", len(k), len(v)) + k + v
    return out


def conns():
    out = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            st = os.fstat(fd)
        except OSError:
            continue
        if not stat.S_ISSOCK(st.st_mode):
            continue
        s = socket.socket(fileno=os.dup(fd))
        try:
            if s.family != socket.AF_UNIX or s.type != socket.SOCK_STREAM:
                continue
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
                continue
            if ".sock" not in str(s.getsockname()):
                continue
            out.append(fd)
        finally:
            s.close()
    return out


def write_all(fd, data):
    """os.write() until all is sent: the socket may be non-blocking."""
    import select
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            select.select([], [fd], [], 5)


def headers_payload(status, reason, hdrs):
    return struct.pack(">HH", status, len(reason)) + reason + pairs(hdrs)


def application(environ, start_response):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    mode = q.get("mode", [""])[0]
    fds = conns()
    if len(fds) != 1:
        body = json.dumps({"conns": fds}).encode()
        start_response("500 Ambiguous", [("Content-Type", "text/plain")])
        return [body]
    fd = fds[0]
    body = b"raw body\n"
    if mode == "reason":
        # A status line with CR LF: a second header, and a whole second
        # response after an empty line.
        reason = (b"OK\r\nSet-Cookie: injected=1\r\nX-Injected: yes\r\n"
                  b"Content-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nX-Smuggled: 1"
                  b"\r\nContent-Length: 5\r\n\r\nhello")
        hp = headers_payload(200, reason, [(b"Content-Length",
                                            str(len(body)).encode())])
    elif mode == "ctype":
        hp = headers_payload(200, b"OK", [
            (b"Content-Type", b"text/html\r\nX-Injected: yes"),
            (b"Content-Length", str(len(body)).encode())])
    elif mode == "hname":
        hp = headers_payload(200, b"OK", [
            (b"X-A: b\r\nX-Injected", b"yes"),
            (b"Content-Length", str(len(body)).encode())])
    elif mode == "hvalue":
        hp = headers_payload(200, b"OK", [
            (b"X-A", b"b\r\nX-Injected: yes"),
            (b"Content-Length", str(len(body)).encode())])
    elif mode == "te":
        hp = headers_payload(200, b"OK", [
            (b"Transfer-Encoding", b"chunked"),
            (b"Content-Length", b"3")])
    elif mode == "cl":
        # a Content-Length shorter than the body
        hp = headers_payload(200, b"OK", [(b"Content-Length", b"3")])
        body = b"abcHTTP/1.1 200 OK\r\nX-Smuggled: 1\r\nContent-Length: 0\r\n\r\n"
    elif mode == "cl2":
        hp = headers_payload(200, b"OK", [(b"Content-Length", b"3"),
                                          (b"Content-Length", b"100")])
    elif mode == "te2":
        # Transfer-Encoding: chunked, and a body that is its own chunked
        # framing: a last-chunk, then a second response.
        hp = headers_payload(200, b"OK", [(b"Transfer-Encoding", b"chunked")])
        body = (b"3\r\nabc\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n"
                b"X-Smuggled: 1\r\nContent-Length: 8\r\n\r\nsmuggled")
    elif mode == "clstream":
        # Content-Length: 3 and a streamed body longer than that.
        hp = headers_payload(200, b"OK", [(b"Content-Length", b"3")])
        write_all(fd, frame(HEADERS, hp) + frame(DATA, b"abc"))
        import time
        time.sleep(0.3)
        hp = None
        body = (b"HTTP/1.1 200 OK\r\nX-Smuggled: 1\r\n"
                b"Content-Length: 8\r\n\r\nsmuggled")
    elif mode == "many":
        # 1 MiB of empty headers: each costs Apache's header filter
        # about 2 KB.
        hp = headers_payload(200, b"OK", [(b"X", b"")] * 140000 + [
            (b"Content-Length", str(len(body)).encode())])
    elif mode == "nul":
        hp = headers_payload(200, b"OK\x00X", [])
    else:
        hp = headers_payload(200, b"OK", [])
    if hp is None:
        write_all(fd, frame(DATA, body) + frame(END))
    else:
        write_all(fd, frame(HEADERS, hp) + frame(DATA, body) + frame(END))
    # Take the connection from the daemon, so its own response goes
    # nowhere: with libc's dup2, as a hostile tenant's C code would
    # (os.dup2 over the daemon's descriptors is refused).
    import ctypes
    null = os.open("/dev/null", os.O_RDWR)
    ctypes.CDLL(None).dup2(null, fd)
    os.close(null)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"never seen"]

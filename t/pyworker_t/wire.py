"""A client of a daemon's socket speaking mod_pyworker's wire protocol
(src/common/pyw_proto.h), for tests that must place a request on one
daemon's connection exactly, as Apache would."""
import socket
import struct

HELLO, REQUEST, READ, BODY = 1, 2, 3, 4
HEADERS, DATA, END, ERROR, GOODBYE = 6, 7, 8, 9, 10
REQUEST_RESENT = 0x01
MAGIC = 0x50595731


def _pairs(env):
    out = b""
    for k, v in env.items():
        k, v = k.encode(), v.encode()
        out += struct.pack(">HI", len(k), len(v)) + k + v
    return out


class DaemonConn:
    """One connection to a group's socket; .pid is the daemon that
    accepted it (from its HELLO)."""

    def __init__(self, path, timeout=15):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        kind, payload = self.frame()
        magic, _version, _zero, self.pid = struct.unpack(">IHHI", payload)
        assert kind == HELLO and magic == MAGIC, (kind, magic)

    def _exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("the daemon closed the connection")
            buf += chunk
        return buf

    def frame(self):
        """The next frame: (type, payload)."""
        kind, _flags, _reserved, length = struct.unpack(">BBHI",
                                                        self._exact(8))
        return kind, self._exact(length)

    def send_request(self, env, flags=0):
        payload = _pairs(env)
        self.sock.sendall(struct.pack(">BBHI", REQUEST, flags, 0,
                                      len(payload)) + payload)

    def answer(self):
        """Read up to the end of the exchange: ("GOODBYE", None) or
        (status, body bytes).  A READ is answered with an empty body."""
        status, body = None, b""
        while True:
            kind, payload = self.frame()
            if kind == GOODBYE:
                return "GOODBYE", None
            if kind == READ:
                self.sock.sendall(struct.pack(">BBHI", BODY, 0, 0, 0))
            elif kind == HEADERS:
                status = struct.unpack(">H", payload[:2])[0]
            elif kind == DATA:
                body += payload
            elif kind in (END, ERROR):
                return status, body

    def close(self):
        self.sock.close()


def wsgi_environ(group, script, query=""):
    """The environ Apache would send for a GET of `script`."""
    return {
        "REQUEST_METHOD": "GET", "SCRIPT_FILENAME": script,
        "CONTENT_LENGTH": "0",
        "SCRIPT_NAME": "/raw", "PATH_INFO": "", "QUERY_STRING": query,
        "REQUEST_URI": "/raw?" + query, "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1",
        "mod_pyworker.request_start": "0",
        "mod_pyworker.application_group": "",
        "mod_pyworker.process_group": group,
        "mod_pyworker.callable_object": "application",
        "mod_pyworker.script_reloading": "0",
    }

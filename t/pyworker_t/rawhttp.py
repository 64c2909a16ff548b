"""A small HTTP/1.x client over a raw socket.

Unlike http.client and requests it never hides how a response ended:
`complete` says whether the body was delimited properly (all
Content-Length bytes, or the terminating 0-chunk), `ended` says how the
read stopped (done, eof, reset, timeout), and every body piece carries
its arrival time, so a test can check streaming.
"""
import socket
import time


class Response:
    def __init__(self):
        self.status = None
        self.reason = ""
        self.version = ""
        self.headers = []           # [(name, value)] in order
        self.interim = []           # 1xx status codes seen before
        self.body = b""
        self.pieces = []            # [(monotonic time, bytes)]
        self.framing = None         # 'length', 'chunked', 'close', 'none'
        self.complete = False
        self.ended = None           # 'done', 'eof', 'reset', 'timeout'
        self.first_byte_at = None

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def __repr__(self):
        return ("<Response %s framing=%s complete=%s ended=%s body=%d>"
                % (self.status, self.framing, self.complete, self.ended,
                   len(self.body)))


class _Closed(Exception):
    def __init__(self, why):
        self.why = why


class Conn:
    """One client connection; several requests may go over it."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.timeout = timeout

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    # -- low level ------------------------------------------------------
    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise _Closed("timeout")
        except ConnectionResetError:
            raise _Closed("reset")
        if not data:
            raise _Closed("eof")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _take(self, n):
        """Up to n bytes as soon as any are there."""
        if not self.buf:
            self._fill()
        piece, self.buf = self.buf[:n], self.buf[n:]
        return piece

    # -- requests -------------------------------------------------------
    @staticmethod
    def build(method, path, headers=None, body=None, version="HTTP/1.1",
              host="127.0.0.1"):
        hdrs = list(headers.items() if isinstance(headers, dict)
                    else (headers or []))
        names = {k.lower() for k, _ in hdrs}
        if "host" not in names and version == "HTTP/1.1":
            hdrs.insert(0, ("Host", host))
        if body is not None and "content-length" not in names and \
                "transfer-encoding" not in names:
            hdrs.append(("Content-Length", str(len(body))))
        head = "%s %s %s\r\n" % (method, path, version)
        raw = head.encode("latin-1")
        for k, v in hdrs:
            k = k.encode("latin-1") if isinstance(k, str) else k
            v = v.encode("latin-1") if isinstance(v, str) else v
            raw += k + b": " + v + b"\r\n"
        return raw + b"\r\n" + (body or b"")

    def request(self, method, path, headers=None, body=None,
                version="HTTP/1.1", on_piece=None, max_body=None):
        self.send(self.build(method, path, headers, body, version))
        return self.read_response(method, on_piece=on_piece,
                                  max_body=max_body)

    def read_response(self, method="GET", on_piece=None, max_body=None):
        """Read one response.  on_piece(resp, bytes) is called per piece;
        max_body stops reading (complete=False, ended='stopped')."""
        r = Response()
        try:
            self._read_head(r)
            self._read_body(r, method, on_piece, max_body)
        except _Closed as c:
            r.ended = c.why
        return r

    def _read_head(self, r):
        while True:
            line = self._line()
            if r.first_byte_at is None:
                r.first_byte_at = time.monotonic()
            r.version, r.status, r.reason = (line.decode("latin-1")
                                             .split(" ", 2) + [""])[:3]
            r.status = int(r.status)
            r.headers = []
            while True:
                h = self._line()
                if not h:
                    break
                k, _, v = h.decode("latin-1").partition(":")
                r.headers.append((k.strip(), v.strip()))
            if 100 <= r.status < 200 and r.status != 101:
                r.interim.append(r.status)
                continue
            return

    def _read_body(self, r, method, on_piece, max_body):
        te = (r.header("transfer-encoding") or "").lower()
        cl = r.header("content-length")
        if method == "HEAD" or r.status in (204, 304):
            r.framing, r.complete, r.ended = "none", True, "done"
        elif "chunked" in te:
            r.framing = "chunked"
            self._read_chunked(r, on_piece, max_body)
        elif cl is not None:
            r.framing = "length"
            self._read_length(r, int(cl), on_piece, max_body)
        else:
            r.framing = "close"
            self._read_length(r, None, on_piece, max_body)

    def _piece(self, r, data, on_piece):
        r.pieces.append((time.monotonic(), data))
        r.body += data
        if on_piece:
            on_piece(r, data)

    def _read_length(self, r, n, on_piece, max_body):
        while n is None or len(r.body) < n:
            if max_body is not None and len(r.body) >= max_body:
                r.ended = "stopped"
                return
            want = 65536 if n is None else min(65536, n - len(r.body))
            self._piece(r, self._take(want), on_piece)
        r.complete, r.ended = True, "done"

    def _read_chunked(self, r, on_piece, max_body):
        while True:
            if max_body is not None and len(r.body) >= max_body:
                r.ended = "stopped"
                return
            try:
                size = int(self._line().split(b";")[0].strip(), 16)
            except ValueError:
                raise _Closed("bad-chunk")
            if size == 0:
                while self._line():         # trailers
                    pass
                r.complete, r.ended = True, "done"
                return
            left = size
            while left:
                data = self._take(left)
                left -= len(data)
                self._piece(r, data, on_piece)
            if self._line() != b"":
                raise _Closed("bad-chunk")


def request(port, method, path, headers=None, body=None, timeout=10.0,
            version="HTTP/1.1", **kw):
    """One request on a fresh connection, which is closed afterwards."""
    with Conn(port, timeout=timeout) as c:
        return c.request(method, path, headers, body, version, **kw)

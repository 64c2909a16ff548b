"""A bare HTTP/2 (h2c, prior knowledge) client that reports the frames
of one stream, to check framing curl hides or only sometimes reports
(DATA on a HEAD stream).  Request headers go as HPACK literals without
indexing, so no HPACK state is needed; response header blocks are not
decoded."""
import socket
import struct
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, GOAWAY = 0, 1, 3, 4, 7
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def _frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + struct.pack(
        ">BBI", kind, flags, stream) + payload


def _literal(name, value):
    def length(n):
        assert n < 127
        return bytes([n])
    return b"\x00" + length(len(name)) + name + length(len(value)) + value


def _read_exact(s, n):
    out = b""
    while len(out) < n:
        d = s.recv(n - len(out))
        if not d:
            raise ConnectionError("connection closed")
        out += d
    return out


def stream_frames(port, method, path, host="127.0.0.1", timeout=15):
    """[(type, flags, payload length)] of stream 1's frames, up to the
    one that ends it (END_STREAM or RST_STREAM)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    block = b"".join(_literal(n, v) for n, v in (
        (b":method", method.encode()), (b":scheme", b"http"),
        (b":path", path.encode()), (b":authority", host.encode())))
    s.sendall(PREFACE + _frame(SETTINGS, 0, 0)
              + _frame(HEADERS, END_STREAM | END_HEADERS, 1, block))
    frames = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            head = _read_exact(s, 9)
            length = int.from_bytes(head[:3], "big")
            kind, flags, stream = struct.unpack(">BBI", head[3:])
            _read_exact(s, length)
            if kind == SETTINGS and not flags & ACK:
                s.sendall(_frame(SETTINGS, ACK, 0))
            if kind == GOAWAY:
                break
            if stream & 0x7fffffff != 1:
                continue
            frames.append((kind, flags, length))
            if kind == RST_STREAM or (kind in (DATA, HEADERS)
                                      and flags & END_STREAM):
                break
    finally:
        s.close()
    return frames

# filewrapper.wsgi - wsgi.file_wrapper over ?kind=file|bytesio|custom,
# ?size=N bytes of a fixed pattern, starting at ?offset=N (the object's
# position when it is handed over must be honoured), with a
# Content-Length when ?cl=1.  `custom` has only read() and close(); its
# close() writes <PYW_STATE>/fwclose-<token>.
import io
import os
import threading
from urllib.parse import parse_qs


def pattern(size):
    return (bytes(range(256)) * (size // 256 + 1))[:size]


def data_file(environ, size):
    state = environ.get("PYW_STATE", "/tmp")
    path = os.path.join(state, "fw-data-%d" % size)
    if not os.path.exists(path):
        tmp = "%s.%d.%d" % (path, os.getpid(), threading.get_ident())
        with open(tmp, "wb") as f:
            f.write(pattern(size))
        os.replace(tmp, path)
    return path


class Custom:
    def __init__(self, data, marker):
        self.buf, self.marker = io.BytesIO(data), marker

    def read(self, n=-1):
        return self.buf.read(n)

    def close(self):
        with open(self.marker, "w") as f:
            f.write("closed\n")


def application(environ, start_response):
    q = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    size = int(q.get("size", "100000"))
    offset = int(q.get("offset", "0"))
    kind = q.get("kind", "file")
    if kind == "file":
        obj = open(data_file(environ, size), "rb")
        obj.seek(offset)
    elif kind == "bytesio":
        obj = io.BytesIO(pattern(size))
        obj.seek(offset)
    else:
        marker = os.path.join(environ.get("PYW_STATE", "/tmp"),
                              "fwclose-" + q.get("token", "none"))
        obj = Custom(pattern(size), marker)
        obj.read(offset)
    headers = [("Content-Type", "application/octet-stream")]
    if q.get("cl"):
        headers.append(("Content-Length", str(size - offset)))
    start_response("200 OK", headers)
    return environ["wsgi.file_wrapper"](obj, 8192)

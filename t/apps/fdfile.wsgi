# fdfile.wsgi - wsgi.file_wrapper bodies for t/test_filewrapper_fd.py.
#
#   ?kind=file       a real file (sent as a descriptor)
#        bytesio     io.BytesIO (no fileno(): streamed)
#        pipe        a pipe a thread writes into (not a regular file)
#        raising     read() works, fileno() raises OSError
#        text        a file opened in text mode (never sent raw)
#        hidden      a real file behind an object with only read() and
#                    close() (streamed: the benchmark's baseline)
#        gz, bz2, xz a compressed file: read() gives the data, fileno()
#                    the compressed file's descriptor (streamed)
#        proc        /proc/self/status: st_size 0, yet it reads lines
#   ?size=N         bytes of fd_pattern (default 5.2 MB)
#   ?offset=N       seek there before wrapping
#   ?readfirst=N    read N bytes first (Python's buffer reads ahead, so
#                   the descriptor's offset is past the logical position)
#   ?cl=N|auto      Content-Length N, or the bytes left after the offset
#   ?unlink=1       a private copy of the file, deleted once opened
#   ?write=1        call write() with ?offset bytes first, then wrap the
#                   file positioned after them (headers already sent)
#   ?validators=1   ETag "fd-SIZE" and a Last-Modified long past (If-Range)
#   ?ar=VALUE       an Accept-Ranges header of the app's own
#   ?partial=1      the app answers a range itself: 206, Content-Range of
#                   ?offset and ?cl (as Zope's blob views do)
import bz2
import gzip
import hashlib
import io
import lzma
import os
import threading
from urllib.parse import parse_qs

SIZE = 5200000


def fd_pattern(size):
    """Not periodic, so a shifted range can never compare equal."""
    blocks = (hashlib.sha256(b"%d" % i).digest()
              for i in range(size // 32 + 1))
    return b"".join(blocks)[:size]


def data_file(state, size):
    path = os.path.join(state, "fd-data-%d" % size)
    if not os.path.exists(path):
        tmp = "%s.%d.%d" % (path, os.getpid(), threading.get_ident())
        with open(tmp, "wb") as f:
            f.write(fd_pattern(size))
        os.replace(tmp, path)
    return path


def private_copy(state, size):
    src = data_file(state, size)
    path = "%s.copy.%d.%d" % (src, os.getpid(), threading.get_ident())
    with open(src, "rb") as a, open(path, "wb") as b:
        b.write(a.read())
    return path


class Hidden:
    def __init__(self, f):
        self.f = f

    def read(self, n=-1):
        return self.f.read(n)

    def close(self):
        self.f.close()


class Raising:
    def __init__(self, data):
        self.buf = io.BytesIO(data)

    def read(self, n=-1):
        return self.buf.read(n)

    def fileno(self):
        raise OSError("no descriptor here")

    def close(self):
        self.buf.close()


def pipe_file(data):
    r, w = os.pipe()

    def feed():
        with os.fdopen(w, "wb") as f:
            f.write(data)

    threading.Thread(target=feed, daemon=True).start()
    return os.fdopen(r, "rb")


def open_body(q, state, size, offset):
    kind = q.get("kind", "file")
    if kind in ("file", "text", "hidden"):
        if q.get("unlink"):
            path = private_copy(state, size)
        else:
            path = data_file(state, size)
        obj = open(path, "r" if kind == "text" else "rb",
                   **({"encoding": "latin-1"} if kind == "text" else {}))
        if q.get("unlink"):
            os.unlink(path)
        obj.seek(offset)
        return Hidden(obj) if kind == "hidden" else obj
    if kind in ("gz", "bz2", "xz"):
        opener = {"gz": gzip.open, "bz2": bz2.open, "xz": lzma.open}[kind]
        path = "%s.%s" % (data_file(state, size), kind)
        if not os.path.exists(path):
            tmp = "%s.%d.%d" % (path, os.getpid(), threading.get_ident())
            with opener(tmp, "wb") as f:
                f.write(fd_pattern(size))
            os.replace(tmp, path)
        obj = opener(path, "rb")
        obj.seek(offset)
        return obj
    if kind == "proc":
        return open("/proc/self/status", "rb")
    data = fd_pattern(size)[offset:]
    if kind == "bytesio":
        return io.BytesIO(data)
    if kind == "raising":
        return Raising(data)
    return pipe_file(data)


def application(environ, start_response):
    q = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    state = environ.get("PYW_STATE", "/tmp")
    size = int(q.get("size", SIZE))
    offset = int(q.get("offset", "0"))
    headers = [("Content-Type", "application/octet-stream")]
    cl = q.get("cl")
    if cl:
        headers.append(("Content-Length",
                        str(size - offset) if cl == "auto" else cl))
    if q.get("validators"):
        headers += [("ETag", '"fd-%d"' % size),
                    ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")]
    if q.get("ar"):
        headers.append(("Accept-Ranges", q["ar"]))
    status = "200 OK"
    if q.get("partial"):
        status = "206 Partial Content"
        headers.append(("Content-Range", "bytes %d-%d/%d" % (
            offset, offset + int(cl) - 1, size)))
    write = start_response(status, headers)
    if q.get("write"):
        write(fd_pattern(size)[:offset])
    body = open_body(q, state, size, offset)
    first = int(q.get("readfirst", "0"))
    if first:
        body.read(first)
    return environ["wsgi.file_wrapper"](body, 65536)

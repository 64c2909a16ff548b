# memdump.wsgi - streams the writable memory of the daemon it runs in,
# as the tenant's own code can see it, so that t/test_isolation.py can
# search it for what other tenants and Apache hold (another vhost's
# SetEnv, the raw httpd.conf, mod_ssl's private key).  This file knows
# no secret: the test searches the dump, never the app.
#
# Regions: every 'rw' mapping of /proc/self/maps except [vvar]-like
# ones.  They are read with process_vm_readv() on our own pid, which
# returns EFAULT for a page that went away (or lies past the end of a
# file) instead of killing the daemon with SIGSEGV/SIGBUS as a plain
# ctypes.string_at() would.  The body is the regions' bytes back to
# back, each followed by 16 zero bytes; X-Dump-Planned is the sum of
# the region sizes at the start, X-Dump-Pid the daemon's pid.
import ctypes
import os

CHUNK = 1 << 20
PAGE = os.sysconf("SC_PAGE_SIZE")
LIMIT = 256 << 20           # never stream more than this


class _Iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


_libc = ctypes.CDLL(None, use_errno=True)
_libc.process_vm_readv.restype = ctypes.c_ssize_t
_libc.process_vm_readv.argtypes = [
    ctypes.c_int, ctypes.POINTER(_Iovec), ctypes.c_ulong,
    ctypes.POINTER(_Iovec), ctypes.c_ulong, ctypes.c_ulong]


def regions():
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split(None, 5)
            path = fields[5].strip() if len(fields) > 5 else ""
            if fields[1][:2] != "rw" or path.startswith("[v"):
                continue
            start, end = (int(x, 16) for x in fields[0].split("-"))
            out.append((start, end))
    return out


class _Reader:
    def __init__(self):
        self.buf = ctypes.create_string_buffer(CHUNK)
        self.local = _Iovec(ctypes.cast(self.buf, ctypes.c_void_p), 0)
        self.remote = _Iovec(None, 0)

    def read(self, addr, size):
        """Up to size bytes at addr; b'' if the first page is gone."""
        self.local.len = self.remote.len = size
        self.remote.base = addr
        n = _libc.process_vm_readv(os.getpid(), ctypes.byref(self.local), 1,
                                   ctypes.byref(self.remote), 1, 0)
        return self.buf.raw[:n] if n > 0 else b""


def dump(spans):
    reader, sent = _Reader(), 0
    for start, end in spans:
        addr = start
        while addr < end and sent < LIMIT:
            size = min(CHUNK, end - addr)
            data = reader.read(addr, size)
            if not data:            # skip the missing page, go on
                addr += PAGE
                continue
            sent += len(data)
            addr += len(data)
            yield data
        yield b"\0" * 16


def application(environ, start_response):
    spans = regions()
    planned = sum(end - start for start, end in spans)
    start_response("200 OK", [
        ("Content-Type", "application/octet-stream"),
        ("X-Dump-Pid", str(os.getpid())),
        ("X-Dump-Planned", str(planned)),
        ("X-Dump-Regions", str(len(spans)))])
    return dump(spans)

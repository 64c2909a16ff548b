# procinfo.wsgi - what a daemon's process settings look like from inside:
# nice value, address-space limit, groups, PYTHON_EGG_CACHE, the stack
# size of the worker thread running this request and the buffer sizes of
# the daemon's connections to Apache.  ?alloc=GB tries to allocate that
# much.  For t/test_process_options.py.
import ctypes
import json
import os
import resource
import socket
import stat

_libc = ctypes.CDLL(None)
_libc.pthread_self.restype = ctypes.c_ulong


def _stack_size():
    attr = ctypes.create_string_buffer(128)         # pthread_attr_t
    if _libc.pthread_getattr_np(ctypes.c_ulong(_libc.pthread_self()),
                                attr) != 0:
        return None
    size = ctypes.c_size_t()
    _libc.pthread_attr_getstacksize(attr, ctypes.byref(size))
    _libc.pthread_attr_destroy(attr)
    return size.value


def _connection_buffers():
    out = []
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue
            s = socket.socket(fileno=fd)
        except OSError:
            continue
        try:
            if (s.family == socket.AF_UNIX
                    and not s.getsockopt(socket.SOL_SOCKET,
                                         socket.SO_ACCEPTCONN)):
                out.append([s.getsockopt(socket.SOL_SOCKET,
                                         socket.SO_SNDBUF),
                            s.getsockopt(socket.SOL_SOCKET,
                                         socket.SO_RCVBUF)])
        finally:
            s.detach()
    return out


def application(environ, start_response):
    qs = environ.get("QUERY_STRING", "")
    if qs.startswith("alloc="):
        block = bytearray(int(float(qs[6:]) * (1 << 30)))
        del block
    body = json.dumps({
        "pid": os.getpid(),
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
        "rlimit_as": list(resource.getrlimit(resource.RLIMIT_AS)),
        "groups": os.getgroups(),
        "egg_cache": os.environ.get("PYTHON_EGG_CACHE"),
        "stack_size": _stack_size(),
        "buffers": _connection_buffers(),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

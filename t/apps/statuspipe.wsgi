# statuspipe.wsgi - a tenant's app that writes junk on its daemon's
# status pipe to the Apache parent (the only pipe the daemon holds just
# the write end of; its signal self-pipe has both): ?n=bytes.
import fcntl
import json
import os
from urllib.parse import parse_qs


def status_pipes():
    ends = {}
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            target = os.readlink("/proc/self/fd/%d" % fd)
            mode = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
        except OSError:
            continue
        if target.startswith("pipe:"):
            ends.setdefault(target, []).append((fd, mode))
    return [e[0][0] for e in ends.values()
            if len(e) == 1 and e[0][1] == os.O_WRONLY]


def application(environ, start_response):
    n = int(parse_qs(environ.get("QUERY_STRING", "")).get("n", ["1"])[0])
    fds = status_pipes()
    written = 0
    if len(fds) == 1:
        os.set_blocking(fds[0], False)
        while written < n:
            try:
                written += os.write(fds[0], b"\xff" * min(4096, n - written))
            except OSError:
                break
    body = json.dumps({"pipes": fds, "written": written}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]

# exits.wsgi - an application that ends its own daemon with an exit status
# of its choice, the ways application code can (?how=...&status=N):
#   os    os._exit(N)
#   libc  libc's _exit(N) through ctypes (no Python guard can see it)
#   exec  exec of /bin/sh -c "exit N": another program ends the process
#   kill_parent  try to SIGKILL the daemon's parent; answers the errno
#   (else) answer {"pid", "ppid"}
import ctypes
import errno
import json
import os
import signal
from urllib.parse import parse_qs


def application(environ, start_response):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    how = q.get("how", [""])[0]
    status = int(q.get("status", ["0"])[0])
    out = {"pid": os.getpid(), "ppid": os.getppid()}
    if how == "os":
        os._exit(status)
    elif how == "libc":
        ctypes.CDLL(None)._exit(status)
    elif how == "exec":
        os.execv("/bin/sh", ["sh", "-c", "exit %d" % status])
    elif how == "kill_parent":
        try:
            os.kill(os.getppid(), signal.SIGKILL)
            out["kill"] = "done"
        except OSError as e:
            out["kill"] = errno.errorcode.get(e.errno, str(e.errno))
    body = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

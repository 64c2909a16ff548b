# connect_other.wsgi - ?path=<unix socket>: try to connect to it and
# report the outcome: {"connected": bool, "errno": n, "error": "EACCES"}.
import errno
import json
import socket
from urllib.parse import parse_qs


def application(environ, start_response):
    path = parse_qs(environ.get("QUERY_STRING", "")).get("path", [""])[0]
    out = {"path": path, "connected": False, "errno": None, "error": None}
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(path)
        out["connected"] = True
    except OSError as e:
        out["errno"] = e.errno
        out["error"] = errno.errorcode.get(e.errno, str(e))
    finally:
        s.close()
    body = json.dumps(out).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

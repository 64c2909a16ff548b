# truncate.wsgi - wsgi.file_wrapper over a file of the tenant's own
# that a thread of the app truncates after ?after= seconds (default 1),
# while Apache still sends it.  ?size= bytes (default 3 MB, random, so
# mod_deflate cannot shrink it), ?type= the Content-Type.
import os
import tempfile
import threading
import time
from urllib.parse import parse_qs


def application(environ, start_response):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    size = int(q.get("size", ["3000000"])[0])
    after = float(q.get("after", ["1"])[0])
    ctype = q.get("type", ["text/html"])[0]
    fd, path = tempfile.mkstemp(dir=environ["PYW_STATE"])
    os.write(fd, os.urandom(size))
    os.close(fd)
    f = open(path, "rb")

    def shrink():
        time.sleep(after)
        os.truncate(path, 0)
        os.unlink(path)

    threading.Thread(target=shrink, daemon=True).start()
    start_response("200 OK", [("Content-Type", ctype),
                              ("Content-Length", str(size))])
    return environ["wsgi.file_wrapper"](f)

# churn.wsgi - allocates ?mb= MB of C heap in 2 KB objects and frees it,
# except the last one, kept until the next request: it pins the top of
# the thread's malloc arena, so the freed pages stay resident until the
# daemon trims the heap.  For t/test_memory.py.
import os
import threading
from urllib.parse import parse_qs

PINNED = {}


def application(environ, start_response):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    mb = int(q.get("mb", ["40"])[0])
    chunks = [os.urandom(1) * 2048 for _ in range(mb * 512)]
    PINNED[threading.get_ident()] = os.urandom(1) * 2048
    del chunks
    body = b"%d\n" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

# fails_once.wsgi - an import script whose first import fails and every
# later one works: a failure that does not repeat.  The first import
# leaves a mark in the ServerRoot's state directory (writable by all).
import os

MARK = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                    "state", "fails_once.mark")

if not os.path.exists(MARK):
    open(MARK, "w").close()
    raise RuntimeError("pyw-fails-once: the first import fails")


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"started after one failure\n"]

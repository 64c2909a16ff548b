# preload.wsgi - a PyWorkerImportScript: runs when the daemon starts,
# before any request.  Marks the process (os.environ) and leaves
# <root>/state/preload-<pid>.
import os

os.environ["PYW_PRELOADED"] = str(os.getpid())
_state = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "state")
with open(os.path.join(_state, "preload-%d" % os.getpid()), "w") as f:
    f.write("preloaded\n")


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"preload"]

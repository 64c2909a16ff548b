# safety_import.py - a PyWorkerImportScript that, like some libraries do
# on import, installs its own SIGTERM handler.  It runs on the daemon's
# main thread at start-up; the daemon must keep its own handler.
import signal


def _cleanup(signum, frame):
    raise SystemExit(0)


signal.signal(signal.SIGTERM, _cleanup)

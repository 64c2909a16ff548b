"""Notes an application leaves in $PYW_STATE (the server's state
directory) for a test to read: one file per token, one line per event
(t/apps/counted_stream.wsgi writes them)."""
import time


def read(httpd, name):
    """The lines of state/<name>, [] while there is none."""
    try:
        with open(httpd.path("state", name)) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def wait(httpd, name, prefix, timeout):
    """The first line of state/<name> that starts with prefix, once there
    is one; None after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [line for line in read(httpd, name)
                 if line.startswith(prefix)]
        if found:
            return found[0]
        time.sleep(0.05)
    return None

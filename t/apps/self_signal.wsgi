# self_signal.wsgi - ?SIGTERM, ?SIGINT: the app sends that to its own
# process (a "restart me" idiom); otherwise says its pid.
import os
import signal


def application(environ, start_response):
    qs = environ.get("QUERY_STRING")
    if qs in ("SIGTERM", "SIGINT"):
        os.kill(os.getpid(), getattr(signal, qs))
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

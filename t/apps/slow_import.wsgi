# slow_import.wsgi - takes 4.5 s to import; answers its pid.
import os
import time

time.sleep(4.5)


def application(environ, start_response):
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

# cwd.wsgi - the daemon's working directory and what `secret.txt`,
# opened by that relative name, holds (or why it cannot be read).
import json
import os


def application(environ, start_response):
    try:
        with open("secret.txt") as f:
            relative = f.read()
    except OSError as e:
        relative = type(e).__name__
    body = json.dumps({"cwd": os.getcwd(), "uid": os.getuid(),
                       "relative": relative}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]

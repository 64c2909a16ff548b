# refuse_script.wsgi - imports a Cython extension at load: in a second
# interpreter it refuses ("Interpreter change detected").
import yaml._yaml  # noqa: F401


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"loaded"]

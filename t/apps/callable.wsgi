# callable.wsgi - no `application`: the WSGI callable is found under the
# name PyWorkerCallableObject / callable-object= gives.  For
# t/test_callable.py.
import json

not_callable = 42


def _answer(who):
    def wsgi(environ, start_response):
        body = json.dumps({
            "who": who,
            "callable_object": environ.get("mod_pyworker.callable_object"),
        }).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    return wsgi


app = _answer("app")
other = _answer("other")

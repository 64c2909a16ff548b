# conf/example/hello.wsgi - the example served by `./dev serve`.
import html
import os
import threading


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/echo" and \
            environ["REQUEST_METHOD"] == "POST":
        body = environ["wsgi.input"].read()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    rows = "".join(
        "<tr><td>%s</td><td>%s</td></tr>" % (html.escape(k),
                                             html.escape(str(v)))
        for k, v in sorted(environ.items()))
    page = ("<!doctype html><title>mod_pyworker</title>"
            "<h1>Hello from mod_pyworker</h1>"
            "<p>daemon pid %d, thread %d, process group %s</p>"
            "<table>%s</table>" % (
                os.getpid(), threading.get_ident(),
                html.escape(environ.get("mod_pyworker.process_group", "?")),
                rows)).encode()
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                              ("Content-Length", str(len(page)))])
    return [page]

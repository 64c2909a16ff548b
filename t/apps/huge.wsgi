"""Oversized responses: /header?mb=N sets an N MB header value;
/body?mb=N streams N MB in 1 MB chunks without ever holding more."""
import urllib.parse

CHUNK = b"x" * (1 << 20)


def application(environ, start_response):
    q = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
    mb = int(q.get("mb", "1"))
    if environ["PATH_INFO"] == "/header":
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("X-Huge", "h" * (mb << 20))])
        return [b"never sent\n"]
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(mb << 20))])
    return (CHUNK for _ in range(mb))

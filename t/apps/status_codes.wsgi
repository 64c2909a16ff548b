# status_codes.wsgi - answers the status the path asks for, for the
# status page tests: /200, /404, /500 (a raised exception when the query
# is "raise"), /slow?<seconds> (200 after sleeping); what follows a
# second '/' is ignored (/500/anything).
import time


def application(environ, start_response):
    what = environ.get("PATH_INFO", "/").strip("/").split("/")[0] or "200"
    query = environ.get("QUERY_STRING", "")
    if what == "slow":
        time.sleep(float(query.split("&")[0] or 1))
        what = "200"
    if what == "500" and query == "raise":
        raise RuntimeError("status_codes.wsgi was asked to fail")
    status = {"200": "200 OK", "404": "404 Not Found",
              "500": "500 Internal Server Error"}.get(what, "400 Bad Request")
    body = status.encode() + b"\n"
    start_response(status, [("Content-Type", "text/plain"),
                            ("Content-Length", str(len(body)))])
    return [body]

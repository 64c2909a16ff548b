# respond.wsgi - a response described by the query string:
#   status=299 Whatever   (default "200 OK")
#   h=Name:Value          a header (repeatable)
#   hmul=N                each header value repeated N times
#   hrep=N                each header sent N times
#   body=text&repeat=N    the body, `text` repeated N times
#   cl=1                  send a Content-Length
#   parts=N               split the body into N iterable items
# Values are decoded as latin-1 so any header byte can be expressed.
from urllib.parse import parse_qs


def application(environ, start_response):
    q = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True,
                 encoding="latin-1")
    status = q.get("status", ["200 OK"])[0]
    hmul = int(q.get("hmul", ["1"])[0])
    hrep = int(q.get("hrep", ["1"])[0])
    headers = [(n, v * hmul) for n, v in
               (tuple(h.split(":", 1)) for h in q.get("h", []))] * hrep
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "text/plain"))
    body = (q.get("body", [""])[0] * int(q.get("repeat", ["1"])[0])).encode(
        "latin-1")
    if q.get("cl"):
        headers.append(("Content-Length", str(len(body))))
    start_response(status, headers)
    parts = max(1, int(q.get("parts", ["1"])[0]))
    step = max(1, -(-len(body) // parts))
    return [body[i:i + step] for i in range(0, len(body), step)] or [b""]

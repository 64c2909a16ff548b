# chunked.wsgi - a strict PEP 3333 application: it reads exactly
# CONTENT_LENGTH bytes when there is one, else up to the end of the body
# only if the server says wsgi.input_terminated, else nothing.  JSON
# answer: length and sha256 of what it read, which way it read, and the
# environ entries that decided it.  ?n= reads in pieces of n bytes
# (default 65536).
import hashlib
import json
from urllib.parse import parse_qs


def application(environ, start_response):
    inp = environ["wsgi.input"]
    cl = environ.get("CONTENT_LENGTH")
    q = parse_qs(environ.get("QUERY_STRING", ""))
    piece = int(q.get("n", ["65536"])[0])
    h, n = hashlib.sha256(), 0
    if cl:
        how, left = "content_length", int(cl)
    elif environ.get("wsgi.input_terminated"):
        how, left = "terminated", None
    else:
        how, left = "nothing", 0
    while left is None or left > 0:
        data = inp.read(piece if left is None else min(left, piece))
        if not data:
            break
        h.update(data)
        n += len(data)
        if left is not None:
            left -= len(data)
    body = json.dumps({
        "len": n, "sha256": h.hexdigest(), "how": how,
        "content_length": cl,
        "input_terminated": environ.get("wsgi.input_terminated"),
        "transfer_encoding": environ.get("HTTP_TRANSFER_ENCODING"),
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

# echo.wsgi - reads the whole body.  ?raw=1 echoes it back; otherwise a
# JSON summary: length, sha256, CONTENT_TYPE/LENGTH.
import hashlib
import json
import time


def application(environ, start_response):
    started = time.time()
    first = None
    h, n = hashlib.sha256(), 0
    inp = environ["wsgi.input"]
    chunks = []
    raw = "raw=1" in environ.get("QUERY_STRING", "")
    while True:
        data = inp.read(65536)
        if first is None:
            first = time.time()
        if not data:
            break
        h.update(data)
        n += len(data)
        if raw:
            chunks.append(data)
    if raw:
        body = b"".join(chunks)
        ctype = "application/octet-stream"
    else:
        body = json.dumps({
            "len": n, "sha256": h.hexdigest(),
            "content_type": environ.get("CONTENT_TYPE"),
            "content_length": environ.get("CONTENT_LENGTH"),
            "started": started, "first_read_done": first,
            "method": environ["REQUEST_METHOD"],
        }).encode()
        ctype = "application/json"
    start_response("200 OK", [("Content-Type", ctype),
                              ("Content-Length", str(len(body)))])
    return [body]

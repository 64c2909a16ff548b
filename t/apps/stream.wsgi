# stream.wsgi - ?n=5&delay=0.3[&cl=1]: n chunks, `delay` seconds apart.
# Each chunk is one line "<index> <time.time() when produced>\n", so the
# client can compare its arrival with when the next chunk was made.
# Without cl=1 there is no Content-Length (chunked over HTTP/1.1).
import time
from urllib.parse import parse_qs


def application(environ, start_response):
    q = parse_qs(environ.get("QUERY_STRING", ""))
    n = int(q.get("n", ["5"])[0])
    delay = float(q.get("delay", ["0.3"])[0])
    headers = [("Content-Type", "text/plain")]
    width = 32
    if q.get("cl"):
        headers.append(("Content-Length", str(n * width)))
    start_response("200 OK", headers)

    def chunks():
        for i in range(n):
            if i:
                time.sleep(delay)
            line = "%d %.6f" % (i, time.time())
            yield (line.ljust(width - 1) + "\n").encode()
    return chunks()

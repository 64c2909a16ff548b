# stream100: a response streamed in 100 chunks of 1000 bytes, no
# Content-Length (so HTTP/1.1 clients get it chunked).
CHUNKS = 100
CHUNK = b'x' * 999 + b'\n'


def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    for _ in range(CHUNKS):
        yield CHUNK

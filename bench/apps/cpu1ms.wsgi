# cpu1ms: about 1 ms of pure-Python work while holding the GIL
# (27000 iterations ~ 1.0 ms with Debian's python3.11 on the 2-core
# reference machine).  The count is fixed so every setup does the same work.
ITERATIONS = 27000


def work(n):
    x = 0
    for i in range(n):
        x += i * i
    return x


def application(environ, start_response):
    body = b'%d' % (work(ITERATIONS) & 0xffff)
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]

# io10ms: 10 ms waiting on I/O (the GIL is released while sleeping).
import time


def application(environ, start_response):
    time.sleep(0.01)
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', '2')])
    return [b'OK']

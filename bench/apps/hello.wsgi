# hello: the classic WSGI server benchmark app, a few headers and "OK".
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', '2'),
                              ('Cache-Control', 'no-store')])
    return [b'OK']

# file5m: a 5.2 MB file through wsgi.file_wrapper.  bench.py writes
# file5m.bin next to this script (it copies the apps into its run directory).
import os

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'file5m.bin')


def application(environ, start_response):
    f = open(PATH, 'rb')
    size = os.fstat(f.fileno()).st_size
    start_response('200 OK', [('Content-Type', 'application/octet-stream'),
                              ('Content-Length', str(size))])
    wrapper = environ.get('wsgi.file_wrapper')
    if wrapper is not None:
        return wrapper(f, 65536)
    return _chunks(f)


def _chunks(f):
    with f:
        for block in iter(lambda: f.read(65536), b''):
            yield block

# calls: about 0.25 ms of call-heavy pure-Python work (a class, method
# calls, dict and string operations, json), timed inside the request by
# the thread's own CPU clock, which is what the body says (ns).  The
# interpreter's own speed, apart from the server around it: for
# bench/interp.py.
import json
import time


def work():
    class P:
        __slots__ = ('a', 'b')

        def __init__(self, a, b):
            self.a = a
            self.b = b

        def s(self):
            return self.a + self.b

    d = {}
    acc = 0
    for i in range(600):
        k = 'k%d' % (i % 97)
        d[k] = d.get(k, 0) + i
        p = P(i, len(k))
        acc += p.s()
    return acc + len(json.dumps(d))


def application(environ, start_response):
    t0 = time.thread_time_ns()
    work()
    dt = time.thread_time_ns() - t0
    body = b'%d' % dt
    start_response('200 OK', [('Content-Type', 'text/plain'),
                              ('Content-Length', str(len(body)))])
    return [body]

# logtruth.wsgi - one request of each kind t/test_log_truth.py checks the
# log of, by ?do=:
#   hello             answer with the daemon's pid
#   sleep&s=S         sleep S seconds first (a request in flight)
#   print&token=T     print() and sys.stderr lines while the request runs,
#                     and a print() from a thread of its own after it ended
#   upload            read the whole body; wsgi.input raises OSError when
#                     the client aborts the upload
#   upload_wrapped    the same, but turn that OSError into an error of its
#                     own, as a form parser might
#   file&size=N       N bytes of a file under PYW_STATE, via
#                     wsgi.file_wrapper (Apache sends it from the fd)
#   exit              os._exit(3): the daemon dies mid-request
import os
import sys
import threading
import time
from urllib.parse import parse_qs


def answer(start_response, body, ctype="text/plain"):
    start_response("200 OK", [("Content-Type", ctype),
                              ("Content-Length", str(len(body)))])
    return [body]


def read_all(environ):
    inp, n = environ["wsgi.input"], 0
    while True:
        data = inp.read(65536)
        if not data:
            return n
        n += len(data)


def data_file(environ, size):
    path = os.path.join(environ.get("PYW_STATE", "/tmp"),
                        "logtruth-data-%d" % size)
    if not os.path.exists(path):
        tmp = "%s.%d.%d" % (path, os.getpid(), threading.get_ident())
        with open(tmp, "wb") as f:
            f.write(b"x" * size)
        os.replace(tmp, path)
    return path


def later_print(token):
    time.sleep(0.3)
    print("pyw-truth-thread-" + token)


def application(environ, start_response):
    q = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    do = q.get("do", "hello")
    if do == "sleep":
        time.sleep(float(q.get("s", "1")))
    elif do == "print":
        token = q["token"]
        print("pyw-truth-stdout-" + token)
        sys.stderr.write("pyw-truth-stderr-%s\n" % token)
        threading.Thread(target=later_print, args=(token,)).start()
    elif do == "upload":
        return answer(start_response, b"%d" % read_all(environ))
    elif do == "upload_wrapped":
        try:
            n = read_all(environ)
        except OSError:
            raise ValueError("pyw-truth: upload incomplete")
        return answer(start_response, b"%d" % n)
    elif do == "file":
        path = data_file(environ, int(q.get("size", "100000")))
        start_response("200 OK", [("Content-Type",
                                   "application/octet-stream")])
        return environ["wsgi.file_wrapper"](open(path, "rb"), 8192)
    elif do == "exit":
        os._exit(3)
    return answer(start_response, str(os.getpid()).encode())

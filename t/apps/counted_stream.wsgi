# counted_stream.wsgi - ?n=400&size=1024&sleep=0.05&token=T: n chunks of
# `size` bytes, `sleep` seconds apart, no Content-Length.  It writes to
# $PYW_STATE/cs-<token>, a line each:
#   "yielded K"                     every 50th chunk as it is made
#   "closed K end|genexit <time>"   when the server calls close(): K
#                                   chunks made, "genexit" if the body
#                                   was stopped before its end
import os
import time
from urllib.parse import parse_qs


def _note(environ, token, text):
    if token:
        path = os.path.join(environ["PYW_STATE"], "cs-" + token)
        with open(path, "a") as f:
            f.write(text + "\n")


class Body:
    def __init__(self, environ, q):
        self.environ = environ
        self.token = q.get("token", "")
        self.n = int(q.get("n", "10"))
        self.size = int(q.get("size", "65536"))
        self.sleep = float(q.get("sleep", "0"))
        self.count = 0
        self.how = "end"
        self.gen = self.chunks()

    def chunks(self):
        block = b"x" * self.size
        try:
            for _ in range(self.n):
                self.count += 1
                if self.count % 50 == 1:
                    _note(self.environ, self.token,
                          "yielded %d" % self.count)
                yield block
                if self.sleep:
                    time.sleep(self.sleep)
        except GeneratorExit:
            self.how = "genexit"
            raise

    def __iter__(self):
        return self.gen

    def close(self):
        self.gen.close()
        _note(self.environ, self.token,
              "closed %d %s %.3f" % (self.count, self.how, time.time()))


def application(environ, start_response):
    q = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return Body(environ, q)

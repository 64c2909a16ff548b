"""Bounded concurrent load on 127.0.0.1.

A fixed number of requests, a fixed number of client threads, a timeout
on every request and a deadline on the whole run: it always stops by
itself.  Each client thread keeps one keep-alive connection and opens a
new one after any failure.
"""
import collections
import http.client
import threading
import time


class Record:
    __slots__ = ("index", "start", "end", "status", "body")

    def __init__(self, index, start, end, status, body):
        self.index, self.start, self.end = index, start, end
        self.status, self.body = status, body

    def __repr__(self):
        return "<#%d %s %.3f-%.3f>" % (self.index, self.status,
                                       self.start, self.end)


class Result:
    def __init__(self, records, elapsed):
        self.records = sorted(records, key=lambda r: r.start)
        self.elapsed = elapsed
        self.counts = collections.Counter(r.status for r in records)

    @property
    def ok(self):
        return self.counts.get(200, 0)

    def failures(self):
        return [r for r in self.records if r.status != 200]

    def __repr__(self):
        return "<Result %s in %.2fs>" % (dict(self.counts), self.elapsed)


class Load:
    """Load(port, path, total=100, concurrency=8).start() ... .join();
    stop() ends it early, records() shows it while it runs.

    path: a str, or a function index -> (method, path, body) or -> path.
    check: optional function (status, body) -> bool; a 200 whose body
    fails it is counted as 'BAD'.
    """

    def __init__(self, port, path, total=100, concurrency=8, timeout=10.0,
                 deadline=120.0, headers=None, check=None, keep_body=False):
        self.port, self.path, self.total = port, path, total
        self.concurrency, self.timeout = concurrency, timeout
        self.deadline, self.headers = deadline, headers or {}
        self.check, self.keep_body = check, keep_body
        self._next = 0
        self._stopped = False
        self._lock = threading.Lock()
        self._records = []
        self._threads = []
        self._t0 = None

    def _take(self):
        with self._lock:
            if self._next >= self.total or self._stopped or \
                    time.monotonic() - self._t0 > self.deadline:
                return None
            self._next += 1
            return self._next - 1

    def _spec(self, i):
        spec = self.path(i) if callable(self.path) else self.path
        if isinstance(spec, str):
            return "GET", spec, None
        return spec

    def _one(self, conn, i):
        method, path, body = self._spec(i)
        conn.request(method, path, body=body, headers=self.headers)
        resp = conn.getresponse()
        data = resp.read()
        status = resp.status
        if status == 200 and self.check and not self.check(status, data):
            status = "BAD"
        if resp.will_close:
            conn.close()
        return status, data

    def _worker(self):
        conn = None
        while True:
            i = self._take()
            if i is None:
                break
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                  timeout=self.timeout)
            start = time.monotonic()
            try:
                status, data = self._one(conn, i)
            except Exception as e:           # counted, never raised
                status, data = "EXC:" + type(e).__name__, b""
                conn.close()
                conn = None
            rec = Record(i, start, time.monotonic(), status,
                         data if self.keep_body else None)
            with self._lock:
                self._records.append(rec)
        if conn is not None:
            conn.close()

    def start(self):
        self._t0 = time.monotonic()
        for _ in range(self.concurrency):
            t = threading.Thread(target=self._worker, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def stop(self):
        """Send no more requests; join() waits for those in flight."""
        with self._lock:
            self._stopped = True

    def records(self):
        """The requests finished so far (while it runs)."""
        with self._lock:
            return list(self._records)

    def join(self):
        limit = self._t0 + self.deadline + self.timeout + 5
        for t in self._threads:
            t.join(max(0.1, limit - time.monotonic()))
        with self._lock:
            return Result(list(self._records), time.monotonic() - self._t0)

    def run(self):
        return self.start().join()


def run_load(port, path, **kw):
    """Run a bounded load to completion and return its Result."""
    return Load(port, path, **kw).run()


def parallel(fns, timeout=30.0):
    """Run callables at once on their own threads; their results in order
    (an exception is returned, not raised)."""
    results = [None] * len(fns)
    barrier = threading.Barrier(len(fns))

    def run(i, fn):
        try:
            barrier.wait(timeout)
            results[i] = fn()
        except Exception as e:
            results[i] = e

    threads = [threading.Thread(target=run, args=(i, fn), daemon=True)
               for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return results


def in_background(httpd, path, timeout=60):
    """httpd.get(path) on its own thread: (thread, box); box["r"] holds
    the response once the thread is joined."""
    box = {}

    def run():
        box["r"] = httpd.get(path, timeout=timeout)

    t = threading.Thread(target=run)
    t.start()
    return t, box

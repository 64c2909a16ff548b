# sqlite_thread.wsgi - one sqlite3 connection per worker thread, opened
# with check_same_thread=True and kept in a threading.local (as Zope and
# Plone keep a ZODB connection per thread), reused by every request that
# thread serves.  If a request ever ran on a thread other than the one
# that opened its connection, sqlite3 would raise ProgrammingError.
#
# It also checks that one request - call, iteration, close() - runs on a
# single thread and that a thread never runs two requests at once;
# ?stats=1 returns the counts for this process.
import json
import os
import sqlite3
import threading
import time

local = threading.local()
lock = threading.Lock()
busy = set()
stats = {"requests": 0, "overlaps": 0, "thread_switches": 0,
         "connections": 0}


def connection():
    conn = getattr(local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(":memory:", check_same_thread=True)
        conn.execute("create table hits (n integer)")
        local.conn = conn
        with lock:
            stats["connections"] += 1
    return conn


class Result:
    def __init__(self, tid, body):
        self.tid, self.body = tid, body

    def __iter__(self):
        if threading.get_ident() != self.tid:
            with lock:
                stats["thread_switches"] += 1
        yield self.body

    def close(self):
        tid = threading.get_ident()
        with lock:
            if tid != self.tid:
                stats["thread_switches"] += 1
            busy.discard(self.tid)


def application(environ, start_response):
    if environ.get("QUERY_STRING") == "stats=1":
        body = json.dumps(dict(stats, pid=os.getpid())).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]
    tid = threading.get_ident()
    with lock:
        if tid in busy:
            stats["overlaps"] += 1
        busy.add(tid)
        stats["requests"] += 1
    conn = connection()
    conn.execute("insert into hits values (1)")
    hits = conn.execute("select count(*) from hits").fetchone()[0]
    time.sleep(0.005)
    body = json.dumps({"thread": tid, "pid": os.getpid(),
                       "native": threading.get_native_id(),
                       "hits": hits}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return Result(tid, body)

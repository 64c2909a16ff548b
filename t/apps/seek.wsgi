# seek.wsgi - wsgi.input's seek()/tell() for t/test_input_seek.py, one
# way per ?mode= (JSON answer; "sha" values are sha256 hex digests):
#   reread       read the body (?how=read|read_n|readline, ?n=) without
#                asking for seekable() or tell() first, then seek(0) and
#                read it all again: sha1/len1, sha2/len2, tell() after each
#   partial      read(n), seek(0), read(): sha of the whole
#   middle       seek(at) before reading anything (forward), read the
#                rest; then read all from 0, seek(at), read the rest
#   lines        readline() to the end, seek(0), readline() again; then
#                seek(at) and readline() once
#   ends         seek(0, 2) -> the size; seek(-k, 2) and read; seek(-k, 1);
#                seek past the end; errors for bad arguments
#   zope         ZPublisher's retry: tell(), parse (read all), seek back;
#                a simulated ConflictError, stdin.seek(0), parse again;
#                the third attempt answers
#   ofs          OFS.Image.File._read_data: seek(0, 2), tell(), then
#                64 KiB pieces from the end backwards
#   hold         read all, then sleep ?secs= so the test can look at the
#                daemon's descriptors while the body is kept
#   abort        read(65536) (or ?how=readlines) until the client is gone
#                (OSError), answer anyway: got, tell() after the error, elapsed; ?again=1
#                reads twice more: what the first gives, and the errno
#                of the second
#   keep         remember this wsgi.input; the next request (?mode=stale)
#                finds every method refusing
# ?note=TOKEN also writes the answer to $PYW_STATE/seek-TOKEN, for a
# client that cannot read it.
# SetEnv SEEK_TMPDIR sets the daemon's TMPDIR (where a body beyond 1 MiB
# is kept) before the body is read.
import hashlib
import json
import os
import time
from urllib.parse import parse_qs

KEPT = []


class ConflictError(Exception):
    """Stands for ZODB's ConflictError (a TransientError)."""


def sha(data):
    return hashlib.sha256(data).hexdigest()


def read_all(inp, how="read", n=65536):
    """(sha, length) of what is left, read one way."""
    h, total = hashlib.sha256(), 0
    while True:
        if how == "read":
            d = inp.read()
        elif how == "read_n":
            d = inp.read(n)
        else:
            d = inp.readline()
        h.update(d)
        total += len(d)
        if not d or how == "read":
            return h.hexdigest(), total


def reread(inp, q):
    """Reads first, asks nothing before: the body is kept anyway."""
    how, n = q.get("how", "read"), int(q.get("n", "65536"))
    out = {}
    out["sha1"], out["len1"] = read_all(inp, how, n)
    out["tell1"] = inp.tell()
    out["seekable"] = inp.seekable()
    out["seek"] = inp.seek(0)
    out["tell0"] = inp.tell()
    out["sha2"], out["len2"] = read_all(inp, how, n)
    out["tell2"] = inp.tell()
    out["after"] = [inp.read(), inp.readline()] == [b"", b""]
    return out


def partial(inp, q):
    first = inp.read(int(q["n"]))
    out = {"first": len(first), "tell": inp.tell(), "seek": inp.seek(0)}
    out["sha"], out["len"] = read_all(inp, "read")
    return out


def middle(inp, q):
    at = int(q["at"])
    out = {"seek": inp.seek(at), "tell": inp.tell()}
    out["sha_fwd"], out["len_fwd"] = read_all(inp, "read_n")
    inp.seek(0)
    out["sha_all"], out["len_all"] = read_all(inp, "read_n")
    out["seek_back"] = inp.seek(at)
    out["sha_back"], out["len_back"] = read_all(inp, "read")
    return out


def lines(inp, q):
    first = list(inp)
    inp.seek(0)
    second = []
    while True:
        line = inp.readline()
        if not line:
            break
        second.append(line)
    at = int(q.get("at", "0"))
    inp.seek(at)
    return {"n1": len(first), "n2": len(second), "same": first == second,
            "sha": sha(b"".join(second)), "line_at": sha(inp.readline()),
            "tell": inp.tell()}


def ends(inp, q):
    k = int(q.get("k", "100"))
    out = {"size": inp.seek(0, 2), "tell": inp.tell()}
    out["seek_end_k"] = inp.seek(-k, 2)
    out["tail"] = sha(inp.read())
    inp.seek(-k, 1)
    out["again"] = sha(inp.read(k))
    out["cur_clamped"] = inp.seek(-(out["size"] + 50), 1)
    out["past"] = inp.seek(out["size"] + 1000)
    out["past_read"] = [len(inp.read()), len(inp.read(5)),
                        len(inp.readline())]
    out["past_tell"] = inp.tell()
    errors = []
    for args in ((-1,), (0, 3), (1.5,), ("x",)):
        try:
            inp.seek(*args)
            errors.append(None)
        except (ValueError, TypeError) as e:
            errors.append(type(e).__name__)
    out["errors"] = errors
    inp.seek(0)
    out["sha"], out["len"] = read_all(inp, "read")
    return out


def zope(inp, q):
    """A request object per attempt over the same stdin, as
    ZPublisher.HTTPRequest.retry() makes them."""
    shas, attempts = [], 0
    stdin = inp
    while True:
        attempts += 1
        fpos = stdin.tell()                 # ZopeFieldStorage
        digest, _ = read_all(stdin, "read_n", 16384)
        stdin.seek(fpos)
        shas.append(digest)
        try:
            if attempts < 3:
                raise ConflictError("database conflict")
            break
        except ConflictError:
            stdin.seek(0)                   # HTTPRequest.retry()
    body = stdin.read()                     # REQUEST["BODY"]
    return {"attempts": attempts, "shas": shas, "body": sha(body),
            "len": len(body)}


def ofs(inp, q):
    """OFS.Image.File._read_data over REQUEST['BODYFILE']."""
    n = 1 << 16
    inp.seek(0, 2)
    size = end = inp.tell()
    pieces = []
    while end > 0:
        pos = end - n
        if pos < n:
            pos = 0
        inp.seek(pos)
        pieces.append(inp.read(end - pos))
        end = pos
    data = b"".join(reversed(pieces))
    return {"size": size, "sha": sha(data), "len": len(data)}


def hold(inp, q):
    out = {"pid": os.getpid()}
    out["sha"], out["len"] = read_all(inp, "read_n")
    time.sleep(float(q.get("secs", "1")))
    return out


def abort(inp, q):
    got, t0 = 0, time.monotonic()
    try:
        while True:
            if q.get("how") == "readlines":
                d = b"".join(inp.readlines())
            else:
                d = inp.read(65536)
            if not d:
                break
            got += len(d)
    except OSError as e:
        out = {"error": e.errno, "got": got, "pid": os.getpid(),
               "tell": inp.tell(), "elapsed": time.monotonic() - t0}
        if q.get("again"):
            out["again"] = [len(inp.read(65536)), inp.tell()]
            try:
                inp.read(65536)
                out["then"] = None
            except OSError as e2:
                out["then"] = e2.errno
        return out
    return {"error": None, "got": got, "pid": os.getpid()}


def keep(inp, q):
    KEPT[:] = [inp]
    inp.read()
    return {"pid": os.getpid()}


def stale(inp, q):
    old = KEPT[0]
    out = {}
    for name, args in (("seek", (0,)), ("tell", ()), ("read", ()),
                       ("seekable", ())):
        try:
            getattr(old, name)(*args)
            out[name] = None
        except OSError as e:
            out[name] = type(e).__name__
    return out


MODES = {f.__name__: f for f in (reread, partial, middle, lines, ends, zope,
                                 ofs, hold, abort, keep, stale)}


def application(environ, start_response):
    q = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    tmpdir = environ.get("SEEK_TMPDIR")
    if tmpdir and os.environ.get("TMPDIR") != tmpdir:
        os.environ["TMPDIR"] = tmpdir
    out = MODES[q.get("mode", "reread")](environ["wsgi.input"], q)
    out["content_length"] = environ.get("CONTENT_LENGTH")
    body = json.dumps(out).encode()
    if q.get("note"):
        path = os.path.join(environ["PYW_STATE"], "seek-" + q["note"])
        with open(path + ".tmp", "wb") as f:
            f.write(body)
        os.replace(path + ".tmp", path)
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]

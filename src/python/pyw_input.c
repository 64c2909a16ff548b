/*
 * pyw_input.c - wsgi.input: a read-only, seekable binary file over the
 * request body.
 *
 * The body is pulled from Apache on demand (pyw_dconn_read_body), so an
 * app that never reads never makes Apache send "100 Continue".  Every
 * byte pulled is also kept (pyw_rewind: in memory up to
 * PYW_INPUT_KEEP_MEM, beyond that in a file without a name in $TMPDIR,
 * else /tmp), so seek() can go back to any position, as Zope does to
 * retry a request after a ConflictError; reads after a seek back come
 * from what was kept, then carry on from Apache.  A seek past what was
 * read pulls (and keeps) the body up to there.  The object keeps one
 * read-ahead buffer, used only when a line must be found (readline,
 * iteration); read() copies what is buffered and then reads straight
 * into the bytes object it returns.
 *
 * Invariants:
 *   - Every method runs with the GIL held; the GIL is released only
 *     around pyw_dconn_read_body() and the keeping of what it returned,
 *     and around reads of a kept file, and only while 'busy' is set, so
 *     no other thread can touch the object meanwhile.
 *   - buf[pos, end) holds body bytes [off, off + end - pos): 'off' is the
 *     app's position (tell()).
 *   - got bytes came from Apache; kept.size == got unless keeping failed
 *     (kept.err), and then [kept.size, got) cannot be read again.
 *   - Once 'eof' is set Apache is never asked again: after the body ended
 *     (dconn returned 0), or once content_length bytes came.
 *   - With a known content_length, Apache is never asked for more than
 *     the bytes still due.
 *   - After pyw_input_detach() 'conn' is NULL, the kept bytes are gone
 *     (file closed), and every method except close() raises OSError.
 */
#include "pyw_python.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pyw_input.h"
#include "pyw_interp_private.h"
#include "../common/pyw_rewind.h"
#include "../daemon/pyw_dlog.h"

#define PYW_LOGNO_INPUT_READ    350

#define PYW_INPUT_MAX_PULL  (1024 * 1024) /* per pyw_dconn_read_body call */
#define PYW_INPUT_FILL      (64 * 1024)   /* read-ahead when looking for \n */
#define PYW_INPUT_BUF_KEEP  (1024 * 1024) /* larger buffers freed once empty */
#define PYW_INPUT_PREALLOC  (16 * 1024 * 1024) /* biggest up-front alloc */
#define PYW_INPUT_GROW_MIN  (64 * 1024)   /* first size for read() to EOF */
#define PYW_INPUT_KEEP_MEM  (1024 * 1024) /* kept in memory; beyond: a file */

typedef struct {
    PyObject_HEAD
    pyw_dconn_t *conn;      /* NULL once detached */
    long long    remaining; /* bytes still due from Apache; -1 unknown */
    int          eof;       /* never ask Apache again */
    int          busy;      /* a method of this object is running */
    int          detaching; /* pyw_input_detach() is waiting for 'busy' */
    long         err;       /* sticky -errno of a failed read, else 0 */
    long long    got;       /* body bytes pulled from Apache */
    long long    off;       /* the app's position: body offset of buf[pos] */
    pyw_rewind_t kept;      /* body bytes [0, kept.size), for seek() */
    char        *buf;       /* read-ahead: [pos, end) unread */
    Py_ssize_t   cap;
    Py_ssize_t   pos;
    Py_ssize_t   end;
} pyw_input_t;

/* OSError(errno, text). */
static void input_raise(long err, const char *text)
{
    PyObject *exc = PyObject_CallFunction(PyExc_OSError, "is",
                                          (int)-err, text);

    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
}

/* The adapter tells an aborted client body (ECANCELED) from a lost
 * connection by the errno. */
static void input_set_error(long err)
{
    input_raise(err, err == -ECANCELED
                     ? "request body could not be read from the client"
                     : "connection to Apache lost");
}

/*
 * Pull at most len bytes of body into dst, and keep them.  Returns the
 * count, 0 at the end of the body, -1 with an exception set.  Releases
 * the GIL around the socket I/O and the keeping (which may write to a
 * file); the caller holds 'busy'.  A failure to keep raises nothing here:
 * only a seek back needs the kept bytes.
 */
static Py_ssize_t input_pull(pyw_input_t *self, char *dst, Py_ssize_t len)
{
    pyw_dconn_t *conn = self->conn;
    long n;

    if (self->detaching) {
        PyErr_SetString(PyExc_OSError,
                        "wsgi.input used after the request ended");
        return -1;
    }
    if (self->err) {
        input_set_error(self->err);
        return -1;
    }
    if (self->eof || self->remaining == 0) {
        self->eof = 1;
        return 0;
    }
    if (len > PYW_INPUT_MAX_PULL) {
        len = PYW_INPUT_MAX_PULL;
    }
    if (self->remaining > 0 && len > self->remaining) {
        len = (Py_ssize_t)self->remaining;
    }
    /* The file's directory is read with the GIL held: os.environ
     * changes it with the GIL held. */
    if (pyw_rewind_needs_file(&self->kept, (size_t)len)) {
        pyw_rewind_set_dir(&self->kept, getenv("TMPDIR"));
    }
    Py_BEGIN_ALLOW_THREADS
    n = pyw_dconn_read_body(conn, dst, (size_t)len);
    if (n > 0) {
        pyw_rewind_add(&self->kept, dst, (size_t)n);
    }
    Py_END_ALLOW_THREADS

    if (n < 0) {
        self->err = n;
        pyw_dlog(PYW_LOG_DEBUG, PYW_LOGNO_INPUT_READ, NULL,
                 "reading the request body failed: %s",
                 n == -ECANCELED ? "client body not available"
                                 : strerror((int)-n));
        input_set_error(n);
        return -1;
    }
    if (n == 0) {
        self->eof = 1;
        return 0;
    }
    self->got += n;
    if (self->remaining > 0) {
        self->remaining -= n;
        if (self->remaining == 0) {
            self->eof = 1;
        }
    }
    return (Py_ssize_t)n;
}

/*
 * At most len body bytes from offset at into dst: what was kept when at
 * is behind the bytes pulled so far, else more from Apache.  The count,
 * 0 at the end of the body, -1 with an exception set.
 */
static Py_ssize_t input_fetch(pyw_input_t *self, long long at, char *dst,
                              Py_ssize_t len)
{
    ssize_t n;

    if (at > self->got) {
        return 0;               /* seek() went past the end */
    }
    if (at == self->got) {
        return input_pull(self, dst, len);
    }
    if (at >= (long long)self->kept.size) {
        input_raise(self->kept.err, "wsgi.input: this part of the request "
                    "body could not be kept to be read again");
        return -1;
    }
    if (pyw_rewind_on_disk(&self->kept)) {
        Py_BEGIN_ALLOW_THREADS
        n = pyw_rewind_read(&self->kept, (uint64_t)at, dst, (size_t)len);
        Py_END_ALLOW_THREADS
    }
    else {
        n = pyw_rewind_read(&self->kept, (uint64_t)at, dst, (size_t)len);
    }
    if (n < 0) {
        input_raise(n, "wsgi.input: the kept request body could not be "
                    "read back");
        return -1;
    }
    return (Py_ssize_t)n;
}

/* Every method starts here: refuse a detached or concurrently used
 * object, then mark it busy until input_leave(). */
static int input_enter(pyw_input_t *self)
{
    if (self->conn == NULL || self->detaching) {
        PyErr_SetString(PyExc_OSError,
                        "wsgi.input used after the request ended");
        return -1;
    }
    if (self->busy) {
        PyErr_SetString(PyExc_RuntimeError,
                        "wsgi.input is being read by another thread");
        return -1;
    }
    self->busy = 1;
    return 0;
}

/* Drop a big buffer once it is empty: one huge line must not pin
 * memory for the rest of the request. */
static void input_leave(pyw_input_t *self)
{
    if (self->pos == self->end) {
        self->pos = self->end = 0;
        if (self->cap > PYW_INPUT_BUF_KEEP) {
            PyMem_Free(self->buf);
            self->buf = NULL;
            self->cap = 0;
        }
    }
    self->busy = 0;
}

/* Make room for at least 'room' more bytes after 'end'. */
static int input_buf_reserve(pyw_input_t *self, Py_ssize_t room)
{
    Py_ssize_t need, ncap;
    char *nbuf;

    if (self->cap - self->end >= room) {
        return 0;
    }
    if (self->pos > 0) {
        memmove(self->buf, self->buf + self->pos, self->end - self->pos);
        self->end -= self->pos;
        self->pos = 0;
        if (self->cap - self->end >= room) {
            return 0;
        }
    }
    need = self->end + room;
    ncap = self->cap ? self->cap : PYW_INPUT_FILL;
    while (ncap < need) {
        if (ncap > PY_SSIZE_T_MAX / 2) {
            PyErr_NoMemory();
            return -1;
        }
        ncap *= 2;
    }
    nbuf = PyMem_Realloc(self->buf, ncap);
    if (nbuf == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->buf = nbuf;
    self->cap = ncap;
    return 0;
}

/* Append more body to the read-ahead buffer: count, 0 at end, -1. */
static Py_ssize_t input_fill(pyw_input_t *self)
{
    long long at = self->off + (self->end - self->pos);
    Py_ssize_t n;

    if (self->eof && at >= self->got) {
        return 0;
    }
    if (input_buf_reserve(self, PYW_INPUT_FILL) < 0) {
        return -1;
    }
    n = input_fetch(self, at, self->buf + self->end, self->cap - self->end);
    if (n > 0) {
        self->end += n;
    }
    return n;
}

/* Hand out n buffered bytes. */
static PyObject *input_take(pyw_input_t *self, Py_ssize_t n)
{
    PyObject *res = PyBytes_FromStringAndSize(self->buf + self->pos, n);

    if (res != NULL) {
        self->pos += n;
        self->off += n;
    }
    return res;
}

/* The body's length once it is known, else -1. */
static long long input_body_end(const pyw_input_t *self)
{
    if (self->eof) {
        return self->got;
    }
    return self->remaining >= 0 ? self->got + self->remaining : -1;
}

/* The most bytes read(want) can return from the position: -1 when
 * unbounded. */
static Py_ssize_t input_limit(const pyw_input_t *self, Py_ssize_t want)
{
    long long end = input_body_end(self);
    long long avail = end > self->off ? end - self->off : 0;

    if (end < 0 || (want >= 0 && want <= avail)) {
        return want;
    }
    return avail > PY_SSIZE_T_MAX ? PY_SSIZE_T_MAX : (Py_ssize_t)avail;
}

/* Grow the result of read() towards lim (or without bound if lim < 0). */
static int input_grow(PyObject **res, Py_ssize_t *alloc, Py_ssize_t lim)
{
    Py_ssize_t nalloc;

    if (*alloc > PY_SSIZE_T_MAX / 2) {
        PyErr_NoMemory();
        return -1;
    }
    nalloc = *alloc * 2;
    if (lim >= 0 && nalloc > lim) {
        nalloc = lim;
    }
    if (_PyBytes_Resize(res, nalloc) < 0) {
        return -1;
    }
    *alloc = nalloc;
    return 0;
}

/* read(want): want < 0 reads to the end of the body. */
static PyObject *input_read_impl(pyw_input_t *self, Py_ssize_t want)
{
    Py_ssize_t have = self->end - self->pos;
    Py_ssize_t lim = input_limit(self, want);
    Py_ssize_t alloc, len;
    PyObject *res;

    if (lim >= 0 && lim <= have) {
        return input_take(self, lim);
    }
    alloc = lim >= 0 ? lim : have + PYW_INPUT_GROW_MIN;
    if (alloc - have > PYW_INPUT_PREALLOC) {
        alloc = have + PYW_INPUT_PREALLOC;
    }
    res = PyBytes_FromStringAndSize(NULL, alloc);
    if (res == NULL) {
        return NULL;
    }
    if (have > 0) {
        memcpy(PyBytes_AS_STRING(res), self->buf + self->pos, have);
    }
    self->pos = self->end = 0;
    self->off += have;
    len = have;
    while (lim < 0 || len < lim) {
        Py_ssize_t n;

        if (len == alloc && input_grow(&res, &alloc, lim) < 0) {
            return NULL;
        }
        n = input_fetch(self, self->off, PyBytes_AS_STRING(res) + len,
                        alloc - len);
        if (n < 0) {
            Py_DECREF(res);
            return NULL;
        }
        if (n == 0) {
            break;
        }
        len += n;
        self->off += n;
    }
    if (len != alloc && _PyBytes_Resize(&res, len) < 0) {
        return NULL;
    }
    return res;
}

/* readline(limit): up to and including b"\n", at most limit bytes if
 * limit >= 0.  Grows the read-ahead buffer until the line is in it. */
static PyObject *input_readline_impl(pyw_input_t *self, Py_ssize_t limit)
{
    Py_ssize_t scanned = 0;

    for (;;) {
        Py_ssize_t avail = self->end - self->pos;
        Py_ssize_t span = (limit >= 0 && avail > limit) ? limit : avail;
        char *start = self->buf + self->pos;
        char *nl = span > scanned
                   ? memchr(start + scanned, '\n', span - scanned) : NULL;
        Py_ssize_t n;

        if (nl != NULL) {
            return input_take(self, nl - start + 1);
        }
        if (limit >= 0 && avail >= limit) {
            return input_take(self, limit);
        }
        scanned = span;
        n = input_fill(self);
        if (n < 0) {
            return NULL;
        }
        if (n == 0) {
            return input_take(self, self->end - self->pos);
        }
    }
}

/* size argument as io does it: absent or None means -1. */
static int input_size_arg(PyObject *arg, Py_ssize_t *size)
{
    if (arg == NULL || arg == Py_None) {
        *size = -1;
        return 0;
    }
    if (!PyIndex_Check(arg)) {
        PyErr_Format(PyExc_TypeError,
                     "argument should be integer or None, not '%.200s'",
                     Py_TYPE(arg)->tp_name);
        return -1;
    }
    *size = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
    if (*size == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (*size < 0) {
        *size = -1;
    }
    return 0;
}

static PyObject *input_read(pyw_input_t *self, PyObject *args)
{
    PyObject *arg = NULL, *res;
    Py_ssize_t size;

    if (!PyArg_ParseTuple(args, "|O:read", &arg)
        || input_size_arg(arg, &size) < 0 || input_enter(self) < 0) {
        return NULL;
    }
    res = input_read_impl(self, size);
    input_leave(self);
    return res;
}

static PyObject *input_readline(pyw_input_t *self, PyObject *args)
{
    PyObject *arg = NULL, *res;
    Py_ssize_t size;

    if (!PyArg_ParseTuple(args, "|O:readline", &arg)
        || input_size_arg(arg, &size) < 0 || input_enter(self) < 0) {
        return NULL;
    }
    res = input_readline_impl(self, size);
    input_leave(self);
    return res;
}

/* readlines(hint): stop once the lines total hint bytes (hint > 0). */
static PyObject *input_readlines_impl(pyw_input_t *self, Py_ssize_t hint)
{
    PyObject *list = PyList_New(0);
    Py_ssize_t total = 0;

    while (list != NULL) {
        PyObject *line = input_readline_impl(self, -1);
        Py_ssize_t n;

        if (line == NULL) {
            Py_CLEAR(list);
            break;
        }
        n = PyBytes_GET_SIZE(line);
        if (n == 0) {
            Py_DECREF(line);
            break;
        }
        if (PyList_Append(list, line) < 0) {
            Py_CLEAR(list);
        }
        Py_DECREF(line);
        total += n;
        if (hint > 0 && total >= hint) {
            break;
        }
    }
    return list;
}

static PyObject *input_readlines(pyw_input_t *self, PyObject *args)
{
    PyObject *arg = NULL, *res;
    Py_ssize_t hint;

    if (!PyArg_ParseTuple(args, "|O:readlines", &arg)
        || input_size_arg(arg, &hint) < 0 || input_enter(self) < 0) {
        return NULL;
    }
    res = input_readlines_impl(self, hint);
    input_leave(self);
    return res;
}

static PyObject *input_iter(pyw_input_t *self)
{
    if (self->conn == NULL) {
        PyErr_SetString(PyExc_OSError,
                        "wsgi.input used after the request ended");
        return NULL;
    }
    Py_INCREF(self);
    return (PyObject *)self;
}

/* NULL without an exception set ends the iteration. */
static PyObject *input_next(pyw_input_t *self)
{
    PyObject *line;

    if (input_enter(self) < 0) {
        return NULL;
    }
    line = input_readline_impl(self, -1);
    input_leave(self);
    if (line != NULL && PyBytes_GET_SIZE(line) == 0) {
        Py_CLEAR(line);
    }
    return line;
}

static PyObject *input_readable(pyw_input_t *self, PyObject *unused)
{
    if (self->conn == NULL) {
        PyErr_SetString(PyExc_OSError,
                        "wsgi.input used after the request ended");
        return NULL;
    }
    Py_RETURN_TRUE;
}

static PyObject *input_seekable(pyw_input_t *self, PyObject *unused)
{
    return input_readable(self, unused);
}

static PyObject *input_tell(pyw_input_t *self, PyObject *unused)
{
    if (self->conn == NULL) {
        PyErr_SetString(PyExc_OSError,
                        "wsgi.input used after the request ended");
        return NULL;
    }
    return PyLong_FromLongLong(self->off);
}

/* Pull (and keep) the body until 'got' reaches target, or to its end
 * when target < 0.  The buffer is the scratch space; the last piece
 * stays in it as read-ahead.  0, or -1 with an exception set. */
static int input_pull_to(pyw_input_t *self, long long target)
{
    while (!self->eof && (target < 0 || self->got < target)) {
        long long want = target < 0 ? PYW_INPUT_MAX_PULL
                                    : target - self->got;
        Py_ssize_t n;

        if (want > PYW_INPUT_MAX_PULL) {
            want = PYW_INPUT_MAX_PULL;
        }
        self->pos = self->end = 0;
        if (input_buf_reserve(self, (Py_ssize_t)want) < 0
            || (n = input_pull(self, self->buf, (Py_ssize_t)want)) < 0) {
            return -1;
        }
        if (n > 0) {
            self->off = self->got - n;
            self->end = n;
        }
    }
    return 0;
}

/* Where seek(offset, whence) goes, pulling the body first when it lies
 * ahead (to its end for SEEK_END).  As io.BytesIO: a negative absolute
 * offset is a ValueError, a relative one stops at 0, and past the end is
 * allowed (reads there give b"").  -1 with an exception set. */
static long long input_seek_target(pyw_input_t *self, long long offset,
                                   int whence)
{
    long long base = 0, target;

    if (whence == SEEK_SET && offset < 0) {
        PyErr_Format(PyExc_ValueError, "negative seek value %lld", offset);
        return -1;
    }
    if (whence == SEEK_CUR) {
        base = self->off;
    }
    else if (whence == SEEK_END) {
        if (input_pull_to(self, -1) < 0) {
            return -1;
        }
        base = self->got;
    }
    else if (whence != SEEK_SET) {
        PyErr_Format(PyExc_ValueError,
                     "invalid whence (%d, should be 0, 1 or 2)", whence);
        return -1;
    }
    if (__builtin_add_overflow(base, offset, &target)) {
        PyErr_SetString(PyExc_OverflowError, "seek offset out of range");
        return -1;
    }
    if (target < 0) {
        target = 0;
    }
    if (target > self->got && input_pull_to(self, target) < 0) {
        return -1;
    }
    return target;
}

/* Move to target: within the buffer it stays; elsewhere the next read
 * comes from what was kept (behind 'got') or from Apache. */
static int input_seek_to(pyw_input_t *self, long long target)
{
    long long start = self->off - self->pos;    /* body offset of buf[0] */

    if (target >= start && target <= start + self->end) {
        self->pos = (Py_ssize_t)(target - start);
        self->off = target;
        return 0;
    }
    if (target < self->got && self->kept.err) {
        char text[160];

        PyOS_snprintf(text, sizeof(text), "wsgi.input cannot go back: the "
                      "request body read so far could not be kept (%s)",
                      strerror((int)-self->kept.err));
        input_raise(self->kept.err, text);
        return -1;
    }
    self->pos = self->end = 0;
    self->off = target;
    return 0;
}

static PyObject *input_seek(pyw_input_t *self, PyObject *args)
{
    long long offset, target, old;
    int whence = SEEK_SET;

    if (!PyArg_ParseTuple(args, "L|i:seek", &offset, &whence)
        || input_enter(self) < 0) {
        return NULL;
    }
    old = self->off;
    target = input_seek_target(self, offset, whence);
    if (target < 0 || input_seek_to(self, target) < 0) {
        /* A pull used the buffer and moved the position: back where it
         * was, unbuffered. */
        if (self->off != old) {
            self->pos = self->end = 0;
            self->off = old;
        }
        input_leave(self);
        return NULL;
    }
    input_leave(self);
    return PyLong_FromLongLong(self->off);
}

/* The body belongs to the request, not to the app: close() keeps it
 * readable for the adapter and never raises (apps call it in finally). */
static PyObject *input_close(pyw_input_t *self, PyObject *unused)
{
    Py_RETURN_NONE;
}

static void input_dealloc(pyw_input_t *self)
{
    PyTypeObject *type = Py_TYPE(self);

    pyw_rewind_free(&self->kept);
    PyMem_Free(self->buf);
    PyObject_Free(self);
    Py_DECREF(type);            /* a heap type: its objects hold it */
}

static PyMethodDef input_methods[] = {
    {"read", (PyCFunction)input_read, METH_VARARGS,
     "read(size=-1) -> bytes: up to size bytes, or the rest of the body."},
    {"readline", (PyCFunction)input_readline, METH_VARARGS,
     "readline(size=-1) -> bytes: one line, at most size bytes."},
    {"readlines", (PyCFunction)input_readlines, METH_VARARGS,
     "readlines(hint=-1) -> list of lines."},
    {"readable", (PyCFunction)input_readable, METH_NOARGS, NULL},
    {"seekable", (PyCFunction)input_seekable, METH_NOARGS,
     "seekable() -> True: every byte read is kept for reading again."},
    {"seek", (PyCFunction)input_seek, METH_VARARGS,
     "seek(offset, whence=0) -> the new position; ahead of what was read,\n"
     "the body is read up to there."},
    {"tell", (PyCFunction)input_tell, METH_NOARGS,
     "tell() -> the position in the body."},
    {"close", (PyCFunction)input_close, METH_NOARGS, NULL},
    {NULL, NULL, 0, NULL}
};

static PyType_Slot input_slots[] = {
    { Py_tp_dealloc, (void *)input_dealloc },
    { Py_tp_doc, (void *)"wsgi.input: the request body." },
    { Py_tp_iter, (void *)input_iter },
    { Py_tp_iternext, (void *)input_next },
    { Py_tp_methods, input_methods },
    { 0, NULL }
};

static PyType_Spec input_spec = {
    .name = "mod_pyworker.Input",
    .basicsize = sizeof(pyw_input_t),
    .flags = Py_TPFLAGS_DEFAULT | PYW_TPFLAGS_NO_NEW,
    .slots = input_slots,
};

int pyw_input_init_type(pyw_interp_t *ip)
{
    ip->input_type = pyw_type_from_spec(&input_spec, 0);
    return ip->input_type ? 0 : -1;
}

PyObject *pyw_input_new(const pyw_interp_t *ip, pyw_dconn_t *c,
                        long long content_length)
{
    pyw_input_t *self = PyObject_New(pyw_input_t, ip->input_type);

    if (self == NULL) {
        return NULL;
    }
    self->conn = c;
    self->remaining = content_length < 0 ? -1 : content_length;
    self->eof = content_length == 0;
    self->busy = 0;
    self->detaching = 0;
    self->err = 0;
    self->got = self->off = 0;
    pyw_rewind_init(&self->kept, PYW_INPUT_KEEP_MEM,
                    content_length > 0 ? (uint64_t)content_length : 0);
    self->buf = NULL;
    self->cap = self->pos = self->end = 0;
    return (PyObject *)self;
}

/*
 * Called with the GIL by the request's thread.  If another thread is
 * inside a read (GIL released, blocked on the socket), wait for it: the
 * connection must not serve the next request while it is still in use.
 * 'detaching' makes that thread's next pull fail, so the wait is for one
 * pyw_dconn_read_body() call at most, not for the rest of the body.
 */
void pyw_input_detach(const pyw_interp_t *ip, PyObject *input)
{
    pyw_input_t *self = (pyw_input_t *)input;

    if (input == NULL || !Py_IS_TYPE(input, ip->input_type)) {
        return;
    }
    self->detaching = 1;
    while (self->busy) {
        Py_BEGIN_ALLOW_THREADS
        usleep(1000);
        Py_END_ALLOW_THREADS
    }
    self->conn = NULL;
    self->eof = 1;
    if (pyw_rewind_on_disk(&self->kept)) {
        /* Closing the last reference to a big file frees its pages:
         * milliseconds per 100 MB.  Every method refuses the object from
         * here on (conn is NULL), so no thread can touch 'kept'. */
        Py_BEGIN_ALLOW_THREADS
        pyw_rewind_free(&self->kept);
        Py_END_ALLOW_THREADS
    }
    else {
        pyw_rewind_free(&self->kept);
    }
    PyMem_Free(self->buf);
    self->buf = NULL;
    self->cap = self->pos = self->end = 0;
}

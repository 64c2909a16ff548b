/*
 * pyw_input.c - wsgi.input: a read-only binary file over the request body.
 *
 * The body is pulled from Apache on demand (pyw_dconn_read_body), so an
 * app that never reads never makes Apache send "100 Continue".  The
 * object keeps one read-ahead buffer, used only when a line must be
 * found (readline, iteration); read() copies what is buffered and then
 * reads straight into the bytes object it returns.
 *
 * Invariants:
 *   - Every method runs with the GIL held; the GIL is released only
 *     around pyw_dconn_read_body(), and only while 'busy' is set, so no
 *     other thread can touch the buffer or the connection meanwhile.
 *   - Once 'eof' is set the connection is never asked again: after the
 *     body ended (dconn returned 0), or once content_length bytes came.
 *   - With a known content_length, Apache is never asked for more than
 *     the bytes still due.
 *   - After pyw_input_detach() 'conn' is NULL and every method except
 *     close() raises OSError.
 */
#include "pyw_python.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "pyw_input.h"
#include "pyw_interp_private.h"
#include "../daemon/pyw_dlog.h"

#define PYW_LOGNO_INPUT_READ    350

#define PYW_INPUT_MAX_PULL  (1024 * 1024) /* per pyw_dconn_read_body call */
#define PYW_INPUT_FILL      (64 * 1024)   /* read-ahead when looking for \n */
#define PYW_INPUT_BUF_KEEP  (1024 * 1024) /* larger buffers freed once empty */
#define PYW_INPUT_PREALLOC  (16 * 1024 * 1024) /* biggest up-front alloc */
#define PYW_INPUT_GROW_MIN  (64 * 1024)   /* first size for read() to EOF */

typedef struct {
    PyObject_HEAD
    pyw_dconn_t *conn;      /* NULL once detached */
    long long    remaining; /* bytes still due from Apache; -1 unknown */
    int          eof;       /* never ask Apache again */
    int          busy;      /* a method of this object is running */
    int          detaching; /* pyw_input_detach() is waiting for 'busy' */
    long         err;       /* sticky -errno of a failed read, else 0 */
    char        *buf;       /* read-ahead: [pos, end) unread */
    Py_ssize_t   cap;
    Py_ssize_t   pos;
    Py_ssize_t   end;
} pyw_input_t;

/* OSError(errno, text): the adapter tells an aborted client body
 * (ECANCELED) from a lost connection by the errno. */
static void input_set_error(long err)
{
    const char *text = err == -ECANCELED
        ? "request body could not be read from the client"
        : "connection to Apache lost";
    PyObject *exc = PyObject_CallFunction(PyExc_OSError, "is",
                                          (int)-err, text);

    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
}

/*
 * Pull at most len bytes of body into dst.  Returns the count, 0 at the
 * end of the body, -1 with an exception set.  Releases the GIL around the
 * socket I/O; the caller holds 'busy'.
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
    Py_BEGIN_ALLOW_THREADS
    n = pyw_dconn_read_body(conn, dst, (size_t)len);
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
    if (self->remaining > 0) {
        self->remaining -= n;
        if (self->remaining == 0) {
            self->eof = 1;
        }
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

/* Make room for at least PYW_INPUT_FILL more bytes after 'end'. */
static int input_buf_reserve(pyw_input_t *self)
{
    Py_ssize_t need, ncap;
    char *nbuf;

    if (self->cap - self->end >= PYW_INPUT_FILL) {
        return 0;
    }
    if (self->pos > 0) {
        memmove(self->buf, self->buf + self->pos, self->end - self->pos);
        self->end -= self->pos;
        self->pos = 0;
        if (self->cap - self->end >= PYW_INPUT_FILL) {
            return 0;
        }
    }
    need = self->end + PYW_INPUT_FILL;
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
    Py_ssize_t n;

    if (self->eof) {
        return 0;
    }
    if (input_buf_reserve(self) < 0) {
        return -1;
    }
    n = input_pull(self, self->buf + self->end, self->cap - self->end);
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
    }
    return res;
}

/* The most bytes read(want) can return: -1 when unbounded. */
static Py_ssize_t input_limit(const pyw_input_t *self, Py_ssize_t have,
                              Py_ssize_t want)
{
    Py_ssize_t lim = want;

    if (self->eof) {
        return (lim < 0 || have < lim) ? have : lim;
    }
    if (self->remaining >= 0
        && self->remaining <= (long long)(PY_SSIZE_T_MAX - have)) {
        Py_ssize_t avail = have + (Py_ssize_t)self->remaining;

        if (lim < 0 || avail < lim) {
            lim = avail;
        }
    }
    return lim;
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
    Py_ssize_t lim = input_limit(self, have, want);
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
    len = have;
    while (lim < 0 || len < lim) {
        Py_ssize_t n;

        if (len == alloc && input_grow(&res, &alloc, lim) < 0) {
            return NULL;
        }
        n = input_pull(self, PyBytes_AS_STRING(res) + len, alloc - len);
        if (n < 0) {
            Py_DECREF(res);
            return NULL;
        }
        if (n == 0) {
            break;
        }
        len += n;
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

/* The body belongs to the request, not to the app: close() keeps it
 * readable for the adapter and never raises (apps call it in finally). */
static PyObject *input_close(pyw_input_t *self, PyObject *unused)
{
    Py_RETURN_NONE;
}

static void input_dealloc(pyw_input_t *self)
{
    PyTypeObject *type = Py_TYPE(self);

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
    PyMem_Free(self->buf);
    self->buf = NULL;
    self->cap = self->pos = self->end = 0;
}

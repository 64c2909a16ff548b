/*
 * pyw_input_read.c - wsgi.input's read(), readline(), readlines() and
 * iteration, over a read-ahead buffer used only where a line must be
 * found; read() copies what is buffered, then reads straight into the
 * bytes object it returns.  Also the guard every method starts with.
 */
#include "pyw_python.h"

#include <string.h>

#include "pyw_input_int.h"

#define PYW_INPUT_FILL      (64 * 1024)   /* read-ahead when looking for \n */
#define PYW_INPUT_BUF_KEEP  (1024 * 1024) /* larger buffers freed once empty */
#define PYW_INPUT_PREALLOC  (16 * 1024 * 1024) /* biggest up-front alloc */
#define PYW_INPUT_GROW_MIN  (64 * 1024)   /* first size for read() to EOF */

/* Every method starts here: refuse a detached or concurrently used
 * object, then mark it busy until pyw_input_leave(). */
int pyw_input_enter(pyw_input_t *self)
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
void pyw_input_leave(pyw_input_t *self)
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
int pyw_input_buf_reserve(pyw_input_t *self, Py_ssize_t room)
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
    if (pyw_input_buf_reserve(self, PYW_INPUT_FILL) < 0) {
        return -1;
    }
    n = pyw_input_fetch(self, at, self->buf + self->end,
                        self->cap - self->end);
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

/* Make room for len bytes in front of the read-ahead buffer, for bytes
 * the app did not get after all, and move 'off' back over them: where to
 * copy them, or NULL (no memory).  The pending exception stays. */
static char *input_unread(pyw_input_t *self, Py_ssize_t len)
{
    PyObject *type, *value, *tb;
    int rc;

    PyErr_Fetch(&type, &value, &tb);
    rc = pyw_input_buf_reserve(self, len);
    PyErr_Restore(type, value, tb);
    if (rc < 0) {
        return NULL;
    }
    memmove(self->buf + self->pos + len, self->buf + self->pos,
            self->end - self->pos);
    self->end += len;
    self->off -= len;
    return self->buf + self->pos;
}

/*
 * read() failed after taking len bytes.  Told 0 (the failure is news): it
 * raises, and the bytes go back to the buffer, so tell() stays where the
 * app's bytes end and a later read() returns them; a short read would
 * look like the end of the body to most apps (Django reads
 * CONTENT_LENGTH once) and they would act on part of it.  Told 1 (an
 * earlier call raised it): the bytes are returned, and the error comes
 * at the next call (a failed pull is sticky in self->err).
 */
static PyObject *input_read_failed(pyw_input_t *self, PyObject *res,
                                   Py_ssize_t len, int told)
{
    char *p;

    if (len > 0 && !told && (p = input_unread(self, len)) != NULL) {
        memcpy(p, PyBytes_AS_STRING(res), len);
        len = 0;
    }
    if (len == 0) {
        Py_DECREF(res);
        return NULL;
    }
    PyErr_Clear();              /* no memory to keep them: returned */
    if (_PyBytes_Resize(&res, len) < 0) {
        return NULL;
    }
    return res;
}

/* read(want): want < 0 reads to the end of the body. */
static PyObject *input_read_impl(pyw_input_t *self, Py_ssize_t want)
{
    Py_ssize_t have = self->end - self->pos;
    Py_ssize_t lim = input_limit(self, want);
    Py_ssize_t alloc, len;
    int told = self->err != 0;
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
            return NULL;        /* no memory: res was freed */
        }
        n = pyw_input_fetch(self, self->off, PyBytes_AS_STRING(res) + len,
                            alloc - len);
        if (n < 0) {
            return input_read_failed(self, res, len, told);
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

PyObject *pyw_input_read(pyw_input_t *self, PyObject *args)
{
    PyObject *arg = NULL, *res;
    Py_ssize_t size;

    if (!PyArg_ParseTuple(args, "|O:read", &arg)
        || input_size_arg(arg, &size) < 0 || pyw_input_enter(self) < 0) {
        return NULL;
    }
    res = input_read_impl(self, size);
    pyw_input_leave(self);
    return res;
}

PyObject *pyw_input_readline(pyw_input_t *self, PyObject *args)
{
    PyObject *arg = NULL, *res;
    Py_ssize_t size;

    if (!PyArg_ParseTuple(args, "|O:readline", &arg)
        || input_size_arg(arg, &size) < 0 || pyw_input_enter(self) < 0) {
        return NULL;
    }
    res = input_readline_impl(self, size);
    pyw_input_leave(self);
    return res;
}

/* readlines() failed after taking lines of total bytes: as read() does
 * (input_read_failed), they go back unless an earlier call raised. */
static PyObject *input_readlines_failed(pyw_input_t *self, PyObject *list,
                                        Py_ssize_t total, int told)
{
    Py_ssize_t i, n;
    char *p;

    if (total > 0 && !told && (p = input_unread(self, total)) != NULL) {
        for (i = 0; i < PyList_GET_SIZE(list); i++) {
            n = PyBytes_GET_SIZE(PyList_GET_ITEM(list, i));
            memcpy(p, PyBytes_AS_STRING(PyList_GET_ITEM(list, i)), n);
            p += n;
        }
        total = 0;
    }
    if (total == 0) {
        Py_DECREF(list);
        return NULL;
    }
    PyErr_Clear();
    return list;
}

/* readlines(hint): stop once the lines total hint bytes (hint > 0). */
static PyObject *input_readlines_impl(pyw_input_t *self, Py_ssize_t hint)
{
    PyObject *list = PyList_New(0);
    Py_ssize_t total = 0;
    int told = self->err != 0;

    while (list != NULL) {
        PyObject *line = input_readline_impl(self, -1);
        Py_ssize_t n;

        if (line == NULL) {
            return input_readlines_failed(self, list, total, told);
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

PyObject *pyw_input_readlines(pyw_input_t *self, PyObject *args)
{
    PyObject *arg = NULL, *res;
    Py_ssize_t hint;

    if (!PyArg_ParseTuple(args, "|O:readlines", &arg)
        || input_size_arg(arg, &hint) < 0 || pyw_input_enter(self) < 0) {
        return NULL;
    }
    res = input_readlines_impl(self, hint);
    pyw_input_leave(self);
    return res;
}

/* NULL without an exception set ends the iteration. */
PyObject *pyw_input_next(pyw_input_t *self)
{
    PyObject *line;

    if (pyw_input_enter(self) < 0) {
        return NULL;
    }
    line = input_readline_impl(self, -1);
    pyw_input_leave(self);
    if (line != NULL && PyBytes_GET_SIZE(line) == 0) {
        Py_CLEAR(line);
    }
    return line;
}

/*
 * pyw_input_seek.c - wsgi.input's seek(): a seek back is served from
 * what was kept, a seek ahead pulls (and keeps) the body up to there, as
 * on a file (Zope retries a request after a ConflictError this way).
 */
#include "pyw_python.h"

#include <stdio.h>
#include <string.h>

#include "pyw_input_int.h"

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
        if (pyw_input_buf_reserve(self, (Py_ssize_t)want) < 0
            || (n = pyw_input_pull(self, self->buf, (Py_ssize_t)want)) < 0) {
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
        pyw_input_raise(self->kept.err, text);
        return -1;
    }
    self->pos = self->end = 0;
    self->off = target;
    return 0;
}

PyObject *pyw_input_seek(pyw_input_t *self, PyObject *args)
{
    long long offset, target, old;
    int whence = SEEK_SET;

    if (!PyArg_ParseTuple(args, "L|i:seek", &offset, &whence)
        || pyw_input_enter(self) < 0) {
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
        pyw_input_leave(self);
        return NULL;
    }
    pyw_input_leave(self);
    return PyLong_FromLongLong(self->off);
}

/*
 * pyw_errors_lines.c - the error log stream's text cut into log lines.
 *
 * Text is cut at b"\n"; a partial line waits in a small buffer until its
 * newline, flush(), the end of the request that wrote it, or the
 * object's destruction.  On a stream threads share (sys.stdout), another
 * thread's write logs the partial line first, under its own request.  A line longer than
 * PYW_ERRORS_LINE_MAX is logged in pieces (Apache's own lines are capped
 * near 8 KiB anyway), so the pending buffer never grows past that.
 */
#include "pyw_python.h"

#include <stdio.h>
#include <string.h>

#include "pyw_errors_int.h"
#include "../daemon/pyw_dlog.h"

/* Log n bytes as one line each PYW_ERRORS_LINE_MAX, never splitting a
 * UTF-8 sequence between two lines. */
static void errors_emit(const pyw_errors_t *self, const char *p, size_t n,
                        const char *uri)
{
    if (n > 0 && p[n - 1] == '\r') {
        n--;
    }
    do {
        size_t k = n;

        if (k > PYW_ERRORS_LINE_MAX) {
            k = PYW_ERRORS_LINE_MAX;
            while (k > 1 && ((unsigned char)p[k] & 0xC0) == 0x80) {
                k--;
            }
        }
        /* Not "%.*s": text after a NUL would be lost (it is escaped). */
        pyw_dlog_text(PYW_LOG_ERR, self->code, uri, p, k);
        p += k;
        n -= k;
    } while (n > 0);
}

/* The uri a line of this stream names: its request's, or for a shared
 * stream's partial line the request of the thread that wrote it. */
static const char *errors_uri(const pyw_errors_t *self, int pending)
{
    if (self->uri != NULL) {
        return self->uri;
    }
    return pending && self->owner_uri[0] != '\0' ? self->owner_uri : NULL;
}

void pyw_errors_emit_pending(pyw_errors_t *self)
{
    if (self->len > 0) {
        errors_emit(self, self->pend, self->len, errors_uri(self, 1));
        self->len = 0;
    }
}

void pyw_errors_emit_own_pending(pyw_errors_t *self)
{
    if (self->len > 0 && pthread_equal(self->owner, pthread_self())) {
        pyw_errors_emit_pending(self);
    }
}

/* A partial line starts: note whose it is. */
static void errors_own(pyw_errors_t *self)
{
    const char *uri = pyw_dlog_thread_uri();

    self->owner = pthread_self();
    snprintf(self->owner_uri, sizeof(self->owner_uri), "%s",
             uri != NULL ? uri : "");
}

/* Add text without a newline to the partial line. */
static void errors_append(pyw_errors_t *self, const char *p, size_t n)
{
    if (self->pend == NULL) {
        self->pend = PyMem_Malloc(PYW_ERRORS_LINE_MAX);
        if (self->pend == NULL) {
            /* No buffer: better a line cut short than text lost. */
            if (n > 0) {
                errors_emit(self, p, n, errors_uri(self, 0));
            }
            return;
        }
    }
    if (self->len == 0) {
        errors_own(self);
    }
    while (n > 0) {
        size_t k = PYW_ERRORS_LINE_MAX - self->len;

        if (k > n) {
            k = n;
        }
        memcpy(self->pend + self->len, p, k);
        self->len += k;
        p += k;
        n -= k;
        if (self->len == PYW_ERRORS_LINE_MAX) {
            pyw_errors_emit_pending(self);
        }
    }
}

void pyw_errors_feed(pyw_errors_t *self, const char *p, size_t n)
{
    if (self->len > 0 && !pthread_equal(self->owner, pthread_self())) {
        pyw_errors_emit_pending(self);      /* another thread's */
    }
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t seg = nl ? (size_t)(nl - p) : n;

        if (nl == NULL) {
            errors_append(self, p, seg);
            return;
        }
        if (self->len == 0) {
            errors_emit(self, p, seg, errors_uri(self, 0));  /* no copy */
        }
        else {
            errors_append(self, p, seg);
            pyw_errors_emit_pending(self);
        }
        p += seg + 1;
        n -= seg + 1;
    }
}

/* UTF-8 of a str; lone surrogates become backslash escapes instead of
 * failing the app's write.  *tmp holds the bytes object, if one was made. */
const char *pyw_errors_utf8(PyObject *s, Py_ssize_t *n, PyObject **tmp)
{
    const char *p = PyUnicode_AsUTF8AndSize(s, n);

    *tmp = NULL;
    if (p != NULL || !PyErr_ExceptionMatches(PyExc_UnicodeEncodeError)) {
        return p;
    }
    PyErr_Clear();
    *tmp = PyUnicode_AsEncodedString(s, "utf-8", "backslashreplace");
    if (*tmp == NULL) {
        return NULL;
    }
    *n = PyBytes_GET_SIZE(*tmp);
    return PyBytes_AS_STRING(*tmp);
}

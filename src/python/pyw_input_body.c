/*
 * pyw_input_body.c - where wsgi.input's bytes come from: pulled from
 * Apache (READ/BODY through pyw_dconn_read_body) and kept as they come
 * (pyw_rewind), or read back from what was kept after a seek back.
 *
 * The GIL is released around the socket read together with the keeping,
 * and around reads of a kept file; the caller holds 'busy'.
 */
#include "pyw_python.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pyw_input_int.h"
#include "../daemon/pyw_dlog.h"

#define PYW_LOGNO_INPUT_READ    350

/* OSError(errno, text). */
void pyw_input_raise(long err, const char *text)
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
    pyw_input_raise(err, err == -ECANCELED
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
Py_ssize_t pyw_input_pull(pyw_input_t *self, char *dst, Py_ssize_t len)
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
Py_ssize_t pyw_input_fetch(pyw_input_t *self, long long at, char *dst,
                           Py_ssize_t len)
{
    ssize_t n;

    if (at > self->got) {
        return 0;               /* seek() went past the end */
    }
    if (at == self->got) {
        return pyw_input_pull(self, dst, len);
    }
    if (at >= (long long)self->kept.size) {
        pyw_input_raise(self->kept.err, "wsgi.input: this part of the "
                        "request body could not be kept to be read again");
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
        pyw_input_raise(n, "wsgi.input: the kept request body could not "
                        "be read back");
        return -1;
    }
    return (Py_ssize_t)n;
}

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
 * The object's invariants are written in pyw_input_int.h; the pieces:
 * pyw_input_body.c (pull and keep), pyw_input_read.c (read, readline,
 * iteration), pyw_input_seek.c (seek).  This file: the type, and the
 * object's creation and detaching.
 */
#include "pyw_python.h"

#include <stdint.h>
#include <unistd.h>

#include "pyw_input.h"
#include "pyw_input_int.h"
#include "pyw_interp_private.h"

#define PYW_INPUT_KEEP_MEM  (1024 * 1024) /* kept in memory; beyond: a file */

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
    {"read", (PyCFunction)pyw_input_read, METH_VARARGS,
     "read(size=-1) -> bytes: up to size bytes, or the rest of the body."},
    {"readline", (PyCFunction)pyw_input_readline, METH_VARARGS,
     "readline(size=-1) -> bytes: one line, at most size bytes."},
    {"readlines", (PyCFunction)pyw_input_readlines, METH_VARARGS,
     "readlines(hint=-1) -> list of lines."},
    {"readable", (PyCFunction)input_readable, METH_NOARGS, NULL},
    {"seekable", (PyCFunction)input_seekable, METH_NOARGS,
     "seekable() -> True: every byte read is kept for reading again."},
    {"seek", (PyCFunction)pyw_input_seek, METH_VARARGS,
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
    { Py_tp_iternext, (void *)pyw_input_next },
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

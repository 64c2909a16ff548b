/*
 * pyw_response_start.c - the start_response callable of one WSGI request
 * (PEP 3333) and the write() it returns.
 *
 * start_response only validates (pyw_response_check.c) and stores status
 * and headers; they go to Apache with the first body bytes
 * (pyw_response.c).  A start_response object points at the
 * pyw_response_t on the worker's stack; pyw_response_detach() cuts that
 * link before the request returns, so an application that keeps
 * start_response or write() around gets an exception instead of touching
 * a dead request.
 */
#include "pyw_python.h"

#include <errno.h>
#include <structmember.h>
#include <unistd.h>

#include "pyw_interp_private.h"
#include "pyw_response.h"
#include "pyw_response_int.h"

typedef struct {
    PyObject_HEAD
    vectorcallfunc  vectorcall; /* called without an argument tuple     */
    pyw_response_t *r;          /* NULL once the request is over        */
    PyObject       *write;      /* bound write(), made on first use     */
    int             writing;    /* write() calls in progress (GIL)      */
} response_sr_t;

/* Re-raise exc_info (a 3-tuple), as PEP 3333 asks once headers are out. */
static PyObject *response_reraise(PyObject *exc_info)
{
    PyObject *type, *value, *tb;

    if (!PyTuple_Check(exc_info) || PyTuple_GET_SIZE(exc_info) != 3) {
        PyErr_SetString(PyExc_TypeError, "start_response: exc_info must be "
                        "a (type, value, traceback) tuple");
        return NULL;
    }
    type = PyTuple_GET_ITEM(exc_info, 0);
    value = PyTuple_GET_ITEM(exc_info, 1);
    tb = PyTuple_GET_ITEM(exc_info, 2);
    if (type == Py_None) {
        PyErr_SetString(PyExc_RuntimeError, "start_response: headers "
                        "already sent (exc_info holds no exception)");
        return NULL;
    }
    /* Restored as given, a tuple that is not an exception's (1, 2, 3)
     * was a state that crashed the daemon at a later request's error. */
    if (!PyExceptionInstance_Check(value)
        || (tb != Py_None && !PyTraceBack_Check(tb))) {
        PyErr_Format(PyExc_TypeError, "start_response: exc_info must be "
                     "sys.exc_info() of an exception, got %.200R", exc_info);
        return NULL;
    }
    type = (PyObject *)Py_TYPE(value);
    tb = tb == Py_None ? NULL : tb;
    Py_INCREF(type);
    Py_INCREF(value);
    Py_XINCREF(tb);
    PyErr_Restore(type, value, tb);
    return NULL;
}

static PyMethodDef response_sr_methods[2];  /* write(), sentinel */

/* The bound write(): the same object attribute lookup would make,
 * without the lookup (a tenth of start_response's cost: callgrind). */
static PyObject *response_sr_write_callable(response_sr_t *self)
{
    if (self->write == NULL) {
        self->write = PyCFunction_NewEx(&response_sr_methods[0],
                                        (PyObject *)self, NULL);
    }
    Py_XINCREF(self->write);
    return self->write;
}

static PyObject *response_sr_start(response_sr_t *self, PyObject *status,
                                   PyObject *headers, PyObject *exc_info)
{
    PyObject *copy;
    pyw_response_t *r = self->r;
    long long cl;
    int code;

    if (r == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "start_response() called after "
                        "the request finished");
        return NULL;
    }
    if (exc_info != Py_None && r->headers_sent) {
        return response_reraise(exc_info);
    }
    if (exc_info == Py_None && r->status != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "start_response() called a "
                        "second time without exc_info");
        return NULL;
    }
    if ((code = pyw_response_check_status(status)) < 0
        || (copy = pyw_response_check_headers(headers, &cl)) == NULL) {
        return NULL;
    }
    /* Headers not sent yet, so no body either: a held chunk belonged to
     * the response being replaced. */
    Py_CLEAR(r->held);
    Py_INCREF(status);
    Py_XSETREF(r->status, status);
    Py_XSETREF(r->headers, copy);
    r->code = code;
    r->content_length = cl;
    return response_sr_write_callable(self);
}

/* start_response(status, response_headers, exc_info=None), by position
 * or keyword, without the tuple and dict a tp_call needs. */
static PyObject *response_sr_vectorcall(PyObject *obj, PyObject *const *args,
                                        size_t nargsf, PyObject *kwnames)
{
    static const char *const names[] = { "status", "response_headers",
                                         "exc_info" };
    PyObject *a[3] = { NULL, NULL, Py_None };
    Py_ssize_t n = PyVectorcall_NARGS(nargsf), i, k;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;

    if (n > 3) {
        PyErr_Format(PyExc_TypeError, "start_response() takes at most 3 "
                     "arguments (%zd given)", n + nkw);
        return NULL;
    }
    for (i = 0; i < n; i++) {
        a[i] = args[i];
    }
    for (i = 0; i < nkw; i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i);

        for (k = 0; k < 3; k++) {
            if (PyUnicode_CompareWithASCIIString(name, names[k]) == 0) {
                break;
            }
        }
        if (k == 3 || k < n) {
            PyErr_Format(PyExc_TypeError, k == 3
                         ? "start_response() got an unexpected keyword "
                           "argument %R"
                         : "start_response() got multiple values for "
                           "argument %R", name);
            return NULL;
        }
        a[k] = args[n + i];
    }
    for (k = 0; k < 2; k++) {
        if (a[k] == NULL) {
            PyErr_Format(PyExc_TypeError, "start_response() missing "
                         "required argument '%s'", names[k]);
            return NULL;
        }
    }
    return response_sr_start((response_sr_t *)obj, a[0], a[1], a[2]);
}

/* OSError(err, msg): Python picks the subclass (BrokenPipeError...). */
static void response_raise_oserror(int err, const char *msg)
{
    PyObject *exc = PyObject_CallFunction(PyExc_OSError, "is", err, msg);

    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
}

static PyObject *response_sr_write(PyObject *obj, PyObject *data)
{
    response_sr_t *self = (response_sr_t *)obj;
    pyw_response_t *r = self->r;
    int rc;

    if (r == NULL || r->status == NULL) {
        PyErr_SetString(PyExc_RuntimeError, r ? "write() called before "
                        "start_response()" : "write() called after the "
                        "request finished");
        return NULL;
    }
    if (!PyBytes_Check(data)) {
        PyErr_Format(PyExc_TypeError, "write() argument must be bytes, "
                     "not %.100s", Py_TYPE(data)->tp_name);
        return NULL;
    }
    if (r->io_error || r->overflow) {
        rc = PYW_RESPONSE_STOP;
    }
    else {
        /* Counted: a send may let go of the GIL, and the request must not
         * end (r is on its thread's stack) while one is in progress. */
        self->writing++;
        rc = pyw_response_send(r, data);
        self->writing--;
        if (rc == PYW_RESPONSE_EXC) {
            return NULL;
        }
    }
    if (rc == PYW_RESPONSE_STOP) {
        response_raise_oserror(r->io_error ? -r->io_error : EFBIG,
                               r->io_error
                               ? "write(): the connection to Apache was lost"
                               : "write(): response body exceeds its "
                                 "Content-Length");
        return NULL;
    }
    Py_RETURN_NONE;
}

static void response_sr_dealloc(PyObject *obj)
{
    response_sr_t *self = (response_sr_t *)obj;
    PyTypeObject *type = Py_TYPE(obj);

    Py_CLEAR(self->write);
    type->tp_free(obj);
    Py_DECREF(type);            /* a heap type: its objects hold it */
}

static PyMethodDef response_sr_methods[] = {
    { "write", response_sr_write, METH_O,
      "write(data): send bytes at once (PEP 3333 write callable)" },
    { NULL, NULL, 0, NULL }
};

static PyMemberDef response_sr_members[] = {
    { "__vectorcalloffset__", T_PYSSIZET,
      offsetof(response_sr_t, vectorcall), READONLY, NULL },
    { NULL, 0, 0, 0, NULL }
};

static PyType_Slot response_sr_slots[] = {
    { Py_tp_doc, (void *)"start_response(status, response_headers, "
                         "exc_info=None)" },
    { Py_tp_call, (void *)PyVectorcall_Call },
    { Py_tp_dealloc, (void *)response_sr_dealloc },
    { Py_tp_methods, response_sr_methods },
    { Py_tp_members, response_sr_members },
    { 0, NULL }
};

static PyType_Spec response_sr_spec = {
    .name = "mod_pyworker.StartResponse",
    .basicsize = sizeof(response_sr_t),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL
             | PYW_TPFLAGS_NO_NEW,
    .slots = response_sr_slots,
};

int pyw_response_init_type(pyw_interp_t *ip)
{
    ip->start_response_type = pyw_type_from_spec(&response_sr_spec, 0);
    return ip->start_response_type ? 0 : -1;
}

PyObject *pyw_response_start_response(const pyw_interp_t *ip,
                                      pyw_response_t *r)
{
    response_sr_t *self = PyObject_New(response_sr_t,
                                       ip->start_response_type);

    if (self != NULL) {
        self->vectorcall = response_sr_vectorcall;
        self->r = r;
        self->write = NULL;
        self->writing = 0;
    }
    return (PyObject *)self;
}

void pyw_response_detach(PyObject *start_response)
{
    response_sr_t *self = (response_sr_t *)start_response;

    self->r = NULL;
    /* A thread of the application may be inside write(), waiting for room
     * without the GIL: it still uses the request.  Later calls fail. */
    while (self->writing > 0) {
        Py_BEGIN_ALLOW_THREADS
        usleep(1000);
        Py_END_ALLOW_THREADS
    }
    /* The bound method refers back to self: break the cycle. */
    Py_CLEAR(self->write);
}

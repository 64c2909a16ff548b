/*
 * pyw_errors.c - wsgi.errors and the sys.stdout / sys.stderr redirect:
 * the Log type, a write-only text file whose lines become error log
 * lines.  Its text is cut into lines by pyw_errors_lines.c; logging
 * records written to it are pyw_errors_record.c's; what the three share,
 * and why they need no lock, is in pyw_errors_int.h.
 */
#include "pyw_python.h"

#include <string.h>

#include "pyw_errors.h"
#include "pyw_errors_int.h"
#include "pyw_interp_private.h"

#define PYW_LOGNO_WSGI_ERRORS   360
#define PYW_LOGNO_STDERR        361
#define PYW_LOGNO_STDOUT        362

static int errors_write_one(pyw_errors_t *self, PyObject *s)
{
    PyObject *tmp;
    const char *p;
    Py_ssize_t n;

    if (!PyUnicode_Check(s)) {
        PyErr_Format(PyExc_TypeError,
                     "write() argument must be str, not %.100s",
                     Py_TYPE(s)->tp_name);
        return -1;
    }
    p = pyw_errors_utf8(s, &n, &tmp);
    if (p == NULL) {
        return -1;
    }
    pyw_errors_feed(self, p, (size_t)n);
    Py_XDECREF(tmp);
    return 0;
}

static PyObject *errors_write(pyw_errors_t *self, PyObject *s)
{
    if (errors_write_one(self, s) < 0) {
        return NULL;
    }
    return PyLong_FromSsize_t(PyUnicode_GET_LENGTH(s));
}

static PyObject *errors_writelines(pyw_errors_t *self, PyObject *seq)
{
    PyObject *it = PyObject_GetIter(seq), *item;

    if (it == NULL) {
        return NULL;
    }
    while ((item = PyIter_Next(it)) != NULL) {
        int rv = errors_write_one(self, item);

        Py_DECREF(item);
        if (rv < 0) {
            Py_DECREF(it);
            return NULL;
        }
    }
    Py_DECREF(it);
    if (PyErr_Occurred()) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *errors_flush(pyw_errors_t *self, PyObject *unused)
{
    pyw_errors_emit_pending(self);
    Py_RETURN_NONE;
}

static PyObject *errors_false(pyw_errors_t *self, PyObject *unused)
{
    Py_RETURN_FALSE;
}

static PyObject *errors_true(pyw_errors_t *self, PyObject *unused)
{
    Py_RETURN_TRUE;
}

/* There is no descriptor behind this file; say so the way io does. */
static PyObject *errors_fileno(pyw_errors_t *self, PyObject *unused)
{
    PyObject *io = PyImport_ImportModule("io"), *exc;

    if (io == NULL) {
        return NULL;
    }
    exc = PyObject_GetAttrString(io, "UnsupportedOperation");
    Py_DECREF(io);
    if (exc == NULL) {
        return NULL;
    }
    PyErr_SetString(exc, "fileno: the error log stream has no descriptor");
    Py_DECREF(exc);
    return NULL;
}

static PyObject *errors_get_encoding(pyw_errors_t *self, void *unused)
{
    return PyUnicode_FromString("utf-8");
}

static PyObject *errors_get_errors(pyw_errors_t *self, void *unused)
{
    return PyUnicode_FromString("backslashreplace");
}

static PyObject *errors_get_false(pyw_errors_t *self, void *unused)
{
    Py_RETURN_FALSE;
}

static PyObject *errors_get_true(pyw_errors_t *self, void *unused)
{
    Py_RETURN_TRUE;
}

static void errors_dealloc(pyw_errors_t *self)
{
    PyTypeObject *type = Py_TYPE(self);

    pyw_errors_emit_pending(self);
    PyMem_Free(self->pend);
    PyMem_Free(self->uri);
    PyObject_Free(self);
    Py_DECREF(type);            /* a heap type: its objects hold it */
}

static PyMethodDef errors_methods[] = {
    {"write", (PyCFunction)errors_write, METH_O,
     "write(str) -> int: log complete lines, keep a partial one."},
    {"writelines", (PyCFunction)errors_writelines, METH_O, NULL},
    {"flush", (PyCFunction)errors_flush, METH_NOARGS,
     "Log a pending partial line."},
    {"close", (PyCFunction)errors_flush, METH_NOARGS,
     "Log a pending partial line; the stream stays usable."},
    {"isatty", (PyCFunction)errors_false, METH_NOARGS, NULL},
    {"readable", (PyCFunction)errors_false, METH_NOARGS, NULL},
    {"seekable", (PyCFunction)errors_false, METH_NOARGS, NULL},
    {"writable", (PyCFunction)errors_true, METH_NOARGS, NULL},
    {"fileno", (PyCFunction)errors_fileno, METH_NOARGS, NULL},
    {"_pyworker_record", pyw_errors_record_method, METH_VARARGS,
     "_pyworker_record(level, text): a formatted logging record, logged "
     "at Apache level 0..7 (logging.StreamHandler.emit calls it)."},
    {NULL, NULL, 0, NULL}
};

static PyGetSetDef errors_getset[] = {
    {"encoding", (getter)errors_get_encoding, NULL, NULL, NULL},
    {"errors", (getter)errors_get_errors, NULL, NULL, NULL},
    {"closed", (getter)errors_get_false, NULL, NULL, NULL},
    {"line_buffering", (getter)errors_get_true, NULL, NULL, NULL},
    {NULL, NULL, NULL, NULL, NULL}
};

static PyType_Slot errors_slots[] = {
    { Py_tp_dealloc, (void *)errors_dealloc },
    { Py_tp_doc, (void *)"Text stream whose lines go to Apache's error "
                         "log." },
    { Py_tp_methods, errors_methods },
    { Py_tp_getset, errors_getset },
    { 0, NULL }
};

static PyType_Spec errors_spec = {
    .name = "mod_pyworker.Log",
    .basicsize = sizeof(pyw_errors_t),
    .flags = Py_TPFLAGS_DEFAULT | PYW_TPFLAGS_NO_NEW,
    .slots = errors_slots,
};

int pyw_errors_init_type(pyw_interp_t *ip)
{
    ip->errors_type = pyw_type_from_spec(&errors_spec, 0);
    return ip->errors_type ? 0 : -1;
}

static PyObject *errors_new(const pyw_interp_t *ip, const char *uri,
                            int code)
{
    pyw_errors_t *self = PyObject_New(pyw_errors_t, ip->errors_type);

    if (self == NULL) {
        return NULL;
    }
    self->code = code;
    self->uri = NULL;
    self->pend = NULL;
    self->len = 0;
    self->owner_uri[0] = '\0';
    if (uri != NULL) {
        size_t n = strlen(uri) + 1;

        self->uri = PyMem_Malloc(n);
        if (self->uri == NULL) {
            Py_DECREF(self);
            return PyErr_NoMemory();
        }
        memcpy(self->uri, uri, n);
    }
    return (PyObject *)self;
}

PyObject *pyw_errors_new(const pyw_interp_t *ip, const char *uri)
{
    return errors_new(ip, uri, PYW_LOGNO_WSGI_ERRORS);
}

/* Flush what the old stream buffered, then install the new one, kept
 * in *slot too. */
static int errors_replace(pyw_interp_t *ip, const char *name, int code,
                          PyObject **slot)
{
    PyObject *old = PySys_GetObject(name);     /* borrowed */
    PyObject *log;
    int rv;

    if (old != NULL && old != Py_None) {
        PyObject *r = PyObject_CallMethod(old, "flush", NULL);

        if (r == NULL) {
            PyErr_Clear();      /* a broken old stream must not stop us */
        }
        Py_XDECREF(r);
    }
    log = errors_new(ip, NULL, code);
    if (log == NULL) {
        return -1;
    }
    rv = PySys_SetObject(name, log);
    Py_XSETREF(*slot, log);
    return rv;
}

void pyw_errors_request_done(const pyw_interp_t *ip, PyObject *wsgi_errors)
{
    size_t i;

    if (wsgi_errors != NULL && Py_IS_TYPE(wsgi_errors, ip->errors_type)) {
        pyw_errors_emit_pending((pyw_errors_t *)wsgi_errors);
    }
    for (i = 0; i < sizeof(ip->stdio) / sizeof(ip->stdio[0]); i++) {
        if (ip->stdio[i] != NULL) {
            pyw_errors_emit_own_pending((pyw_errors_t *)ip->stdio[i]);
        }
    }
}

int pyw_errors_redirect_stdio(pyw_interp_t *ip)
{
    if (errors_replace(ip, "stdout", PYW_LOGNO_STDOUT, &ip->stdio[0]) < 0
        || errors_replace(ip, "stderr", PYW_LOGNO_STDERR, &ip->stdio[1]) < 0
        || pyw_errors_route_logging(ip) < 0) {
        return -1;
    }
    return 0;
}

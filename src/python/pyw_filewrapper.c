/*
 * pyw_filewrapper.c - wsgi.file_wrapper (PEP 3333, "Optional
 * Platform-Specific File Handling").
 *
 * FileWrapper(filelike, block_size=8192) is an iterable of
 * filelike.read(block_size) up to the first empty read, from the file's
 * current position, and close() closes the file-like object.  It works
 * for anything with read(); the adapter may recognise it
 * (pyw_filewrapper_check) and send a real file by other means, which is
 * why the object and block size stay reachable from C.
 *
 * GIL: held in every function here.  Each interpreter has its own type
 * (pyw_interp_t.filewrapper_type): environ['wsgi.file_wrapper'] is the
 * one of the interpreter the request runs in.
 */
#include "pyw_python.h"

#include <structmember.h>

#include "pyw_filewrapper.h"
#include "pyw_interp_private.h"

#define PYW_FILEWRAPPER_BLKSIZE 8192

typedef struct {
    PyObject_HEAD
    PyObject  *filelike;
    Py_ssize_t blksize;
    long long  left;            /* bytes still to read; -1: to the end */
} pyw_filewrapper_t;

/* Take one keyword argument that may also have been given by position. */
static int fw_take_kw(PyObject *kwds, const char *name, PyObject **slot)
{
    PyObject *v = PyDict_GetItemString(kwds, name);    /* borrowed */

    if (v == NULL) {
        return 0;
    }
    if (*slot != NULL) {
        PyErr_Format(PyExc_TypeError,
                     "FileWrapper() got multiple values for '%s'", name);
        return -1;
    }
    *slot = v;
    return 1;
}

/*
 * (filelike, block_size=8192): PEP 3333 passes block_size by position;
 * "blksize" (wsgiref, mod_wsgi) is accepted as a keyword too.
 */
static int fw_parse(PyObject *args, PyObject *kwds, PyObject **filelike,
                    Py_ssize_t *blksize)
{
    PyObject *size = NULL;
    Py_ssize_t nkw = 0;
    int r;

    *filelike = NULL;
    if (!PyArg_UnpackTuple(args, "FileWrapper", 0, 2, filelike, &size)) {
        return -1;
    }
    if (kwds != NULL) {
        if ((r = fw_take_kw(kwds, "filelike", filelike)) < 0) {
            return -1;
        }
        nkw += r;
        if ((r = fw_take_kw(kwds, "block_size", &size)) < 0) {
            return -1;
        }
        nkw += r;
        if ((r = fw_take_kw(kwds, "blksize", &size)) < 0) {
            return -1;
        }
        nkw += r;
        if (nkw != PyDict_GET_SIZE(kwds)) {
            PyErr_SetString(PyExc_TypeError,
                            "FileWrapper() takes (filelike, block_size)");
            return -1;
        }
    }
    if (*filelike == NULL) {
        PyErr_SetString(PyExc_TypeError,
                        "FileWrapper() missing argument 'filelike'");
        return -1;
    }
    *blksize = PYW_FILEWRAPPER_BLKSIZE;
    if (size != NULL) {
        *blksize = PyNumber_AsSsize_t(size, PyExc_OverflowError);
        if (*blksize == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (*blksize <= 0) {
            PyErr_SetString(PyExc_ValueError,
                            "FileWrapper() block_size must be positive");
            return -1;
        }
    }
    return 0;
}

static PyObject *fw_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    pyw_filewrapper_t *self;
    PyObject *filelike;
    Py_ssize_t blksize;

    if (fw_parse(args, kwds, &filelike, &blksize) < 0) {
        return NULL;
    }
    self = (pyw_filewrapper_t *)type->tp_alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    Py_INCREF(filelike);
    self->filelike = filelike;
    self->blksize = blksize;
    self->left = -1;
    return (PyObject *)self;
}

static PyObject *fw_iter(PyObject *self)
{
    Py_INCREF(self);
    return self;
}

/* NULL without an exception set ends the iteration: an empty (false)
 * read means end of file, as in wsgiref. */
static PyObject *fw_next(pyw_filewrapper_t *self)
{
    PyObject *data;
    int full;

    if (self->filelike == NULL || self->left == 0) {
        return NULL;            /* cleared by the cycle collector */
    }
    data = PyObject_CallMethod(self->filelike, "read", "n",
                               self->left > 0 && self->left < self->blksize
                               ? (Py_ssize_t)self->left : self->blksize);
    if (data == NULL) {
        return NULL;
    }
    full = PyObject_IsTrue(data);
    if (full <= 0) {
        Py_DECREF(data);
        return NULL;
    }
    if (self->left > 0) {
        Py_ssize_t n = PyObject_Size(data);

        if (n < 0) {
            PyErr_Clear();      /* not bytes: the adapter refuses it */
        }
        self->left -= n < 0 ? 0 : n < self->left ? n : self->left;
    }
    return data;
}

/* close() of a file-like object without one is not an error. */
static PyObject *fw_close(pyw_filewrapper_t *self, PyObject *unused)
{
    PyObject *close, *r;

    if (self->filelike == NULL) {
        Py_RETURN_NONE;
    }
    close = PyObject_GetAttrString(self->filelike, "close");
    if (close == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) {
            return NULL;
        }
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    r = PyObject_CallNoArgs(close);
    Py_DECREF(close);
    if (r == NULL) {
        return NULL;
    }
    Py_DECREF(r);
    Py_RETURN_NONE;
}

static int fw_traverse(pyw_filewrapper_t *self, visitproc visit, void *arg)
{
    Py_VISIT(self->filelike);
#if PY_VERSION_HEX >= 0x03090000
    Py_VISIT(Py_TYPE(self));    /* a heap type: its objects hold it */
#endif
    return 0;
}

static int fw_clear(pyw_filewrapper_t *self)
{
    Py_CLEAR(self->filelike);
    return 0;
}

static void fw_dealloc(pyw_filewrapper_t *self)
{
    PyTypeObject *type = Py_TYPE(self);

    PyObject_GC_UnTrack(self);
    fw_clear(self);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static PyMethodDef fw_methods[] = {
    {"close", (PyCFunction)fw_close, METH_NOARGS,
     "Close the wrapped file-like object, if it has close()."},
    {NULL, NULL, 0, NULL}
};

static PyMemberDef fw_members[] = {
    {"filelike", T_OBJECT, offsetof(pyw_filewrapper_t, filelike),
     READONLY, NULL},
    {"blksize", T_PYSSIZET, offsetof(pyw_filewrapper_t, blksize),
     READONLY, NULL},
    {NULL, 0, 0, 0, NULL}
};

static PyType_Slot fw_slots[] = {
    { Py_tp_dealloc, (void *)fw_dealloc },
    { Py_tp_doc, (void *)"FileWrapper(filelike, block_size=8192): iterate "
                         "over filelike.read(block_size)." },
    { Py_tp_traverse, (void *)fw_traverse },
    { Py_tp_clear, (void *)fw_clear },
    { Py_tp_iter, (void *)fw_iter },
    { Py_tp_iternext, (void *)fw_next },
    { Py_tp_methods, fw_methods },
    { Py_tp_members, fw_members },
    { Py_tp_new, (void *)fw_new },
    { 0, NULL }
};

static PyType_Spec fw_spec = {
    .name = "mod_pyworker.FileWrapper",
    .basicsize = sizeof(pyw_filewrapper_t),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = fw_slots,
};

int pyw_filewrapper_init_type(pyw_interp_t *ip)
{
    ip->filewrapper_type = pyw_type_from_spec(&fw_spec, 1);
    return ip->filewrapper_type ? 0 : -1;
}

PyObject *pyw_filewrapper_type(const pyw_interp_t *ip)
{
    return (PyObject *)ip->filewrapper_type;
}

int pyw_filewrapper_check(const pyw_interp_t *ip, PyObject *o)
{
    return Py_IS_TYPE(o, ip->filewrapper_type);
}

PyObject *pyw_filewrapper_filelike(PyObject *fw)
{
    return ((pyw_filewrapper_t *)fw)->filelike;
}

Py_ssize_t pyw_filewrapper_blksize(PyObject *fw)
{
    return ((pyw_filewrapper_t *)fw)->blksize;
}

void pyw_filewrapper_limit(PyObject *fw, long long bytes)
{
    ((pyw_filewrapper_t *)fw)->left = bytes;
}

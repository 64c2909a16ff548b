/*
 * pyw_errors.c - wsgi.errors and the sys.stdout / sys.stderr redirect.
 *
 * A write-only text file whose lines become error log lines.  Text is
 * cut at b"\n"; a partial line waits in a small buffer until its newline,
 * flush(), or the object's destruction.  A line longer than
 * PYW_ERRORS_LINE_MAX is logged in pieces (Apache's own lines are capped
 * near 8 KiB anyway), so the pending buffer never grows past that.
 *
 * Records of the logging module whose handler writes to one of these
 * streams (basicConfig(), logging.lastResort, StreamHandler(sys.stderr),
 * a console handler of a fileConfig file) skip the text stream: they are
 * logged at their own level (DEBUG..CRITICAL -> debug..crit, PYW0363),
 * one log line per line, while print() and plain writes keep theirs.
 *
 * Thread safety: sys.stdout is shared by every thread of its
 * interpreter.  All state changes happen with that interpreter's GIL
 * held and nothing here releases it (pyw_dlog is one write() and may be
 * called with the GIL held), so no lock is needed.  Each interpreter has
 * its own type (pyw_interp_t.errors_type) and its own sys.stdout/stderr.
 */
#include "pyw_python.h"

#include <string.h>

#include "pyw_errors.h"
#include "pyw_interp_private.h"
#include "../daemon/pyw_dlog.h"

#define PYW_LOGNO_WSGI_ERRORS   360
#define PYW_LOGNO_STDERR        361
#define PYW_LOGNO_STDOUT        362
#define PYW_LOGNO_RECORD        363     /* a logging record, its level */

#define PYW_ERRORS_LINE_MAX     8000

typedef struct {
    PyObject_HEAD
    int     code;       /* log code of every line */
    char   *uri;        /* PyMem copy, or NULL */
    char   *pend;       /* partial line, PYW_ERRORS_LINE_MAX bytes */
    size_t  len;        /* bytes in pend */
} pyw_errors_t;

static PyObject *errors_record_method(PyObject *self, PyObject *args);

/* Log n bytes as one line each PYW_ERRORS_LINE_MAX, never splitting a
 * UTF-8 sequence between two lines. */
static void errors_emit(const pyw_errors_t *self, const char *p, size_t n)
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
        pyw_dlog(PYW_LOG_ERR, self->code, self->uri, "%.*s", (int)k, p);
        p += k;
        n -= k;
    } while (n > 0);
}

static void errors_emit_pending(pyw_errors_t *self)
{
    if (self->len > 0) {
        errors_emit(self, self->pend, self->len);
        self->len = 0;
    }
}

/* Add text without a newline to the partial line. */
static void errors_append(pyw_errors_t *self, const char *p, size_t n)
{
    if (self->pend == NULL) {
        self->pend = PyMem_Malloc(PYW_ERRORS_LINE_MAX);
        if (self->pend == NULL) {
            /* No buffer: better a line cut short than text lost. */
            if (n > 0) {
                errors_emit(self, p, n);
            }
            return;
        }
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
            errors_emit_pending(self);
        }
    }
}

static void errors_feed(pyw_errors_t *self, const char *p, size_t n)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t seg = nl ? (size_t)(nl - p) : n;

        if (nl == NULL) {
            errors_append(self, p, seg);
            return;
        }
        if (self->len == 0) {
            errors_emit(self, p, seg);    /* whole line: no copy */
        }
        else {
            errors_append(self, p, seg);
            errors_emit_pending(self);
        }
        p += seg + 1;
        n -= seg + 1;
    }
}

/* UTF-8 of a str; lone surrogates become backslash escapes instead of
 * failing the app's write.  *tmp holds the bytes object, if one was made. */
static const char *errors_utf8(PyObject *s, Py_ssize_t *n, PyObject **tmp)
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
    p = errors_utf8(s, &n, &tmp);
    if (p == NULL) {
        return -1;
    }
    errors_feed(self, p, (size_t)n);
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
    errors_emit_pending(self);
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

    errors_emit_pending(self);
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
    {"_pyworker_record", errors_record_method, METH_VARARGS,
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

/* Flush what the old stream buffered, then install the new one. */
static int errors_replace(const pyw_interp_t *ip, const char *name,
                          int code)
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
    Py_DECREF(log);
    return rv;
}

/* ---- logging records ---- */

/* Apache's level for a logging level number (custom levels round down to
 * the standard one below them). */
static int errors_record_level(PyObject *record)
{
    PyObject *n = PyObject_GetAttrString(record, "levelno");
    long levelno = n ? PyLong_AsLong(n) : -1;

    Py_XDECREF(n);
    if (levelno == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return PYW_LOG_ERR;     /* no usable level: as a stderr line */
    }
    return levelno >= 50 ? PYW_LOG_CRIT : levelno >= 40 ? PYW_LOG_ERR
           : levelno >= 30 ? PYW_LOG_WARNING : levelno >= 20 ? PYW_LOG_INFO
           : PYW_LOG_DEBUG;
}

/* handler.handleError(record) for the exception just raised, which it
 * reads from sys.exc_info(), as when StreamHandler.emit catches it. */
static PyObject *errors_handle_error(PyObject *handler, PyObject *record)
{
    PyObject *t, *v, *tb, *ot, *ov, *otb, *r;

    if (PyErr_ExceptionMatches(PyExc_RecursionError)) {
        return NULL;            /* StreamHandler lets it through too */
    }
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    PyErr_GetExcInfo(&ot, &ov, &otb);
    PyErr_SetExcInfo(t, v, tb);             /* steals t, v, tb */
    r = PyObject_CallMethod(handler, "handleError", "O", record);
    PyErr_SetExcInfo(ot, ov, otb);
    return r;
}

/* Log formatted record text: the partial line written before it first,
 * then one log line per line at level (PYW0363). */
static int errors_log_record(pyw_errors_t *self, int level, PyObject *msg)
{
    PyObject *tmp;
    const char *p;
    Py_ssize_t n;

    if (!PyUnicode_Check(msg)) {
        PyErr_SetString(PyExc_TypeError, "a log record's text must be str");
        return -1;
    }
    if ((p = errors_utf8(msg, &n, &tmp)) == NULL) {
        return -1;
    }
    errors_emit_pending(self);
    if (n == 0) {
        pyw_dlog(level, PYW_LOGNO_RECORD, self->uri, "%s", "");
    }
    pyw_dlog_text(level, PYW_LOGNO_RECORD, self->uri, p, (size_t)n);
    Py_XDECREF(tmp);
    return 0;
}

/* Log._pyworker_record(level, text): the same through a proxy (Flask's
 * wsgi_errors_stream is a werkzeug LocalProxy of wsgi.errors). */
static PyObject *errors_record_method(PyObject *self, PyObject *args)
{
    PyObject *msg;
    int level;

    if (!PyArg_ParseTuple(args, "iU:_pyworker_record", &level, &msg)) {
        return NULL;
    }
    if (level < PYW_LOG_EMERG || level > PYW_LOG_DEBUG) {
        PyErr_SetString(PyExc_ValueError, "level must be 0..7");
        return NULL;
    }
    if (pyw_dlog_enabled(level)
        && errors_log_record((pyw_errors_t *)self, level, msg) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/*
 * StreamHandler.emit(record) for a handler whose stream is one of ours,
 * or passes for one (a proxy whose __class__ is ours): the formatted
 * record at its level.  A record below Apache's LogLevel is not even
 * formatted.
 */
static PyObject *errors_emit_record(PyTypeObject *type, PyObject *handler,
                                    PyObject *stream, PyObject *record)
{
    int level = errors_record_level(record);
    PyObject *msg, *r = NULL;

    if (!pyw_dlog_enabled(level)) {
        Py_RETURN_NONE;
    }
    if ((msg = PyObject_CallMethod(handler, "format", "O", record)) != NULL) {
        if (Py_TYPE(stream) == type) {
            r = errors_log_record((pyw_errors_t *)stream, level, msg) == 0
                ? Py_None : NULL;
            Py_XINCREF(r);
        }
        else {
            r = PyObject_CallMethod(stream, "_pyworker_record", "iO", level,
                                    msg);
        }
        Py_DECREF(msg);
    }
    if (r == NULL) {
        return errors_handle_error(handler, record);
    }
    Py_DECREF(r);
    Py_RETURN_NONE;
}

/* 1 if stream is one of ours, or a proxy of one; never raises. */
static int errors_is_ours(PyTypeObject *type, PyObject *stream)
{
    int yes;

    if (Py_TYPE(stream) == type) {
        return 1;
    }
    yes = PyObject_IsInstance(stream, (PyObject *)type);
    if (yes < 0) {
        PyErr_Clear();
    }
    return yes > 0;
}

/* Replaces logging.StreamHandler.emit (bound as a method): self is the
 * tuple (original emit, this interpreter's Log type), args (handler,
 * record).  Handlers writing anywhere but to our streams - files,
 * sockets, a stream the application put in sys.stderr's place - get the
 * original. */
static PyObject *errors_handler_emit(PyObject *self, PyObject *args)
{
    PyObject *orig = PyTuple_GET_ITEM(self, 0);
    PyTypeObject *type = (PyTypeObject *)PyTuple_GET_ITEM(self, 1);
    PyObject *handler, *record, *stream, *r;

    if (!PyArg_ParseTuple(args, "OO:emit", &handler, &record)) {
        return NULL;
    }
    if ((stream = PyObject_GetAttrString(handler, "stream")) == NULL) {
        PyErr_Clear();
    }
    else if (errors_is_ours(type, stream)) {
        r = errors_emit_record(type, handler, stream, record);
        Py_DECREF(stream);
        return r;
    }
    Py_XDECREF(stream);
    return PyObject_Call(orig, args, NULL);
}

static PyMethodDef errors_emit_def = {
    "emit", errors_handler_emit, METH_VARARGS,
    "StreamHandler.emit; to Apache's error log at the record's level when "
    "the stream is mod_pyworker's."
};

/* logging.StreamHandler.emit -> errors_handler_emit, once per
 * interpreter; the original and ip's type are the new function's self.  So
 * basicConfig(), logging.lastResort, fileConfig's console handlers and
 * StreamHandler(sys.stderr) all log at their records' levels.
 * 0 / -1 (exception set). */
static int errors_route_logging(const pyw_interp_t *ip)
{
    PyObject *logging = PyImport_ImportModule("logging");
    PyObject *cls = logging ? PyObject_GetAttrString(logging,
                                                     "StreamHandler") : NULL;
    PyObject *orig = cls ? PyObject_GetAttrString(cls, "emit") : NULL;
    PyObject *bound = NULL, *fn = NULL, *meth = NULL;
    int rv = -1;

    if (orig != NULL && PyCFunction_Check(orig)
        && PyCFunction_GetFunction(orig) == (PyCFunction)errors_handler_emit) {
        rv = 0;                 /* installed already */
    }
    else if (orig != NULL
             && (bound = PyTuple_Pack(2, orig, ip->errors_type)) != NULL
             && (fn = PyCFunction_NewEx(&errors_emit_def, bound, NULL))
                != NULL
             && (meth = PyInstanceMethod_New(fn)) != NULL) {
        rv = PyObject_SetAttrString(cls, "emit", meth);
    }
    Py_XDECREF(meth);
    Py_XDECREF(fn);
    Py_XDECREF(bound);
    Py_XDECREF(orig);
    Py_XDECREF(cls);
    Py_XDECREF(logging);
    return rv;
}

int pyw_errors_redirect_stdio(const pyw_interp_t *ip)
{
    if (errors_replace(ip, "stdout", PYW_LOGNO_STDOUT) < 0
        || errors_replace(ip, "stderr", PYW_LOGNO_STDERR) < 0
        || errors_route_logging(ip) < 0) {
        return -1;
    }
    return 0;
}

/*
 * pyw_errors_record.c - logging records routed to Apache's error log at
 * their own level.
 *
 * Records of the logging module whose handler writes to one of the error
 * log streams (basicConfig(), logging.lastResort, StreamHandler(
 * sys.stderr), a console handler of a fileConfig file) skip the text
 * stream: they are logged at their own level (DEBUG..CRITICAL ->
 * debug..crit, PYW0363), one log line per line, while print() and plain
 * writes keep theirs.
 */
#include "pyw_python.h"

#include "pyw_errors_int.h"
#include "pyw_interp_private.h"
#include "../daemon/pyw_dlog.h"

#define PYW_LOGNO_RECORD        363     /* a logging record, its level */

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
    if ((p = pyw_errors_utf8(msg, &n, &tmp)) == NULL) {
        return -1;
    }
    pyw_errors_emit_pending(self);
    if (n == 0) {
        pyw_dlog(level, PYW_LOGNO_RECORD, self->uri, "%s", "");
    }
    pyw_dlog_text(level, PYW_LOGNO_RECORD, self->uri, p, (size_t)n);
    Py_XDECREF(tmp);
    return 0;
}

/* Log._pyworker_record(level, text): the same through a proxy (Flask's
 * wsgi_errors_stream is a werkzeug LocalProxy of wsgi.errors). */
PyObject *pyw_errors_record_method(PyObject *self, PyObject *args)
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
int pyw_errors_route_logging(const pyw_interp_t *ip)
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

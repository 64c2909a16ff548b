/*
 * pyw_script_traceback.c - log the current Python exception: one
 * headline with its code, then the traceback, one log line per line
 * (or the one PYW0316 line of an extension refusing the interpreter).
 */
#include "pyw_python.h"

#include <stdarg.h>
#include <stdio.h>

#include "../daemon/pyw_dlog.h"
#include "pyw_refuse.h"
#include "pyw_script.h"

/* Log the traceback of (type, value, tb) line by line; 0 / -1. */
static int script_log_traceback(int level, int code, const char *uri,
                                PyObject *type, PyObject *value,
                                PyObject *tb)
{
    PyObject *mod, *lines, *sep, *text, *bytes;

    /* The current interpreter's traceback module (imported at its
     * start: a dictionary look-up). */
    if ((mod = PyImport_ImportModule("traceback")) == NULL) {
        return -1;
    }
    lines = PyObject_CallMethod(mod, "format_exception", "OOO", type,
                                value ? value : Py_None, tb ? tb : Py_None);
    Py_DECREF(mod);
    if (lines == NULL) {
        return -1;
    }
    sep = PyUnicode_FromStringAndSize(NULL, 0);
    text = sep ? PyUnicode_Join(sep, lines) : NULL;
    bytes = text ? PyUnicode_AsEncodedString(text, "utf-8",
                                             "backslashreplace") : NULL;
    if (bytes != NULL) {
        pyw_dlog_text(level, code, uri, PyBytes_AS_STRING(bytes),
                      (size_t)PyBytes_GET_SIZE(bytes));
    }
    Py_XDECREF(bytes);
    Py_XDECREF(text);
    Py_XDECREF(sep);
    Py_DECREF(lines);
    return bytes ? 0 : -1;
}

void pyw_script_log_exception(int level, int code, const char *uri,
                              const char *fmt, ...)
{
    PyObject *type, *value, *tb;
    char head[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(head, sizeof(head), fmt, ap);
    va_end(ap);
    if (pyw_refuse_log(level, uri, head)) {
        return;                 /* one line, PYW0316, instead */
    }
    PyErr_Fetch(&type, &value, &tb);
    pyw_dlog(level, code, uri, "%s", head);
    if (type == NULL) {
        return;
    }
    if (pyw_dlog_enabled(level)) {
        PyErr_NormalizeException(&type, &value, &tb);
        if (tb != NULL && value != NULL) {
            PyException_SetTraceback(value, tb);
        }
        if (script_log_traceback(level, code, uri, type, value, tb) < 0) {
            PyErr_Clear();
            pyw_dlog(level, code, uri, "(traceback could not be formatted)");
        }
    }
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

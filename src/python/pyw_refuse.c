/*
 * pyw_refuse.c - one log line for an extension module that refuses the
 * interpreter it is imported in (see pyw_refuse.h).
 *
 * The refusal is recognised by its ImportError's text, the only thing
 * the three kinds have in common.  The module is named by the 3.12
 * message itself, else ImportError.name, else the import statement on
 * the innermost line of the traceback (Cython's and PyO3's messages name
 * nothing, and the frames of the import machinery are gone by then).
 * Everything here is a cold path: it runs only when something failed.
 */
#include "pyw_python.h"

#include <string.h>

#include "../daemon/pyw_dlog.h"
#include "pyw_interp_private.h"
#include "pyw_refuse.h"

#define REFUSE_LOG_CODE   316       /* README.md lists every code */
#define REFUSE_CHAIN_MAX  8         /* __cause__/__context__ looked at */

/* What the known refusals say (matched without regard to case). */
static const char *const refuse_texts[] = {
    "subinterpreter",               /* CPython 3.12+, PyO3 (newer)      */
    "sub-interpreter",
    "interpreter change detected",  /* Cython                           */
    "one interpreter per process",  /* Cython                           */
    "once per interpreter process", /* PyO3 (older)                     */
    NULL
};

/* The refusal's message (new reference) if e is one, else NULL. */
static PyObject *refuse_message(PyObject *e)
{
    PyObject *msg;
    const char *text;
    int i;

    /* A module not found is not a refusal, whatever its name says
     * ("import subinterpreter_pool" matched the texts below). */
    if (!PyObject_TypeCheck(e, (PyTypeObject *)PyExc_ImportError)
        || PyObject_TypeCheck(e, (PyTypeObject *)PyExc_ModuleNotFoundError)
        || (msg = PyObject_Str(e)) == NULL) {
        PyErr_Clear();
        return NULL;
    }
    if ((text = PyUnicode_AsUTF8(msg)) != NULL) {
        for (i = 0; refuse_texts[i] != NULL; i++) {
            if (strcasestr(text, refuse_texts[i]) != NULL) {
                return msg;
            }
        }
    }
    PyErr_Clear();
    Py_DECREF(msg);
    return NULL;
}

/* The refusing exception in value's chain (borrowed) and its message. */
static PyObject *refuse_find(PyObject *value, PyObject **msg)
{
    PyObject *e = value;
    int depth;

    for (depth = 0; e != NULL && depth < REFUSE_CHAIN_MAX; depth++) {
        PyObject *next;

        if ((*msg = refuse_message(e)) != NULL) {
            return e;
        }
        /* Borrowed through the chain: value keeps the links alive. */
        next = PyException_GetCause(e);
        if (next == NULL) {
            next = PyException_GetContext(e);
        }
        Py_XDECREF(next);
        e = next;
    }
    return NULL;
}

/* "from X import" / "import X" at the start of line: X, resolved
 * against package when relative.  New reference or NULL. */
static PyObject *refuse_import_target(const char *line, PyObject *package)
{
    PyObject *name, *util, *abs;
    const char *p = line + strspn(line, " \t");
    size_t n;

    if (strncmp(p, "from ", 5) == 0) {
        p += 5;
    }
    else if (strncmp(p, "import ", 7) == 0) {
        p += 7;
    }
    else {
        return NULL;
    }
    p += strspn(p, " \t");
    n = strcspn(p, " \t,;()\r\n#");
    if (n == 0 || (name = PyUnicode_FromStringAndSize(p, n)) == NULL) {
        return NULL;
    }
    if (*p != '.' || package == NULL || !PyUnicode_Check(package)) {
        return name;
    }
    util = PyImport_ImportModule("importlib.util");
    abs = util ? PyObject_CallMethod(util, "resolve_name", "OO", name,
                                     package) : NULL;
    Py_XDECREF(util);
    if (abs == NULL) {
        PyErr_Clear();
        return name;
    }
    Py_DECREF(name);
    return abs;
}

/* The import statement on the innermost traceback line of e. */
static PyObject *refuse_from_traceback(PyObject *e)
{
    PyObject *tb = PyException_GetTraceback(e), *next, *frame = NULL;
    PyObject *code = NULL, *file = NULL, *globals = NULL, *lc = NULL;
    PyObject *lineno = NULL, *line = NULL, *name = NULL, *pkg;

    while (tb != NULL) {
        next = PyObject_GetAttrString(tb, "tb_next");
        if (next == NULL || next == Py_None) {
            Py_XDECREF(next);
            break;
        }
        Py_DECREF(tb);
        tb = next;
    }
    if (tb != NULL && (frame = PyObject_GetAttrString(tb, "tb_frame"))
        != NULL) {
        code = PyObject_GetAttrString(frame, "f_code");
        globals = PyObject_GetAttrString(frame, "f_globals");
        file = code ? PyObject_GetAttrString(code, "co_filename") : NULL;
        lineno = PyObject_GetAttrString(tb, "tb_lineno");
        lc = file && lineno ? PyImport_ImportModule("linecache") : NULL;
        line = lc ? PyObject_CallMethod(lc, "getline", "OO", file, lineno)
                  : NULL;
    }
    if (line != NULL && PyUnicode_Check(line)) {
        pkg = globals && PyDict_Check(globals)
              ? PyDict_GetItemString(globals, "__package__") : NULL;
        name = refuse_import_target(PyUnicode_AsUTF8(line), pkg);
    }
    Py_XDECREF(line);
    Py_XDECREF(lineno);
    Py_XDECREF(lc);
    Py_XDECREF(file);
    Py_XDECREF(globals);
    Py_XDECREF(code);
    Py_XDECREF(frame);
    Py_XDECREF(tb);
    PyErr_Clear();
    return name;
}

/* The module that refused, as UTF-8 into buf. */
static void refuse_module(PyObject *e, const char *msg, char *buf,
                          size_t len)
{
    PyObject *name = NULL;
    const char *s;

    if (strncmp(msg, "module ", 7) == 0) {          /* CPython 3.12+ */
        snprintf(buf, len, "%.*s", (int)strcspn(msg + 7, " "), msg + 7);
        return;
    }
    name = PyObject_GetAttrString(e, "name");
    if (name == NULL || !PyUnicode_Check(name)) {
        PyErr_Clear();
        Py_XDECREF(name);
        name = refuse_from_traceback(e);
    }
    s = name && PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    snprintf(buf, len, "%s", s ? s : "(an extension module)");
    Py_XDECREF(name);
    PyErr_Clear();
}

int pyw_refuse_log(int level, const char *uri, const char *head)
{
    PyObject *type, *value, *tb, *e, *msg = NULL;
    const pyw_interp_t *ip = pyw_subinterp_current();
    const char *text;
    char module[256];

    if (!PyErr_ExceptionMatches(PyExc_Exception)) {
        return 0;
    }
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != NULL && tb != NULL) {
        PyException_SetTraceback(value, tb);
    }
    if (value == NULL || (e = refuse_find(value, &msg)) == NULL) {
        PyErr_Restore(type, value, tb);
        return 0;
    }
    text = PyUnicode_AsUTF8(msg);
    refuse_module(e, text ? text : "", module, sizeof(module));
    if (ip == NULL || ip->index != 0) {
        pyw_dlog(level, REFUSE_LOG_CODE, uri, "%s: extension module %s "
                 "cannot be loaded in application group '%s' (a "
                 "sub-interpreter): \"%s\"; run this application in "
                 "application-group=%%{GLOBAL}", head, module,
                 ip ? ip->name : "?", text ? text : "?");
    }
    else {
        pyw_dlog(level, REFUSE_LOG_CODE, uri, "%s: extension module %s "
                 "cannot be loaded in the main interpreter (%%{GLOBAL}) "
                 "after a named application group of this process loaded "
                 "it: \"%s\"; run every application that imports it in "
                 "application-group=%%{GLOBAL}", head, module,
                 text ? text : "?");
    }
    Py_DECREF(msg);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
    PyErr_Clear();
    return 1;
}

/*
 * pyw_interp_setup.c - what every interpreter gets before its first
 * request: python-path, its types and caches, sys.stdout/stderr to the
 * error log, the guards against the application (pyw_guards.c) and its
 * stack dump.
 */
#include "pyw_python.h"

#include <string.h>

#include "../daemon/pyw_dlog.h"
#include "pyw_errors.h"
#include "pyw_filewrapper.h"
#include "pyw_guards.h"
#include "pyw_input.h"
#include "pyw_interp_private.h"
#include "pyw_script.h"
#include "pyw_stacks.h"

/* Log codes of this file (README.md lists them all). */
#define INTERP_LOG_SETUP_FAILED   301  /* types, stdio, python-path        */

/* Prepend the ':'-separated python-path entries to sys.path, in order,
 * then let site process their .pth files (as site-packages are); what
 * those add (editable installs) goes right after the entries, before the
 * system's packages, where mod_wsgi puts it too (site appends it). */
static int interp_add_path(const char *python_path)
{
    PyObject *sys_path = PySys_GetObject("path");   /* borrowed */
    PyObject *add, *site, *added;
    const char *p = python_path, *colon;
    Py_ssize_t i, before;
    int rv = -1;

    if (sys_path == NULL || !PyList_Check(sys_path)) {
        PyErr_SetString(PyExc_RuntimeError, "sys.path is not a list");
        return -1;
    }
    if ((add = PyList_New(0)) == NULL) {
        return -1;
    }
    for (; *p; p = *colon ? colon + 1 : colon) {
        PyObject *dir;

        colon = strchrnul(p, ':');
        if (colon == p) {
            continue;
        }
        dir = PyUnicode_DecodeFSDefaultAndSize(p, colon - p);
        if (dir == NULL || PyList_Append(add, dir) < 0) {
            Py_XDECREF(dir);
            goto done;
        }
        Py_DECREF(dir);
    }
    if (PyList_SetSlice(sys_path, 0, 0, add) < 0) {
        goto done;
    }
    site = PyImport_ImportModule("site");
    if (site == NULL) {
        /* -S like setups: no .pth processing, the entries are in. */
        PyErr_Clear();
        rv = 0;
        goto done;
    }
    before = PyList_GET_SIZE(sys_path);
    for (i = 0; i < PyList_GET_SIZE(add); i++) {
        PyObject *r = PyObject_CallMethod(site, "addsitedir", "O",
                                          PyList_GET_ITEM(add, i));
        if (r == NULL) {
            break;
        }
        Py_DECREF(r);
    }
    rv = i == PyList_GET_SIZE(add) ? 0 : -1;
    Py_DECREF(site);
    sys_path = PySys_GetObject("path");     /* a .pth may replace it */
    if (rv == 0 && sys_path != NULL && PyList_Check(sys_path)
        && PyList_GET_SIZE(sys_path) > before) {
        added = PyList_GetSlice(sys_path, before, PyList_GET_SIZE(sys_path));
        rv = added == NULL
             || PyList_SetSlice(sys_path, before, PyList_GET_SIZE(sys_path),
                                NULL) < 0
             || PyList_SetSlice(sys_path, PyList_GET_SIZE(add),
                                PyList_GET_SIZE(add), added) < 0 ? -1 : 0;
        Py_XDECREF(added);
    }
done:
    Py_DECREF(add);
    return rv;
}

/* Everything an interpreter needs before its first request (see
 * pyw_interp_private.h); 0 / -1 logged. */
int pyw_interp_setup(pyw_interp_t *ip, const pyw_daemon_spec_t *spec)
{
    const char *step = "python-path";
    PyObject *mod;

    if (spec->python_path && spec->python_path[0]
        && interp_add_path(spec->python_path) < 0) {
        goto fail;
    }
    /* threading takes the importing thread as its main thread: make that
     * this one, not whichever worker first runs a script importing it. */
    step = "import threading";
    if ((mod = PyImport_ImportModule("threading")) == NULL) {
        goto fail;
    }
    Py_DECREF(mod);
    /* Imported now, so logging a failure later is only a look-up. */
    step = "import traceback";
    if ((mod = PyImport_ImportModule("traceback")) == NULL) {
        goto fail;
    }
    Py_DECREF(mod);
    step = "object types";
    if (pyw_wsgi_init(ip) < 0 || pyw_input_init_type(ip) < 0
        || pyw_errors_init_type(ip) < 0
        || pyw_filewrapper_init_type(ip) < 0) {
        goto fail;
    }
    /* As the main one has (pyw_interp_config.c): a sub-interpreter's
     * was the hosted daemon's own command line. */
    step = "sys.argv";
    if ((mod = Py_BuildValue("[s]", "mod_pyworker")) == NULL
        || PySys_SetObject("argv", mod) < 0) {
        Py_XDECREF(mod);
        goto fail;
    }
    Py_DECREF(mod);
    step = "sys.stdout/sys.stderr";
    if (pyw_errors_redirect_stdio(ip) < 0) {
        goto fail;
    }
    step = "signal.signal/os._exit guards";
    if (pyw_guards_install() < 0) {
        goto fail;
    }
    if (ip->index == 0) {
        pyw_stacks_init();
    }
    return 0;

fail:
    pyw_script_log_exception(PYW_LOG_CRIT, INTERP_LOG_SETUP_FAILED, NULL,
                             "cannot set up Python%s%s%s: %s failed",
                             ip->index ? " for application group '" : "",
                             ip->name, ip->index ? "'" : "", step);
    return -1;
}

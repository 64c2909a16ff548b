/*
 * pyw_hosted_entry.c - the daemon inside the group's Python executable
 * (pyw_hosted.h): the extension module `pyworker_daemon`, whose run()
 * takes over the main thread for the daemon's whole life and never
 * returns.  The same file is in the daemon program, where nothing calls
 * it.
 *
 * Python's main has started the interpreter (with site, and the virtualenv
 * of python-home when the daemon program exec'd the venv's python); the
 * daemon reads its spec again, restores its title and starts as it
 * would after embedding Python (pyw_interp_start sees it running).
 */
#include "pyw_python.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../daemon/pyw_daemon.h"
#include "pyw_hosted.h"
#include "pyw_python_app.h"
#include "pyw_spec_fds.h"

/* Python's argv before the title: program, -c, the code, the module. */
#define ENTRY_PYTHON_ARGS 4

static int entry_running;

int pyw_hosted_running(void)
{
    return entry_running;
}

/*
 * ps shows the argv area, which holds Python's arguments now; put the
 * daemon program's title (the strings after them) at its start and zero
 * the rest.  The strings are contiguous from argv[0], which glibc keeps
 * in program_invocation_name.
 */
static void entry_restore_title(void)
{
    char *start = program_invocation_name, *p = start, *title = NULL;
    wchar_t **wargv;
    size_t len, tlen;
    int argc, i;

    Py_GetArgcArgv(&argc, &wargv);
    if (start == NULL || argc <= ENTRY_PYTHON_ARGS) {
        return;
    }
    for (i = 0; i < argc; i++) {
        if (i == ENTRY_PYTHON_ARGS) {
            title = p;
        }
        p += strlen(p) + 1;
    }
    if (title == NULL) {
        return;
    }
    len = (size_t)(p - start);
    tlen = (size_t)(p - title);
    memmove(start, title, tlen);
    memset(start + tlen, 0, len - tlen);
}

/* PYTHONHOME (a python-home prefix) was for this Python's start only: a
 * Python the application starts would take it too. */
static void entry_forget_home(void)
{
    PyObject *os, *environ = NULL, *r = NULL;

    if (getenv("PYTHONHOME") == NULL) {
        return;
    }
    if ((os = PyImport_ImportModule("os")) != NULL) {
        environ = PyObject_GetAttrString(os, "environ");
        Py_DECREF(os);
    }
    if (environ != NULL) {
        r = PyObject_CallMethod(environ, "pop", "sO", "PYTHONHOME", Py_None);
        Py_DECREF(environ);
    }
    Py_XDECREF(r);
    PyErr_Clear();
    unsetenv("PYTHONHOME");
}

static PyObject *entry_run(PyObject *self, PyObject *unused)
{
    static pyw_daemon_spec_t spec;
    char *encoded;              /* kept: the spec's strings live in it */

    (void)self;
    (void)unused;
    if (pyw_spec_fds_load(&spec, &encoded, "(in Python)", NULL) < 0) {
        _exit(PYW_DAEMON_EXIT_STARTUP_FAILED);
    }
    pyw_spec_fds_close();
    entry_restore_title();
    entry_forget_home();
    entry_running = 1;
    pyw_daemon_main_hosted(&spec, &pyw_python_app);
}

static PyMethodDef entry_methods[] = {
    { "run", entry_run, METH_NOARGS,
      "Run the mod_pyworker daemon in this process; never returns." },
    { NULL, NULL, 0, NULL }
};

static struct PyModuleDef entry_module = {
    PyModuleDef_HEAD_INIT, "pyworker_daemon",
    "The mod_pyworker daemon, run in the group's Python executable.", -1,
    entry_methods, NULL, NULL, NULL, NULL
};

PyMODINIT_FUNC PyInit_pyworker_daemon(void)
{
    return PyModule_Create(&entry_module);
}

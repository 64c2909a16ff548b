/*
 * pyw_guards.c - keep application code from breaking the daemon:
 * signal.signal is ignored (logged).
 * os.close, os.closerange and os.dup2 leave the daemon's connections to
 * Apache and its socket alone: a request's connection closed by mistake
 * (a double close) took the number of the next connection accepted, and
 * the request's response went to another client.  The same for the
 * descriptor the daemon logs to.
 *
 * Installed in every interpreter (each has its own _signal, posix and os
 * modules); the replaced functions are bound to the interpreter's own
 * originals, so no object crosses interpreters.
 */
#include "pyw_python.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../daemon/pyw_dfds.h"
#include "../daemon/pyw_dlog.h"
#include "pyw_guards.h"

/* Log codes of this file (README.md lists them all). */
#define GUARD_LOG_SIGNAL_IGNORED 331  /* warn: app called signal.signal  */
#define GUARD_LOG_DAEMON_FD      335  /* warn: close/dup2 of a daemon fd */

static pid_t guard_pid;                 /* the daemon, not a fork */

/* 1 if frame f runs code of module `name` (its globals' __name__). */
static int guard_frame_in(PyObject *f, const char *name)
{
    PyObject *g = PyObject_GetAttrString(f, "f_globals");
    PyObject *n = g && PyDict_Check(g)
                  ? PyDict_GetItemString(g, "__name__") : NULL;  /* borrowed */
    int yes = n && PyUnicode_Check(n)
              && PyUnicode_CompareWithASCIIString(n, name) == 0;

    Py_XDECREF(g);
    PyErr_Clear();
    return yes;
}

/* "file:line" of the Python code that called us, for the log; frames of
 * module `skip` (a stdlib wrapper around the function) do not count. */
static void guard_caller(char *buf, size_t len, const char *skip)
{
    PyObject *f = (PyObject *)PyEval_GetFrame(), *code = NULL, *file = NULL;
    const char *name = NULL;
    int line = 0;

    Py_XINCREF(f);
    while (f != NULL && skip != NULL && guard_frame_in(f, skip)) {
        PyObject *back = PyObject_GetAttrString(f, "f_back");

        Py_DECREF(f);
        if (back == Py_None) {
            Py_CLEAR(back);
        }
        f = back;
    }
    if (f != NULL) {
        code = PyObject_GetAttrString(f, "f_code");
        file = code ? PyObject_GetAttrString(code, "co_filename") : NULL;
        name = file && PyUnicode_Check(file) ? PyUnicode_AsUTF8(file) : NULL;
        line = PyFrame_GetLineNumber((PyFrameObject *)f);
    }
    snprintf(buf, len, "%s:%d", name ? name : "?", line);
    Py_XDECREF(file);
    Py_XDECREF(code);
    Py_XDECREF(f);
    PyErr_Clear();
}

static void guard_signal_name(int sig, char *buf, size_t len)
{
    static const struct { int sig; const char *name; } names[] = {
        { SIGHUP, "SIGHUP" },   { SIGINT, "SIGINT" },   { SIGQUIT, "SIGQUIT" },
        { SIGABRT, "SIGABRT" }, { SIGKILL, "SIGKILL" }, { SIGUSR1, "SIGUSR1" },
        { SIGSEGV, "SIGSEGV" }, { SIGUSR2, "SIGUSR2" }, { SIGPIPE, "SIGPIPE" },
        { SIGALRM, "SIGALRM" }, { SIGTERM, "SIGTERM" }, { SIGCHLD, "SIGCHLD" },
        { SIGWINCH, "SIGWINCH" }, { SIGXCPU, "SIGXCPU" },
    };
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (names[i].sig == sig) {
            snprintf(buf, len, "%s", names[i].name);
            return;
        }
    }
    snprintf(buf, len, "signal %d", sig);
}

/*
 * _signal.signal replacement (signal.signal calls it).  The daemon's C
 * handlers must stay: a Python handler would only ever run on the main
 * thread, which runs no Python after start-up, so SIGTERM would be lost.
 * Like mod_wsgi's WSGIRestrictSignal: log, ignore, and return what
 * signal.getsignal() says, from any thread (not ValueError).  A process
 * the application forked is its own: there the call goes through.
 * self: (signal, getsignal) of this interpreter's _signal module.
 */
static PyObject *guard_signal(PyObject *self, PyObject *args)
{
    char where[512], name[32];
    PyObject *handler;
    int sig;

    if (getpid() != guard_pid) {
        return PyObject_Call(PyTuple_GET_ITEM(self, 0), args, NULL);
    }
    if (!PyArg_ParseTuple(args, "iO:signal", &sig, &handler)) {
        return NULL;
    }
    guard_caller(where, sizeof(where), "signal");
    guard_signal_name(sig, name, sizeof(name));
    pyw_dlog(PYW_LOG_WARNING, GUARD_LOG_SIGNAL_IGNORED, NULL,
             "signal.signal(%s, ...) from %s ignored: the daemon owns its "
             "signals", name, where);
    return PyObject_CallFunction(PyTuple_GET_ITEM(self, 1), "i", sig);
}

/* A descriptor of the daemon's own, in the daemon (not a fork): refused
 * with EBADF, as a descriptor already closed is.  1 refused (exception
 * set), 0 not ours. */
static int guard_daemon_owns(long fd)
{
    return fd >= 0 && fd <= INT_MAX
           && (pyw_dfds_has((int)fd) || fd == pyw_dlog_fd());
}

static int guard_daemon_fd(const char *call, long fd)
{
    char where[512];

    if (getpid() != guard_pid || !guard_daemon_owns(fd)) {
        return 0;
    }
    guard_caller(where, sizeof(where), "os");
    pyw_dlog(PYW_LOG_WARNING, GUARD_LOG_DAEMON_FD, NULL, "os.%s() of "
             "descriptor %ld from %s refused: it is the daemon's (its "
             "connection to Apache or its socket)", call, fd, where);
    errno = EBADF;
    PyErr_SetFromErrno(PyExc_OSError);
    return 1;
}

/* os.close replacement.  self: this interpreter's posix.close. */
static PyObject *guard_close(PyObject *self, PyObject *arg)
{
    long fd = PyLong_AsLong(arg);

    if (fd == -1 && PyErr_Occurred()) {
        return NULL;
    }
    return guard_daemon_fd("close", fd) ? NULL
           : PyObject_CallFunctionObjArgs(self, arg, NULL);
}

/* os.dup2 replacement: the target must not be the daemon's.  self:
 * posix.dup2. */
static PyObject *guard_dup2(PyObject *self, PyObject *args, PyObject *kw)
{
    PyObject *target = PyTuple_Check(args) && PyTuple_GET_SIZE(args) >= 2
                       ? PyTuple_GET_ITEM(args, 1) : NULL;
    long fd = target && PyLong_Check(target) ? PyLong_AsLong(target) : -1;

    if (fd == -1 && PyErr_Occurred()) {
        return NULL;
    }
    return guard_daemon_fd("dup2", fd) ? NULL
           : PyObject_Call(self, args, kw);
}

/* posix.closerange(lo, hi); -1 with an exception. */
static int guard_closerange_call(PyObject *closerange, long lo, long hi)
{
    PyObject *r = PyObject_CallFunction(closerange, "ll", lo, hi);

    Py_XDECREF(r);
    return r ? 0 : -1;
}

/* os.closerange replacement: the range around the daemon's descriptors
 * (daemonizing code closes everything above 2).  self: posix.closerange. */
static PyObject *guard_closerange(PyObject *self, PyObject *args)
{
    long lo, hi, fd, from;

    if (!PyArg_ParseTuple(args, "ll:closerange", &lo, &hi)) {
        return NULL;
    }
    from = lo;
    for (fd = lo < 0 ? 0 : lo; getpid() == guard_pid && fd < hi
         && fd < PYW_DFDS_MAX; fd++) {
        if (guard_daemon_owns(fd)) {
            if (fd > from && guard_closerange_call(self, from, fd) < 0) {
                return NULL;
            }
            from = fd + 1;
        }
    }
    if (from < hi && guard_closerange_call(self, from, hi) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyMethodDef guard_close_def = {
    "close", guard_close, METH_O,
    "os.close; the daemon's own descriptors are refused (EBADF)."
};
static PyMethodDef guard_dup2_def = {
    "dup2", (PyCFunction)(void (*)(void))guard_dup2,
    METH_VARARGS | METH_KEYWORDS,
    "os.dup2; the daemon's own descriptors are refused as targets."
};
static PyMethodDef guard_closerange_def = {
    "closerange", guard_closerange, METH_VARARGS,
    "os.closerange, around the daemon's own descriptors."
};

static PyMethodDef guard_signal_def = {
    "signal", guard_signal, METH_VARARGS,
    "Ignored under mod_pyworker: the daemon owns its signals."
};

/* The function module.<name> (new reference), or NULL. */
static PyObject *guard_get(const char *module, const char *name)
{
    PyObject *m = PyImport_ImportModule(module), *fn;

    if (m == NULL) {
        return NULL;
    }
    fn = PyObject_GetAttrString(m, name);
    Py_DECREF(m);
    return fn;
}

/* Each module.<def->ml_name> = a new builtin for def bound to self.
 * 0 / -1 (exception set). */
static int guard_set(const char *const *modules, PyMethodDef *def,
                     PyObject *self)
{
    PyObject *fn = PyCFunction_NewEx(def, self, NULL), *m;
    int rv = fn ? 0 : -1;

    for (; rv == 0 && *modules != NULL; modules++) {
        if ((m = PyImport_ImportModule(*modules)) == NULL
            || PyObject_SetAttrString(m, def->ml_name, fn) < 0) {
            rv = -1;
        }
        Py_XDECREF(m);
    }
    Py_XDECREF(fn);
    return rv;
}

int pyw_guards_install(void)
{
    static const char *const signal_modules[] = { "_signal", NULL };
    static const char *const os_modules[] = { "posix", "os", NULL };
    PyObject *sig = guard_get("_signal", "signal");
    PyObject *getsig = guard_get("_signal", "getsignal");
    PyObject *close_fn = guard_get("posix", "close");
    PyObject *dup2_fn = guard_get("posix", "dup2");
    PyObject *closerange_fn = guard_get("posix", "closerange");
    PyObject *pair = sig && getsig ? PyTuple_Pack(2, sig, getsig) : NULL;
    int rv = -1;

    guard_pid = getpid();
    if (pair != NULL
        && guard_set(signal_modules, &guard_signal_def, pair) == 0
        && close_fn != NULL && dup2_fn != NULL && closerange_fn != NULL
        && guard_set(os_modules, &guard_close_def, close_fn) == 0
        && guard_set(os_modules, &guard_dup2_def, dup2_fn) == 0
        && guard_set(os_modules, &guard_closerange_def,
                     closerange_fn) == 0) {
        rv = 0;
    }
    Py_XDECREF(closerange_fn);
    Py_XDECREF(close_fn);
    Py_XDECREF(dup2_fn);
    Py_XDECREF(pair);
    Py_XDECREF(getsig);
    Py_XDECREF(sig);
    return rv;
}

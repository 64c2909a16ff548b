/*
 * pyw_interp.c - the life of CPython in a daemon process: start it
 * (configured by pyw_interp_config.c; each interpreter set up by
 * pyw_interp_setup.c, the named application groups' through
 * pyw_subinterp.c), run the import scripts, give each worker thread its
 * own PyThreadState, and run every interpreter's atexit at stop.
 */
#include "pyw_python.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/pyw_io.h"
#include "../daemon/pyw_dlog.h"
#include "pyw_hosted.h"
#include "pyw_interp_int.h"
#include "pyw_interp_private.h"
#include "pyw_paste.h"
#include "pyw_response.h"
#include "pyw_script.h"
#include "pyw_stacks.h"

/* Log codes of this file (README.md lists them all). */
#define INTERP_LOG_STARTED        302  /* info: version, sys.prefix        */
#define INTERP_LOG_THREAD_FAILED  303  /* PyThreadState_New failed         */
#define INTERP_LOG_ATEXIT_FAILED  304  /* atexit callbacks raised          */
#define INTERP_LOG_PRELOADED      317  /* info: a preload loaded           */

pyw_interp_t pyw_interp_main = { .index = 0, .name = "", .name_len = 0 };

static int interp_threads = 1;
static int interp_processes = 1;
static int interp_started;
/* The main thread's states (start: import scripts; stop: atexit). */
static pyw_app_thread_t interp_main_thread;

int pyw_interp_threads(void)
{
    return interp_threads;
}

int pyw_interp_processes(void)
{
    return interp_processes;
}

static void interp_log_started(void)
{
    PyObject *prefix = PySys_GetObject("prefix");       /* borrowed */
    const char *p = prefix && PyUnicode_Check(prefix)
                    ? PyUnicode_AsUTF8(prefix) : NULL;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

    if (p == NULL) {
        PyErr_Clear();
    }
    exe[n > 0 ? n : 0] = '\0';
    pyw_dlog(PYW_LOG_INFO, INTERP_LOG_STARTED, NULL,
             "Python %s started %sin %s, sys.prefix=%s", Py_GetVersion(),
             pyw_hosted_running() ? "" : "embedded ", exe, p ? p : "?");
}

/* One import entry in ip (pyw_spec.h: PYW_IMPORT_*): 0; 1 for a failed
 * preload the daemon starts without; -1 when a failure must stop the
 * start (PyWorkerImportScript, or any in a daemon `replacing` a serving
 * one).  Failures are logged. */
static int interp_import_one(pyw_interp_t *ip, const char *path,
                             const char *mode, const char *group,
                             int replacing)
{
    size_t plen = sizeof(PYW_IMPORT_PASTE) - 1;
    const char *paste = strncmp(mode, PYW_IMPORT_PASTE, plen) == 0
                        ? mode + plen : NULL;
    int64_t start = pyw_io_now_ms();
    int rv;

    if (paste != NULL) {
        rv = pyw_paste_preload(path, paste, replacing);
    }
    else if (strcmp(mode, PYW_IMPORT_PRELOAD) == 0) {
        rv = pyw_script_preload(ip, path, replacing);
    }
    else {
        return pyw_script_import(ip, path);
    }
    if (rv == 0) {
        pyw_dlog(PYW_LOG_INFO, INTERP_LOG_PRELOADED, NULL, "preloaded %s%s%s "
                 "in application group '%s' in %lld ms", path,
                 paste ? "#" : "", paste ? paste : "",
                 *group ? group : "%{GLOBAL}",
                 (long long)(pyw_io_now_ms() - start));
    }
    /* A deploy must not retire a serving daemon for one that cannot
     * load its application: fail, and the parent retries with back-off
     * while the old one serves.  With no daemon serving, serving 500s
     * while requests try again beats serving 503s. */
    return rv == 0 ? 0 : replacing ? -1 : 1;
}

/* PyWorkerImportScript and preloads, in order, each in its application
 * group's interpreter (created here when it is a named one).  GIL not
 * held.  0; 1 if a preload failed and the daemon starts anyway; or -1
 * (logged): the start fails. */
static int interp_import_scripts(const pyw_daemon_spec_t *spec)
{
    const char *group, *mode;
    pyw_interp_t *ip;
    int i, rv, failed = 0;

    for (i = 0; i < spec->n_import_scripts; i++) {
        group = i < spec->n_import_app_groups ? spec->import_app_groups[i]
                                              : "";
        mode = i < spec->n_import_modes ? spec->import_modes[i]
                                        : PYW_IMPORT_SCRIPT;
        ip = pyw_subinterp_enter(&interp_main_thread, group, strlen(group),
                                 NULL);
        if (ip == NULL) {
            /* Logged (PYW0314).  A preload's group is tried again by its
             * requests.  Not a failed preload: no other process would
             * have the interpreter either (64 named groups are the most
             * a process holds), so neither refuse to replace a serving
             * daemon nor ask for a replacement. */
            if (strcmp(mode, PYW_IMPORT_SCRIPT) == 0) {
                return -1;
            }
            continue;
        }
        rv = interp_import_one(ip, spec->import_scripts[i], mode, group,
                               spec->replacing);
        pyw_subinterp_leave();
        if (rv < 0) {
            return -1;          /* logged with its traceback */
        }
        failed |= rv;
    }
    return failed;
}

int pyw_interp_start(const pyw_daemon_spec_t *spec)
{
    int rv;

    interp_threads = spec->threads > 0 ? spec->threads : 1;
    interp_processes = spec->processes > 0 ? spec->processes : 1;
    pyw_script_reloading(spec->script_reloading);
    pyw_script_owner(spec->script_uid, spec->script_gid);
    pyw_response_set_header_limit(spec->header_buffer_size);
    if (pyw_interp_initialize(spec) < 0) {
        return -1;
    }
    interp_started = 1;
    pyw_interp_main.istate = PyInterpreterState_Main();
    interp_main_thread.ts[0] = PyThreadState_Get();
    pyw_subinterp_init(spec);
    if ((rv = pyw_interp_setup(&pyw_interp_main, spec)) == 0) {
        interp_log_started();
    }
    /* The main thread's state stays with this thread; workers have their
     * own.  From here on nobody holds the GIL between requests. */
    PyEval_SaveThread();
    return rv == 0 ? interp_import_scripts(spec) : rv;
}

pyw_app_thread_t *pyw_interp_thread_new(void)
{
    pyw_app_thread_t *t = calloc(1, sizeof(*t));

    if (t == NULL) {
        pyw_dlog(PYW_LOG_CRIT, INTERP_LOG_THREAD_FAILED, NULL,
                 "out of memory for a Python thread state");
        return NULL;
    }
    /* Created on the worker thread itself, so the state belongs to it
     * (and PyGILState_Ensure on this thread finds it).  Its states in
     * named groups' interpreters come on its first request there. */
    t->ts[0] = PyThreadState_New(PyInterpreterState_Main());
    if (t->ts[0] == NULL) {
        pyw_dlog(PYW_LOG_CRIT, INTERP_LOG_THREAD_FAILED, NULL,
                 "PyThreadState_New failed");
        free(t);
        return NULL;
    }
    return t;
}

void pyw_interp_thread_ping(pyw_app_thread_t *t)
{
    PyEval_RestoreThread(t->ts[0]);
    PyEval_SaveThread();
    pyw_subinterp_ping(t);
}

/* Call flush() on sys.<name>, ignoring every failure (shutting down). */
static void interp_flush(const char *name)
{
    PyObject *f = PySys_GetObject(name);                /* borrowed */
    PyObject *r = f ? PyObject_CallMethod(f, "flush", NULL) : NULL;

    Py_XDECREF(r);
    PyErr_Clear();
}

/* The interpreter whose atexit callbacks run (the main thread's). */
static pyw_interp_t *interp_exiting;

/* An attribute, or NULL for None or a failure (cleared). */
static PyObject *interp_attr(PyObject *o, const char *name)
{
    PyObject *v = PyObject_GetAttrString(o, name);

    if (v == NULL) {
        PyErr_Clear();
    }
    else if (v == Py_None) {
        Py_CLEAR(v);
    }
    return v;
}

/* sys.unraisablehook while atexit runs: atexit reports a callback that
 * raised only through it, which would land on stderr (PYW0361). */
static PyObject *interp_atexit_raised(PyObject *self, PyObject *args)
{
    PyObject *type = interp_attr(args, "exc_type");
    PyObject *value = interp_attr(args, "exc_value");
    PyObject *tb = interp_attr(args, "exc_traceback");
    PyObject *obj = interp_attr(args, "object");
    /* 3.11 passes the callback as object; 3.13 names it in err_msg. */
    PyObject *what = obj != NULL ? PyObject_Repr(obj)
                                 : interp_attr(args, "err_msg");
    const char *name = what != NULL && PyUnicode_Check(what)
                       ? PyUnicode_AsUTF8(what) : NULL;
    static const char prefix[] = "Exception ignored in atexit callback ";
    const pyw_interp_t *ip = interp_exiting;
    int named = ip != NULL && ip->index != 0;

    (void)self;
    PyErr_Clear();
    if (type == NULL) {
        Py_CLEAR(value);
        Py_CLEAR(tb);
    }
    if (name != NULL && strncmp(name, prefix, sizeof(prefix) - 1) == 0) {
        name += sizeof(prefix) - 1;
    }
    PyErr_Restore(type, value, tb);         /* steals all three */
    pyw_script_log_exception(PYW_LOG_ERR, INTERP_LOG_ATEXIT_FAILED, NULL,
                             "atexit callback %s%s%s%s raised",
                             name ? name : "?",
                             named ? " of application group '" : "",
                             named ? ip->name : "", named ? "'" : "");
    PyErr_Clear();
    Py_XDECREF(what);
    Py_XDECREF(obj);
    Py_RETURN_NONE;
}

static PyMethodDef interp_atexit_hook_def = {
    "atexit_raised", interp_atexit_raised, METH_O, NULL
};

/* Sets sys.unraisablehook to ours; returns the one it replaced (new
 * reference), or NULL. */
static PyObject *interp_hook_unraisable(void)
{
    PyObject *old = PySys_GetObject("unraisablehook");  /* borrowed */
    PyObject *hook = PyCFunction_New(&interp_atexit_hook_def, NULL);

    Py_XINCREF(old);
    if (hook == NULL || PySys_SetObject("unraisablehook", hook) < 0) {
        PyErr_Clear();
        Py_CLEAR(old);
    }
    Py_XDECREF(hook);
    return old;
}

/* The current interpreter's atexit callbacks, then its stdio flushed. */
static void interp_atexit(pyw_interp_t *ip)
{
    PyObject *atexit, *old_hook, *r = NULL;

    interp_exiting = ip;
    old_hook = interp_hook_unraisable();
    atexit = PyImport_ImportModule("atexit");
    if (atexit != NULL) {
        r = PyObject_CallMethod(atexit, "_run_exitfuncs", NULL);
        Py_DECREF(atexit);
    }
    if (old_hook != NULL) {
        PySys_SetObject("unraisablehook", old_hook);
        Py_DECREF(old_hook);
    }
    if (r == NULL) {
        pyw_script_log_exception(PYW_LOG_ERR, INTERP_LOG_ATEXIT_FAILED, NULL,
                                 "running Python atexit callbacks%s%s%s "
                                 "failed", ip->index ? " of application "
                                 "group '" : "", ip->name,
                                 ip->index ? "'" : "");
    }
    Py_XDECREF(r);
    interp_flush("stdout");
    interp_flush("stderr");
}

/* Named groups first (in creation order), the main interpreter last, as
 * an embedder ends sub-interpreters before Py_Finalize; all of it within
 * the shutdown-timeout the watchdog enforces. */
void pyw_interp_stop(void)
{
    if (!interp_started) {
        return;
    }
    pyw_subinterp_each(&interp_main_thread, interp_atexit);
    PyEval_RestoreThread(interp_main_thread.ts[0]);
    interp_atexit(&pyw_interp_main);
    /* Not Py_Finalize(): a worker past shutdown_timeout_ms may still be in
     * Python, and the process exits next anyway. */
    PyEval_SaveThread();
}

int pyw_interp_dump_stacks(int level)
{
    return pyw_stacks_dump(level);
}

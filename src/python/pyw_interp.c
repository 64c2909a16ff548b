/*
 * pyw_interp.c - start and stop CPython in a daemon process, set up each
 * interpreter (the main one here, the named application groups' through
 * pyw_subinterp.c), and give each worker thread its own PyThreadState.
 *
 * The daemon has already set LANG/locale, dropped privileges and chdir'd;
 * Python starts with its own signal handlers off (the daemon's main thread
 * owns signals) and without parsing any argv.
 *
 * Set up in every interpreter, before its first request: python-path,
 * its types and caches, sys.stdout/stderr to the error log, the guards
 * against the application (pyw_guards.c) and its stack dump.
 */
#include "pyw_python.h"

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../daemon/pyw_dlog.h"
#include "pyw_errors.h"
#include "pyw_filewrapper.h"
#include "pyw_guards.h"
#include "pyw_input.h"
#include "pyw_interp_private.h"
#include "pyw_response.h"
#include "pyw_script.h"
#include "pyw_stacks.h"

/* Log codes of this file (README.md lists them all). */
#define INTERP_LOG_INIT_FAILED    300  /* Py_InitializeFromConfig failed   */
#define INTERP_LOG_SETUP_FAILED   301  /* types, stdio, python-path        */
#define INTERP_LOG_STARTED        302  /* info: version, sys.prefix        */
#define INTERP_LOG_THREAD_FAILED  303  /* PyThreadState_New failed         */
#define INTERP_LOG_ATEXIT_FAILED  304  /* atexit callbacks raised          */
#define INTERP_LOG_BAD_VENV       305  /* crit: python-home is a venv this
                                          daemon cannot use (warn: of
                                          another installation)           */

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

static int interp_config_string(PyConfig *cfg, wchar_t **field,
                                const char *value)
{
    PyStatus st = PyConfig_SetBytesString(cfg, field, value);

    if (PyStatus_Exception(st)) {
        pyw_dlog(PYW_LOG_CRIT, INTERP_LOG_INIT_FAILED, NULL,
                 "cannot use '%s' in the Python configuration: %s",
                 value, st.err_msg ? st.err_msg : "?");
        return -1;
    }
    return 0;
}

/* The venv's version and base Python ("home", its bin directory). */
static int interp_check_venv_base(const char *home, const char *base,
                                  const char *version)
{
    char mine[16];
    size_t n = (size_t)snprintf(mine, sizeof(mine), "%d.%d",
                                PY_MAJOR_VERSION, PY_MINOR_VERSION);

    if (version[0] != '\0' && (strncmp(version, mine, n) != 0
                               || (version[n] != '.' && version[n] != '\0'))) {
        pyw_dlog(PYW_LOG_CRIT, INTERP_LOG_BAD_VENV, NULL, "python-home %s "
                 "is a virtualenv of Python %s (made by %s), but this "
                 "group's daemon runs Python %s: make it with this Python, "
                 "or pick that one with python-executable=", home, version,
                 base[0] ? base : "?", mine);
        return -1;
    }
    if (base[0] != '\0' && access(base, R_OK | X_OK) != 0) {
        pyw_dlog(PYW_LOG_CRIT, INTERP_LOG_BAD_VENV, NULL, "python-home %s "
                 "is a virtualenv made by the Python in %s, which uid %ld "
                 "cannot read (%s): make the virtualenv with a Python the "
                 "daemon's user can read", home, base, (long)getuid(),
                 strerror(errno));
        return -1;
    }
    return 0;
}

/* The value of "key = value" in a pyvenv.cfg line, or NULL. */
static const char *interp_cfg_value(char *line, const char *key)
{
    size_t n = strlen(key);
    char *v, *end;

    if (strncmp(line, key, n) != 0) {
        return NULL;
    }
    for (v = line + n; *v == ' ' || *v == '\t'; v++) {
    }
    if (*v++ != '=') {
        return NULL;
    }
    for (; *v == ' ' || *v == '\t'; v++) {
    }
    for (end = v + strlen(v); end > v && (end[-1] == '\n' || end[-1] == ' '
                                          || end[-1] == '\r'); end--) {
    }
    *end = '\0';
    return v;
}

/*
 * A virtualenv this daemon cannot use says so in one line, before Python
 * would print its path dump and fail at every restart: pyvenv.cfg the
 * daemon user cannot read, a venv of another Python version, or one whose
 * base Python ("home") the daemon user cannot read (a pyenv build in
 * root's home).  0: go on; -1: the start fails.
 */
static int interp_check_venv(const char *home, const char *cfgfile)
{
    char line[4096], base[4096] = "", version[64] = "";
    const char *v;
    FILE *f = fopen(cfgfile, "r");

    if (f == NULL) {
        if (errno == ENOENT) {
            return 0;                   /* not a venv: a prefix */
        }
        pyw_dlog(PYW_LOG_CRIT, INTERP_LOG_BAD_VENV, NULL, "python-home %s: "
                 "%s cannot be read by uid %ld: %s; make the virtualenv "
                 "readable by the daemon's user", home, cfgfile,
                 (long)getuid(), strerror(errno));
        return -1;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        if ((v = interp_cfg_value(line, "home")) != NULL) {
            snprintf(base, sizeof(base), "%s", v);
        }
        else if ((v = interp_cfg_value(line, "version")) != NULL
                 || (v = interp_cfg_value(line, "version_info")) != NULL) {
            snprintf(version, sizeof(version), "%s", v);
        }
    }
    fclose(f);
    return interp_check_venv_base(home, base, version);
}

/*
 * python-home.  A virtual environment (pyvenv.cfg, bin/python3) is found
 * the way Python finds it for its own executable: program_name points at
 * the venv's interpreter and Python reads pyvenv.cfg, so sys.prefix is
 * the venv and the standard library comes from its base.  Any other
 * directory is a Python installation prefix: PyConfig.home, and its
 * bin/pythonX.Y (when there) as program_name for sys.executable.
 */
static int interp_config_home(PyConfig *cfg, const char *home)
{
    char cfgfile[4096], exe[4096];

    if (access(home, R_OK | X_OK) != 0) {
        pyw_dlog(PYW_LOG_CRIT, INTERP_LOG_INIT_FAILED, NULL,
                 "python-home %s is not usable: %s", home, strerror(errno));
        return -1;
    }
    snprintf(cfgfile, sizeof(cfgfile), "%s/pyvenv.cfg", home);
    if (interp_check_venv(home, cfgfile) < 0) {
        return -1;
    }
    snprintf(exe, sizeof(exe), "%s/bin/python3", home);
    if (access(cfgfile, R_OK) == 0 && access(exe, X_OK) == 0) {
        return interp_config_string(cfg, &cfg->program_name, exe);
    }
    snprintf(exe, sizeof(exe), "%s/bin/python%d.%d", home,
             PY_MAJOR_VERSION, PY_MINOR_VERSION);
    if (access(exe, X_OK) == 0
        && interp_config_string(cfg, &cfg->program_name, exe) < 0) {
        return -1;
    }
    return interp_config_string(cfg, &cfg->home, home);
}

/*
 * Without python-home: the interpreter that belongs to the libpython we
 * run on.  Left to itself, Python would search PATH for "python3" and
 * could take its prefix (and standard library) from another
 * installation, e.g. a pyenv shim first on Apache's PATH.  The library's
 * own path gives the prefix: <prefix>/lib[64]/[<multiarch>/]libpythonX.Y.
 * 0 and buf filled, or -1 when that interpreter does not exist.
 */
static int interp_default_program(char *buf, size_t len)
{
    Dl_info info;
    char *path;
    const char *lib;
    int n;

    if (dladdr((void *)&Py_InitializeFromConfig, &info) == 0
        || info.dli_fname == NULL
        || (path = realpath(info.dli_fname, NULL)) == NULL) {
        return -1;
    }
    lib = strstr(path, "/lib");
    n = lib ? snprintf(buf, len, "%.*s/bin/python%d.%d", (int)(lib - path),
                       path, PY_MAJOR_VERSION, PY_MINOR_VERSION) : -1;
    free(path);
    if (n < 0 || (size_t)n >= len || access(buf, X_OK) != 0) {
        return -1;
    }
    return 0;
}

/* The group's Python (python-executable=, as the build names it): its
 * prefix is where the standard library is, wherever this program lives
 * and however libpython was linked; else the libpython's own. */
static const char *interp_program(const pyw_daemon_spec_t *spec, char *buf,
                                  size_t len)
{
    if (spec->python_executable != NULL
        && access(spec->python_executable, X_OK) == 0) {
        return spec->python_executable;
    }
    return interp_default_program(buf, len) == 0 ? buf : "python3";
}

static int interp_initialize(const pyw_daemon_spec_t *spec)
{
    char exe[4096];
    PyConfig cfg;
    PyStatus st;

    PyConfig_InitPythonConfig(&cfg);
    cfg.install_signal_handlers = 0;   /* the daemon owns signals     */
    cfg.parse_argv = 0;
    cfg.configure_c_stdio = 0;         /* fds 0-2 belong to the daemon */
    /* sys.argv = ['mod_pyworker']: libraries that read argv[0] find a
     * name, as under mod_wsgi. */
    st = PyConfig_SetBytesArgv(&cfg, 1, (char *const[]){ "mod_pyworker" });
    if (PyStatus_Exception(st)) {
        pyw_dlog(PYW_LOG_CRIT, INTERP_LOG_INIT_FAILED, NULL,
                 "cannot set sys.argv: %s", st.err_msg ? st.err_msg : "?");
        goto fail;
    }
    if (spec->python_home && spec->python_home[0]) {
        if (interp_config_home(&cfg, spec->python_home) < 0) {
            goto fail;
        }
    }
    else if (interp_config_string(&cfg, &cfg.program_name,
                                  interp_program(spec, exe, sizeof(exe)))
             < 0) {
        goto fail;
    }
    st = Py_InitializeFromConfig(&cfg);
    if (PyStatus_Exception(st)) {
        pyw_dlog(PYW_LOG_CRIT, INTERP_LOG_INIT_FAILED, NULL,
                 "cannot initialize Python (python-home=%s): %s%s%s",
                 spec->python_home ? spec->python_home : "(none)",
                 st.func ? st.func : "", st.func ? ": " : "",
                 st.err_msg ? st.err_msg : "exit requested");
        goto fail;
    }
    PyConfig_Clear(&cfg);
    return 0;

fail:
    PyConfig_Clear(&cfg);
    return -1;
}

/* Prepend the ':'-separated python-path entries to sys.path, in order,
 * then let site process their .pth files (as site-packages are). */
static int interp_add_path(const char *python_path)
{
    PyObject *sys_path = PySys_GetObject("path");   /* borrowed */
    PyObject *add, *site;
    const char *p = python_path, *colon;
    Py_ssize_t i;
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

static void interp_log_started(void)
{
    PyObject *prefix = PySys_GetObject("prefix");       /* borrowed */
    const char *p = prefix && PyUnicode_Check(prefix)
                    ? PyUnicode_AsUTF8(prefix) : NULL;

    if (p == NULL) {
        PyErr_Clear();
    }
    pyw_dlog(PYW_LOG_INFO, INTERP_LOG_STARTED, NULL,
             "Python %s started, sys.prefix=%s", Py_GetVersion(),
             p ? p : "?");
}

/* PyWorkerImportScript, in order, each in its application group's
 * interpreter (created here when it is a named one).  GIL not held.
 * 0, or -1 logged. */
static int interp_import_scripts(const pyw_daemon_spec_t *spec)
{
    const char *group;
    pyw_interp_t *ip;
    int i, rv;

    for (i = 0; i < spec->n_import_scripts; i++) {
        group = i < spec->n_import_app_groups ? spec->import_app_groups[i]
                                              : "";
        ip = pyw_subinterp_enter(&interp_main_thread, group, strlen(group),
                                 NULL);
        if (ip == NULL) {
            return -1;
        }
        rv = pyw_script_import(ip, spec->import_scripts[i]);
        pyw_subinterp_leave();
        if (rv < 0) {
            return -1;          /* logged with its traceback */
        }
    }
    return 0;
}

int pyw_interp_start(const pyw_daemon_spec_t *spec)
{
    int rv;

    interp_threads = spec->threads > 0 ? spec->threads : 1;
    interp_processes = spec->processes > 0 ? spec->processes : 1;
    pyw_script_reloading(spec->script_reloading);
    pyw_response_set_header_limit(spec->header_buffer_size);
    if (interp_initialize(spec) < 0) {
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

/* The current interpreter's atexit callbacks, then its stdio flushed. */
static void interp_atexit(pyw_interp_t *ip)
{
    PyObject *atexit, *r = NULL;

    atexit = PyImport_ImportModule("atexit");
    if (atexit != NULL) {
        r = PyObject_CallMethod(atexit, "_run_exitfuncs", NULL);
        Py_DECREF(atexit);
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

int pyw_interp_dump_stacks(void)
{
    return pyw_stacks_dump();
}

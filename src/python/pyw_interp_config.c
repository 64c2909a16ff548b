/*
 * pyw_interp_config.c - which Python a daemon process starts, and how:
 * the group's Python executable, exec'd to run the daemon (pyw_hosted.c),
 * or else embedded with a PyConfig (program name, python-home, a
 * virtualenv checked first) and Py_InitializeFromConfig.
 *
 * The daemon has already set LANG/locale, dropped privileges and chdir'd;
 * Python starts with its own signal handlers off (the daemon's main thread
 * owns signals) and without parsing any argv.
 */
#include "pyw_python.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../daemon/pyw_dlog.h"
#include "pyw_hosted.h"
#include "pyw_interp_int.h"
#include "pyw_spec_fds.h"

/* Log codes of this file (README.md lists them all). */
#define INTERP_LOG_INIT_FAILED    300  /* Py_InitializeFromConfig failed   */
#define INTERP_LOG_BAD_VENV       305  /* crit: python-home is a venv this
                                          daemon cannot use (warn: of
                                          another installation)           */

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

/* A python-home that is no venv must hold this Python's standard
 * library (Python's own landmark: lib/pythonX.Y/os.py, or the zip), or
 * Python dies printing its search path. */
static int interp_check_prefix(const char *home)
{
    char path[4096];
    static const char *const landmarks[] = {
        "%s/lib/python%d.%d/os.py", "%s/lib/python%d.%d/os.pyc",
        "%s/lib/python%d%d.zip"
    };
    size_t i;

    for (i = 0; i < sizeof(landmarks) / sizeof(landmarks[0]); i++) {
        snprintf(path, sizeof(path), landmarks[i], home, PY_MAJOR_VERSION,
                 PY_MINOR_VERSION);
        if (access(path, R_OK) == 0) {
            return 0;
        }
    }
    pyw_dlog(PYW_LOG_CRIT, INTERP_LOG_INIT_FAILED, NULL, "python-home %s "
             "is neither a virtualenv nor a Python %d.%d installation: no "
             "lib/python%d.%d/os.py in it", home, PY_MAJOR_VERSION,
             PY_MINOR_VERSION, PY_MAJOR_VERSION, PY_MINOR_VERSION);
    return -1;
}

/*
 * python-home.  A virtual environment (pyvenv.cfg, bin/python3) is found
 * the way Python finds it for its own executable: the program is the
 * venv's interpreter and Python reads pyvenv.cfg, so sys.prefix is the
 * venv and the standard library comes from its base.  Any other
 * directory is a Python installation prefix (*is_prefix: PyConfig.home,
 * or PYTHONHOME for the hosted daemon), and its bin/pythonX.Y (when
 * there) the program, for sys.executable.  exe: the program or "".
 */
static int interp_home_program(const char *home, char *exe, size_t len,
                               int *is_prefix)
{
    char cfgfile[4096];

    *is_prefix = 0;
    exe[0] = '\0';
    if (access(home, R_OK | X_OK) != 0) {
        pyw_dlog(PYW_LOG_CRIT, INTERP_LOG_INIT_FAILED, NULL,
                 "python-home %s is not usable: %s", home, strerror(errno));
        return -1;
    }
    snprintf(cfgfile, sizeof(cfgfile), "%s/pyvenv.cfg", home);
    if (interp_check_venv(home, cfgfile) < 0) {
        return -1;
    }
    snprintf(exe, len, "%s/bin/python3", home);
    if (access(cfgfile, R_OK) == 0 && access(exe, X_OK) == 0) {
        return 0;
    }
    if (interp_check_prefix(home) < 0) {
        return -1;
    }
    snprintf(exe, len, "%s/bin/python%d.%d", home, PY_MAJOR_VERSION,
             PY_MINOR_VERSION);
    if (access(exe, X_OK) != 0) {
        exe[0] = '\0';
    }
    *is_prefix = 1;
    return 0;
}

static int interp_config_home(PyConfig *cfg, const char *home,
                              const char *exe, int is_prefix)
{
    if (exe[0] != '\0'
        && interp_config_string(cfg, &cfg->program_name, exe) < 0) {
        return -1;
    }
    return is_prefix ? interp_config_string(cfg, &cfg->home, home) : 0;
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

/* Started by the Python executable (pyw_hosted_entry.c): what the
 * PyConfig would set that its main did not, sys.argv. */
static int interp_hosted_started(void)
{
    PyObject *argv = Py_BuildValue("[s]", "mod_pyworker");

    if (argv == NULL || PySys_SetObject("argv", argv) < 0) {
        Py_XDECREF(argv);
        pyw_dlog(PYW_LOG_CRIT, INTERP_LOG_INIT_FAILED, NULL,
                 "cannot set sys.argv");
        PyErr_Clear();
        return -1;
    }
    Py_DECREF(argv);
    return 0;
}

/* The hosted daemon when it can be (pyw_hosted.c: this call does not
 * return then), else Python embedded here. */
int pyw_interp_initialize(const pyw_daemon_spec_t *spec)
{
    char exe[4096], home_exe[4096] = "";
    const char *home = spec->python_home && spec->python_home[0]
                       ? spec->python_home : NULL;
    int is_prefix = 0;
    PyConfig cfg;
    PyStatus st;

    if (Py_IsInitialized()) {
        return interp_hosted_started();
    }
    if (home != NULL && interp_home_program(home, home_exe,
                                            sizeof(home_exe),
                                            &is_prefix) < 0) {
        return -1;
    }
    if (spec->hosted_ext != NULL) {
        pyw_hosted_exec(spec->hosted_ext, home_exe[0] ? home_exe
                        : interp_program(spec, exe, sizeof(exe)),
                        is_prefix ? home : NULL);
        pyw_spec_fds_close();
    }
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
    if (home != NULL) {
        if (interp_config_home(&cfg, home, home_exe, is_prefix) < 0) {
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

/*
 * pyw_paste.c - PasteDeploy applications (PyWorkerPasteApp).
 *
 * One entry per (interpreter, ini file, application name), kept for the
 * life of the process in a short list that is read and changed with the
 * GIL held.
 * The first request for an entry loads it (or the daemon's start, when
 * preloaded: pyw_paste_preload), as `pserve` and Zope's `runwsgi` start
 * an application.  The daemon opens and reads the file
 * itself, once, as a WSGI script (pyw_script_read: a regular file of the
 * owner script-user= / script-group= require, checked on the descriptor
 * read, so a symlink swapped after Apache's check is refused), and gives
 * its text, never the path, to:
 *
 *   1. if it has a [loggers] section, logging.config.fileConfig(text,
 *      {"__file__": file, "here": its directory},
 *      disable_existing_loggers=False) - the [loggers], [handlers] and
 *      [formatters] sections, so an access log or event log configured
 *      there works (a console handler writing to sys.stderr lands in the
 *      error log at the record's level, see pyw_errors_record.c);
 *   2. PasteDeploy: what loadapp("config:" + file, name=name) does once it
 *      has opened the file (see paste_py).
 *
 * A failure - the file missing or of another owner, no section for the
 * name, a bad logging section, an import error - is ONE error line naming
 * the file, the application and the exception (PYW0313; the traceback
 * follows at debug), 500 for the request, and a new try on the next
 * request (the file may have been fixed).  A loaded file is watched like
 * a WSGI script (PyWorkerScriptReloading): its first change asks the
 * parent for a rolling restart of the group (PYW0333); files it includes
 * with "use = config:..." are not watched (nor checked for their owner:
 * PasteDeploy opens them).
 *
 * Lock order: as pyw_script.c - an entry's `lock` is taken with the GIL
 * released (the loading thread needs the GIL), then the GIL again;
 * nothing else is taken while holding it.
 */
#include "pyw_python.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/pyw_io.h"
#include "../daemon/pyw_daemon.h"
#include "../daemon/pyw_dlog.h"
#include "../daemon/pyw_status.h"
#include "pyw_paste.h"
#include "pyw_script.h"

/* Log codes of this file (README.md lists them all). */
#define PASTE_LOG_LOAD_FAILED   313     /* error: not loaded; 500       */
#define PASTE_LOG_CHANGED       333     /* notice: file changed: rolling
                                           restart asked for            */

/* What a failed load leaves: the next request tries again. */
#define PASTE_THEN_RETRY        "500 until it loads"

/* A loaded file is looked at no more often than this. */
#define PASTE_CHECK_INTERVAL_MS 1000

typedef struct paste_entry {
    struct paste_entry *next;
    PyInterpreterState *interp;     /* the app is this interpreter's    */
    pthread_mutex_t     lock;       /* held by the thread loading it    */
    PyObject           *app;        /* NULL until loaded successfully   */
    struct timespec     mtime;      /* the file it was loaded from      */
    dev_t               dev;
    ino_t               ino;
    int64_t             checked_ms; /* last look (pyw_io clock)         */
    int                 changed;    /* reported: look no more           */
    const char         *name;       /* in key, after the path's NUL     */
    char                path[];     /* "path\0name\0"                   */
} paste_entry_t;

/* Interpreters with a GIL of their own (own-gil=) look entries up at the
 * same time: the list is guarded by its own lock. */
static paste_entry_t *paste_list;
static pthread_mutex_t paste_list_lock = PTHREAD_MUTEX_INITIALIZER;

/* The calling thread's interpreter: each loads its own application. */
static PyInterpreterState *paste_interp(void)
{
#if PY_VERSION_HEX >= 0x03090000
    return PyInterpreterState_Get();
#else
    return PyThreadState_Get()->interp;
#endif
}

/* Find or create the entry for (interpreter, path, name); NULL with
 * MemoryError. */
static paste_entry_t *paste_entry(const char *path, const char *name)
{
    size_t plen = strlen(path), nlen = strlen(name);
    PyInterpreterState *interp = paste_interp();
    paste_entry_t *e;

    pthread_mutex_lock(&paste_list_lock);
    for (e = paste_list; e != NULL; e = e->next) {
        if (e->interp == interp && strcmp(e->path, path) == 0
            && strcmp(e->name, name) == 0) {
            pthread_mutex_unlock(&paste_list_lock);
            return e;
        }
    }
    if ((e = PyMem_RawCalloc(1, sizeof(*e) + plen + nlen + 2)) == NULL) {
        pthread_mutex_unlock(&paste_list_lock);
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(e->path, path, plen + 1);
    memcpy(e->path + plen + 1, name, nlen + 1);
    e->name = e->path + plen + 1;
    e->interp = interp;
    pthread_mutex_init(&e->lock, NULL);
    e->next = paste_list;
    paste_list = e;
    pthread_mutex_unlock(&paste_list_lock);
    return e;
}

/*
 * The Python half, run once per interpreter into a dict of its own.  It
 * gets the file's text, never opens the path: logging.config.fileConfig
 * takes a file object, and PasteDeploy's ConfigLoader is built as
 * ConfigLoader.__init__ builds it (PasteDeploy 3.0 and 3.1) but with
 * read_file() of the text instead of open(filename); then what
 * loadapp("config:" + file) does with it.  Files the text includes
 * ("use = config:other.ini") PasteDeploy opens itself, relative to
 * filename's directory.  No "config:" URI is made, so a '#' in a
 * directory name stays part of the path.
 */
static const char paste_py[] =
    "import io\n"
    "def _file(text, path):\n"
    "    f = io.StringIO(text)\n"
    "    f.name = path\n"
    "    return f\n"
    "def logging_config(text, defaults):\n"
    "    import configparser, logging.config\n"
    "    path = defaults['__file__']\n"
    "    cp = configparser.RawConfigParser(strict=False)\n"
    "    cp.read_string(text, path)\n"
    "    if cp.has_section('loggers'):\n"
    "        logging.config.fileConfig(_file(text, path), defaults,\n"
    "                                  disable_existing_loggers=False)\n"
    "def loadapp(text, name, defaults):\n"
    "    from paste.deploy import loadwsgi\n"
    "    path = defaults['__file__']\n"
    "    loader = loadwsgi.ConfigLoader.__new__(loadwsgi.ConfigLoader)\n"
    "    loader.filename = path\n"
    "    loader.parser = loadwsgi.NicerConfigParser(path,\n"
    "                                               defaults=defaults)\n"
    "    loader.parser.optionxform = str\n"
    "    loader.parser.read_file(_file(text, path), path)\n"
    "    return loader.get_context(loadwsgi.APP, name, None).create()\n";

#define PASTE_PY_KEY "mod_pyworker.paste"

/* paste_py's namespace in this interpreter, run on first use: new
 * reference, or NULL with an exception set.  Running it may let another
 * thread of the interpreter in, which may run it too: the first one
 * stored is kept. */
static PyObject *paste_helpers(void)
{
    PyObject *idict = PyInterpreterState_GetDict(paste_interp());
    PyObject *key, *ns, *r, *kept = NULL;

    if (idict == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "no interpreter state dict");
        return NULL;
    }
    if ((ns = PyDict_GetItemString(idict, PASTE_PY_KEY)) != NULL) {
        Py_INCREF(ns);
        return ns;
    }
    if ((ns = PyDict_New()) == NULL) {
        return NULL;
    }
    if (PyDict_SetItemString(ns, "__builtins__", PyEval_GetBuiltins()) == 0
        && (r = PyRun_String(paste_py, Py_file_input, ns, ns)) != NULL) {
        Py_DECREF(r);
        if ((key = PyUnicode_FromString(PASTE_PY_KEY)) != NULL) {
            kept = PyDict_SetDefault(idict, key, ns);
            Py_XINCREF(kept);
            Py_DECREF(key);
        }
    }
    Py_DECREF(ns);
    return kept;
}

/* The file's text, read from the descriptor pyw_script_read() checked
 * (regular file, size, script-user= owner); *st is its fstat.  New str
 * or NULL with an exception set (OSError, PermissionError,
 * UnicodeDecodeError). */
static PyObject *paste_read(const char *path, struct stat *st)
{
    PyObject *bytes = pyw_script_read(path, st), *text;

    if (bytes == NULL) {
        return NULL;
    }
    text = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(bytes),
                                PyBytes_GET_SIZE(bytes), NULL);
    Py_DECREF(bytes);
    return text;
}

/* The defaults paste gives the file: {"__file__": file, "here": dir},
 * the path as configured (as loadapp's, which does not resolve links). */
static PyObject *paste_defaults(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t dlen = slash == NULL ? 1 : slash == path ? 1
                  : (size_t)(slash - path);
    PyObject *here = slash ? PyUnicode_DecodeFSDefaultAndSize(path, dlen)
                           : PyUnicode_FromString(".");

    if (here == NULL) {
        return NULL;
    }
    return Py_BuildValue("{s:N,s:N}", "__file__",
                         PyUnicode_DecodeFSDefault(path), "here", here);
}

/* Step 1: the file's logging sections, if it has [loggers].  0 / -1
 * (exception set). */
static int paste_logging(PyObject *ns, PyObject *text, PyObject *defaults)
{
    PyObject *fn = PyDict_GetItemString(ns, "logging_config");
    PyObject *r = PyObject_CallFunctionObjArgs(fn, text, defaults, NULL);

    Py_XDECREF(r);
    return r ? 0 : -1;
}

/* Step 2: the application `name` of the text.  New reference or NULL. */
static PyObject *paste_loadapp(PyObject *ns, PyObject *text,
                               const char *name, PyObject *defaults)
{
    PyObject *fn = PyDict_GetItemString(ns, "loadapp");
    PyObject *n = PyUnicode_DecodeFSDefault(name), *app;

    if (n == NULL) {
        return NULL;
    }
    app = PyObject_CallFunctionObjArgs(fn, text, n, defaults, NULL);
    Py_DECREF(n);
    return app;
}

/* "Type: message" of the current exception, which stays set. */
static void paste_exc_summary(char *buf, size_t len)
{
    PyObject *type, *value, *tb, *s;
    const char *msg = NULL;

    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    s = value ? PyObject_Str(value) : NULL;
    msg = s ? PyUnicode_AsUTF8(s) : NULL;
    snprintf(buf, len, "%s%s%s",
             type ? ((PyTypeObject *)type)->tp_name : "?",
             msg && *msg ? ": " : "", msg ? msg : "");
    Py_XDECREF(s);
    PyErr_Clear();
    PyErr_Restore(type, value, tb);
}

/*
 * Load e: read the file once (its stat for reloading), logging, the
 * application.  0, or -1 logged as one error line ending in `then`,
 * what happens next (the traceback at debug), with no exception left
 * set.
 */
static int paste_load(paste_entry_t *e, const char *uri, const char *then)
{
    const char *step = "reading it";
    PyObject *text, *defaults = NULL, *ns = NULL;
    char what[2048];
    struct stat st;

    if ((text = paste_read(e->path, &st)) != NULL
        && (defaults = paste_defaults(e->path)) != NULL
        && (ns = paste_helpers()) != NULL) {
        step = "applying its [loggers]/[handlers]/[formatters] sections";
        if (paste_logging(ns, text, defaults) == 0) {
            step = "loading the application";
            e->app = paste_loadapp(ns, text, e->name, defaults);
        }
    }
    Py_XDECREF(ns);
    Py_XDECREF(defaults);
    Py_XDECREF(text);
    if (e->app != NULL) {
        e->mtime = st.st_mtim;
        e->dev = st.st_dev;
        e->ino = st.st_ino;
        e->checked_ms = pyw_io_now_ms();
        return 0;
    }
    paste_exc_summary(what, sizeof(what));
    pyw_dlog(PYW_LOG_ERR, PASTE_LOG_LOAD_FAILED, uri, "PasteDeploy "
             "application '%s' of %s: %s failed: %s; %s (traceback at "
             "LogLevel pyworker:debug)", e->name, e->path, step, what,
             then);
    pyw_script_log_exception(PYW_LOG_DEBUG, PASTE_LOG_LOAD_FAILED, uri,
                             "traceback of the PasteDeploy failure above");
    return -1;
}

/* PyWorkerScriptReloading for a loaded file: as pyw_script_reload.c, the
 * first change is logged and becomes one rolling restart request; this process
 * serves what it loaded until it is replaced. */
static void paste_check_changed(paste_entry_t *e, const char *uri,
                                int reloading)
{
    int64_t now = pyw_io_now_ms();

    if (reloading == 0 || e->changed
        || now - e->checked_ms < PASTE_CHECK_INTERVAL_MS) {
        return;
    }
    e->checked_ms = now;        /* before the GIL goes: one look a second */
    if (!pyw_script_file_changed(e->path, &e->mtime, e->dev, e->ino)) {
        return;
    }
    e->changed = 1;
    pyw_dlog(PYW_LOG_NOTICE, PASTE_LOG_CHANGED, uri, "PasteDeploy file %s "
             "changed on disk: asking for a rolling restart of the group; "
             "this process serves the application it loaded until it is "
             "replaced", e->path);
    pyw_status_send(PYW_STATUS_ROLLING);
}

/* The entry's name as C bytes: Apache's bytes, which the environ holds
 * decoded latin-1.  New bytes object or NULL. */
static PyObject *paste_name_bytes(PyObject *name)
{
    if (!PyUnicode_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "mod_pyworker.paste_app is not a "
                        "str");
        return NULL;
    }
    return PyUnicode_AsLatin1String(name);
}

PyObject *pyw_paste_application(const char *path, PyObject *name,
                                const char *uri, int reloading)
{
    PyObject *bytes = paste_name_bytes(name);
    paste_entry_t *e = bytes ? paste_entry(path, PyBytes_AS_STRING(bytes))
                             : NULL;
    int rv = 0;

    Py_XDECREF(bytes);
    if (e == NULL) {
        pyw_script_log_exception(PYW_LOG_ERR, PASTE_LOG_LOAD_FAILED, uri,
                                 "PasteDeploy application of %s", path);
        return NULL;
    }
    if (e->app != NULL) {
        paste_check_changed(e, uri, reloading);     /* may drop the GIL */
        Py_INCREF(e->app);
        return e->app;
    }
    if (pthread_mutex_trylock(&e->lock) != 0) {
        /* Another thread is loading it: wait without the GIL, which that
         * thread needs. */
        Py_BEGIN_ALLOW_THREADS
        pthread_mutex_lock(&e->lock);
        Py_END_ALLOW_THREADS
    }
    if (e->app == NULL) {
        rv = paste_load(e, uri, PASTE_THEN_RETRY);
    }
    pthread_mutex_unlock(&e->lock);
    if (rv < 0) {
        return NULL;
    }
    Py_INCREF(e->app);
    return e->app;
}

int pyw_paste_preload(const char *path, const char *name, int replacing)
{
    paste_entry_t *e = paste_entry(path, name);

    if (e == NULL) {
        pyw_script_log_exception(PYW_LOG_ERR, PASTE_LOG_LOAD_FAILED, NULL,
                                 "PasteDeploy application of %s", path);
        return -1;
    }
    /* At start: no worker thread exists yet to load it meanwhile. */
    return e->app != NULL ? 0
           : paste_load(e, NULL, replacing ? PYW_PRELOAD_NO_START
                                           : PASTE_THEN_RETRY);
}

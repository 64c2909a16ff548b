/*
 * pyw_script.c - load each WSGI script file once per interpreter.
 *
 * Registry: one linked list of entries per interpreter (its
 * pyw_interp_t.scripts), one entry per script path, that lives as long
 * as the process.  It is read and changed only with that interpreter's
 * GIL held.  The list stays short (one entry per script file), and a
 * lookup is a hash compare plus memcmp, without allocating.
 *
 * Lock order: an entry's `lock` is taken with the GIL RELEASED (the
 * thread that is loading needs the GIL to run the script), then the GIL
 * is taken again.  Nothing else is ever taken while holding `lock`.
 */
#include "pyw_python.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/pyw_io.h"
#include "../daemon/pyw_daemon.h"
#include "../daemon/pyw_dlog.h"
#include "../daemon/pyw_status.h"
#include "pyw_interp_private.h"
#include "pyw_refuse.h"
#include "pyw_script.h"

/* Log codes of this file (README.md lists them all). */
#define SCRIPT_LOG_IMPORT_FAILED   310  /* import script failed       */
#define SCRIPT_LOG_LOAD_FAILED     311  /* request: script failed     */
#define SCRIPT_LOG_NO_APPLICATION  312  /* no callable `application`  */
#define SCRIPT_LOG_CHANGED         333  /* notice: file changed: rolling
                                           restart asked for          */

/* Script reloading looks at a file at most this often. */
#define SCRIPT_CHECK_INTERVAL_MS   1000

/* A script larger than this is refused: it is source, not data. */
#define SCRIPT_MAX_SIZE  (64 * 1024 * 1024)

typedef struct pyw_script_entry {
    struct pyw_script_entry *next;
    uint64_t             hash;      /* FNV-1a of path                   */
    size_t               len;
    pthread_mutex_t      lock;      /* held by the thread loading it    */
    PyObject            *module;    /* NULL until loaded successfully   */
    /* The file the module was loaded from, for script reloading. */
    struct timespec      mtime;
    dev_t                dev;
    ino_t                ino;
    int64_t              checked_ms;    /* last look (pyw_io clock)     */
    int                  changed;       /* reported: look no more       */
    char                 path[];    /* NUL-terminated                   */
} script_entry_t;

static int script_reloading_on;             /* set once at start       */

static uint64_t script_hash(const char *s, size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    size_t i;

    for (i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* Find or create ip's entry for path (GIL held: the list is GIL-owned). */
static script_entry_t *script_entry(pyw_interp_t *ip, const char *path)
{
    size_t len = strlen(path);
    uint64_t h = script_hash(path, len);
    script_entry_t *e;

    for (e = ip->scripts; e != NULL; e = e->next) {
        if (e->hash == h && e->len == len && memcmp(e->path, path, len) == 0) {
            return e;
        }
    }
    if ((e = PyMem_RawCalloc(1, sizeof(*e) + len + 1)) == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(e->path, path, len + 1);
    e->len = len;
    e->hash = h;
    pthread_mutex_init(&e->lock, NULL);
    e->next = ip->scripts;
    ip->scripts = e;
    return e;
}

void pyw_script_reloading(int on)
{
    script_reloading_on = on;
}

/* Open path for reading: fd and its stat, or -errno. */
static int script_open(const char *path, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC), err;

    if (fd < 0) {
        return -errno;
    }
    if (fstat(fd, st) < 0) {
        err = -errno;
    }
    else if (!S_ISREG(st->st_mode)) {
        err = -EISDIR;
    }
    else if (st->st_size > SCRIPT_MAX_SIZE) {
        err = -EFBIG;
    }
    else {
        return fd;
    }
    close(fd);
    return err;
}

/* Read up to len bytes; bytes read or -errno. */
static ssize_t script_read_fd(int fd, char *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);

        if (n == 0) {
            break;
        }
        if (n < 0 && errno != EINTR) {
            return -errno;
        }
        got += n > 0 ? (size_t)n : 0;
    }
    return (ssize_t)got;
}

/* The whole file as a new bytes object (and its stat in *st), or NULL
 * with OSError set.  The GIL is released around the system calls; buf is
 * private until returned. */
static PyObject *script_read(const char *path, struct stat *st)
{
    PyObject *buf = NULL;
    off_t size = 0;
    ssize_t got;
    int fd;

    Py_BEGIN_ALLOW_THREADS
    fd = script_open(path, st);
    Py_END_ALLOW_THREADS
    size = fd >= 0 ? st->st_size : 0;
    if (fd >= 0 && (buf = PyBytes_FromStringAndSize(NULL, size)) == NULL) {
        close(fd);
        return NULL;
    }
    got = fd;
    if (fd >= 0) {
        Py_BEGIN_ALLOW_THREADS
        got = script_read_fd(fd, PyBytes_AS_STRING(buf), (size_t)size);
        close(fd);
        Py_END_ALLOW_THREADS
    }
    if (got < 0) {
        Py_XDECREF(buf);
        errno = (int)-got;
        return PyErr_SetFromErrnoWithFilename(PyExc_OSError, path);
    }
    /* A file that shrank while being read: use what is there. */
    if (got < size && _PyBytes_Resize(&buf, got) < 0) {
        return NULL;
    }
    return buf;
}

/* compile(source, filename, 'exec') and run it in module's namespace. */
static int script_exec(PyObject *module, PyObject *source, PyObject *file)
{
    PyObject *dict = PyModule_GetDict(module);
    PyObject *compile, *code, *res;

    if (PyDict_SetItemString(dict, "__file__", file) < 0
        || PyDict_SetItemString(dict, "__builtins__",
                                PyEval_GetBuiltins()) < 0) {
        return -1;
    }
    compile = PyDict_GetItemString(PyEval_GetBuiltins(), "compile");
    if (compile == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "builtins.compile is missing");
        return -1;
    }
    code = PyObject_CallFunction(compile, "OOsiO", source, file, "exec", 0,
                                 Py_True);
    if (code == NULL) {
        return -1;
    }
    res = PyEval_EvalCode(code, dict, dict);
    Py_DECREF(code);
    Py_XDECREF(res);
    return res ? 0 : -1;
}

/* Create, register and run the module for e.  0, or -1 with an exception
 * set and nothing left in sys.modules. */
static int script_load(script_entry_t *e)
{
    PyObject *modules = PyImport_GetModuleDict();
    PyObject *name, *file, *source, *module;
    struct stat st;
    char modname[32];
    int rv = -1;

    if ((source = script_read(e->path, &st)) == NULL) {
        return -1;
    }
    e->mtime = st.st_mtim;
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    e->checked_ms = pyw_io_now_ms();

    snprintf(modname, sizeof(modname), "_pyworker_%016llx",
             (unsigned long long)e->hash);
    name = PyUnicode_FromString(modname);
    file = PyUnicode_DecodeFSDefault(e->path);
    module = name ? PyModule_NewObject(name) : NULL;
    /* Registered before it runs, as the import system does, so the script
     * can find itself (pickle, dataclasses, typing look it up). */
    if (module && file && PyDict_SetItem(modules, name, module) == 0) {
        if (script_exec(module, source, file) == 0) {
            e->module = module;
            Py_INCREF(module);
            rv = 0;
        }
        else if (PyDict_GetItemWithError(modules, name) == module) {
            PyObject *et, *ev, *etb;

            PyErr_Fetch(&et, &ev, &etb);
            if (PyDict_DelItem(modules, name) < 0) {
                PyErr_Clear();
            }
            PyErr_Restore(et, ev, etb);
        }
    }
    Py_XDECREF(module);
    Py_XDECREF(file);
    Py_XDECREF(name);
    Py_DECREF(source);
    return rv;
}

int pyw_script_file_changed(const char *path, const struct timespec *mtime,
                            dev_t dev, ino_t ino)
{
    struct stat st;
    int rv;

    Py_BEGIN_ALLOW_THREADS
    rv = stat(path, &st);
    Py_END_ALLOW_THREADS
    return rv == 0 && (st.st_mtim.tv_sec != mtime->tv_sec
                       || st.st_mtim.tv_nsec != mtime->tv_nsec
                       || st.st_dev != dev || st.st_ino != ino);
}

/*
 * Script reloading, GIL held: has e's file changed since it was loaded?
 * The first change is logged and turned into one rolling restart request;
 * this process goes on with the code it has (replacements load the new
 * file, so every process of the group changes over without a gap).
 */
static void script_check_changed(script_entry_t *e, const char *uri,
                                 int reloading)
{
    int64_t now = pyw_io_now_ms();

    if (reloading < 0) {
        reloading = script_reloading_on;
    }
    if (!reloading || e->changed || e->module == NULL
        || now - e->checked_ms < SCRIPT_CHECK_INTERVAL_MS) {
        return;
    }
    e->checked_ms = now;        /* before the GIL goes: one look a second */
    if (!pyw_script_file_changed(e->path, &e->mtime, e->dev, e->ino)) {
        return;
    }
    e->changed = 1;
    pyw_dlog(PYW_LOG_NOTICE, SCRIPT_LOG_CHANGED, uri,
             "WSGI script %s changed on disk: asking for a rolling restart "
             "of the group; this process serves the code it loaded until "
             "it is replaced", e->path);
    pyw_status_send(PYW_STATUS_ROLLING);
}

/* Loaded module of path, loading it under the entry's lock if needed.
 * Borrowed reference (entries live forever), or NULL with an exception
 * set; *fresh says whether this call ran the script. */
static PyObject *script_module(pyw_interp_t *ip, const char *path,
                               const char *uri, int reloading, int *fresh)
{
    script_entry_t *e = script_entry(ip, path);
    int rv;

    *fresh = 0;
    if (e == NULL) {
        return NULL;
    }
    if (e->module != NULL && uri != NULL) {
        script_check_changed(e, uri, reloading);    /* may drop the GIL */
    }
    if (e->module != NULL) {
        return e->module;
    }
    if (pthread_mutex_trylock(&e->lock) != 0) {
        /* Another thread is loading it: wait without the GIL, which that
         * thread needs to run the script. */
        Py_BEGIN_ALLOW_THREADS
        pthread_mutex_lock(&e->lock);
        Py_END_ALLOW_THREADS
    }
    rv = 0;
    if (e->module == NULL) {
        rv = script_load(e);
        *fresh = 1;
    }
    pthread_mutex_unlock(&e->lock);
    return rv == 0 ? e->module : NULL;
}

int pyw_script_import(pyw_interp_t *ip, const char *path)
{
    int fresh;

    if (script_module(ip, path, NULL, 0, &fresh) != NULL) {
        return 0;
    }
    pyw_script_log_exception(PYW_LOG_ERR, SCRIPT_LOG_IMPORT_FAILED, NULL,
                             "failed to load import script %s", path);
    return -1;
}

/* Forget a freshly loaded script that turned out unusable, so the next
 * request runs it again (the file may have been fixed). */
static void script_forget(pyw_interp_t *ip, const char *path,
                          PyObject *module)
{
    script_entry_t *e = script_entry(ip, path);
    PyObject *modules = PyImport_GetModuleDict();
    PyObject *name = PyModule_GetNameObject(module);

    if (name != NULL) {
        if (PyDict_GetItemWithError(modules, name) == module
            && PyDict_DelItem(modules, name) < 0) {
            PyErr_Clear();
        }
        Py_DECREF(name);
    }
    PyErr_Clear();
    if (e != NULL && e->module == module) {
        e->module = NULL;
        Py_DECREF(module);
    }
}

PyObject *pyw_script_application(pyw_interp_t *ip, const char *path,
                                 const char *uri, int reloading,
                                 PyObject *callable_name)
{
    PyObject *module, *app, *name = callable_name;
    const char *cname;
    int fresh;

    module = script_module(ip, path, uri ? uri : "-", reloading, &fresh);
    if (module == NULL) {
        pyw_script_log_exception(PYW_LOG_ERR, SCRIPT_LOG_LOAD_FAILED, uri,
                                 "failed to load WSGI script %s", path);
        return NULL;
    }
    Py_INCREF(module);          /* script_forget may drop the entry's */
    if (name != NULL && PyUnicode_Check(name)) {
        app = PyObject_GetAttr(module, name);
    }
    else {                      /* Apache always sends the name */
        name = NULL;
        app = PyObject_GetAttrString(module, "application");
    }
    if (app != NULL && !PyCallable_Check(app)) {
        Py_CLEAR(app);
        PyErr_Format(PyExc_TypeError, "'%s' is not callable",
                     name ? PyUnicode_AsUTF8(name) : "application");
    }
    if (app == NULL) {
        cname = name ? PyUnicode_AsUTF8(name) : "application";
        pyw_script_log_exception(PYW_LOG_ERR, SCRIPT_LOG_NO_APPLICATION, uri,
                                 "WSGI script %s has no callable '%s'", path,
                                 cname ? cname : "?");
        if (fresh) {
            script_forget(ip, path, module);
        }
    }
    Py_DECREF(module);
    return app;
}

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

/*
 * pyw_script.c - load each WSGI script file once per interpreter: the
 * registry of loaded scripts, the wait for a script another thread is
 * loading, and the `application` callable a request runs.  Reading and
 * running the file: pyw_script_load.c; reloading: pyw_script_reload.c.
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

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "../daemon/pyw_dlog.h"
#include "pyw_interp_private.h"
#include "pyw_script.h"
#include "pyw_script_int.h"

/* Log codes of this file (README.md lists them all). */
#define SCRIPT_LOG_IMPORT_FAILED   310  /* import script failed       */
#define SCRIPT_LOG_LOAD_FAILED     311  /* request: script failed     */
#define SCRIPT_LOG_NO_APPLICATION  312  /* no callable `application`  */

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
        pyw_script_check_changed(e, uri, reloading); /* may drop the GIL */
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
        rv = pyw_script_load(e);
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

int pyw_script_preload(pyw_interp_t *ip, const char *path, int replacing)
{
    int fresh;

    if (script_module(ip, path, NULL, 0, &fresh) != NULL) {
        return 0;
    }
    pyw_script_log_exception(PYW_LOG_ERR, SCRIPT_LOG_LOAD_FAILED, NULL,
                             "preloading %s failed; %s", path, replacing
                             ? PYW_PRELOAD_NO_START : "its requests load "
                               "it again");
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

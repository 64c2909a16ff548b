/*
 * pyw_subinterp.c - one interpreter per application group.
 *
 * The main interpreter (%{GLOBAL}, index 0) exists from start; a named
 * group's sub-interpreter is created the first time a request (or a
 * PyWorkerImportScript) names it, and lives as long as the process.
 * With own-gil= listing it (Python 3.12+, PEP 684) it gets a GIL of its
 * own; otherwise it shares the main one.  Each thread has one
 * PyThreadState per interpreter it has run in, made on its first visit
 * and kept (threading.local, contextvars and extension TLS last as long
 * as the thread).
 *
 * Registry and locking:
 *   - subinterp_table[0..n-1] with n = subinterp_count: appended under
 *     subinterp_lock, never removed; an entry's name and index are set
 *     before n is raised (release), so readers find entries without the
 *     lock (acquire).
 *   - An entry's `state` goes CREATING -> READY or FAILED once, under the
 *     lock, with a broadcast on subinterp_cond.  READY (acquire) means
 *     its interpreter, types and caches are all set.
 *   - Creating one holds subinterp_create_lock (taken without any GIL:
 *     two new groups are made one after the other, as CPython's own
 *     tests do, never interleaved) and then the main GIL, which Python
 *     code still hands around, so requests of the existing groups go on.
 *     Threads that want the same new group wait on subinterp_cond
 *     without any GIL, and never create it twice.
 *   - Lock order: subinterp_create_lock, then a GIL.  subinterp_lock is
 *     never held while taking either, and never taken while holding a
 *     GIL (no caller of enter() holds one).
 *
 * Each new interpreter also gets its stack thread (pyw_stacks.c).
 */
#include "pyw_python.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/pyw_io.h"
#include "../daemon/pyw_dlog.h"
#include "pyw_interp_private.h"
#include "pyw_script.h"
#include "pyw_stacks.h"

/* Log codes of this file (README.md lists them all). */
#define SUBINTERP_LOG_THREAD_FAILED 303  /* crit: PyThreadState_New     */
#define SUBINTERP_LOG_FAILED        314  /* error: group unavailable    */
#define SUBINTERP_LOG_CREATED       315  /* info: interpreter created   */

enum { SUBINTERP_CREATING, SUBINTERP_READY, SUBINTERP_FAILED };

typedef struct {
    pyw_interp_t interp;
    int          state;             /* SUBINTERP_*: lock; read acquire */
    char         name[];            /* NUL-terminated copy             */
} subinterp_t;

static pyw_interp_t *subinterp_table[PYW_INTERP_MAX + 1] = {
    &pyw_interp_main
};
static int subinterp_count = 1;     /* lock to raise; read acquire     */
static pthread_mutex_t subinterp_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t subinterp_cond = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t subinterp_create_lock = PTHREAD_MUTEX_INITIALIZER;
static const pyw_daemon_spec_t *subinterp_spec;     /* set at start */

static int subinterp_n(void)
{
    return __atomic_load_n(&subinterp_count, __ATOMIC_ACQUIRE);
}

static subinterp_t *subinterp_of(pyw_interp_t *ip)
{
    return (subinterp_t *)((char *)ip - offsetof(subinterp_t, interp));
}

static int subinterp_state(pyw_interp_t *ip)
{
    return __atomic_load_n(&subinterp_of(ip)->state, __ATOMIC_ACQUIRE);
}

/* ---- own-gil= ---- */

/* 1 if own-gil= lists name (or is "*"). */
static int subinterp_wants_own_gil(const char *name, size_t len)
{
#if PY_VERSION_HEX >= 0x030C0000
    const char *p = subinterp_spec ? subinterp_spec->own_gil : NULL;
    size_t n;

    for (; p != NULL && *p != '\0'; p += n + (p[n] == ',')) {
        n = strcspn(p, ",");
        if ((n == 1 && p[0] == '*') || (n == len && memcmp(p, name, n) == 0)) {
            return 1;
        }
    }
#else
    (void)name;
    (void)len;
#endif
    return 0;
}

/* ---- creating one ---- */

/* A new interpreter with its thread state for the calling thread, made
 * current: the main GIL is held on entry; on return the new
 * interpreter's (shared or own).  NULL with *why, the main thread state
 * current again. */
static PyThreadState *subinterp_new(int own_gil, const char **why)
{
    PyThreadState *ts = NULL;

#if PY_VERSION_HEX >= 0x030C0000
    if (own_gil) {
        /* PEP 684's isolated interpreter, but subprocess (exec) and
         * daemon threads allowed: the process never ends an
         * interpreter, so neither can outlive it. */
        PyInterpreterConfig cfg = {
            .use_main_obmalloc = 0,
            .allow_fork = 0,
            .allow_exec = 1,
            .allow_threads = 1,
            .allow_daemon_threads = 1,
            .check_multi_interp_extensions = 1,
            .gil = PyInterpreterConfig_OWN_GIL,
        };
        PyStatus st = Py_NewInterpreterFromConfig(&ts, &cfg);

        if (PyStatus_Exception(st)) {
            *why = st.err_msg ? st.err_msg : "Py_NewInterpreterFromConfig "
                                             "failed";
            return NULL;
        }
        return ts;
    }
#endif
    if ((ts = Py_NewInterpreter()) == NULL) {
        *why = "Py_NewInterpreter() failed";
    }
    return ts;
}

/* Create ip's interpreter on thread t and set it up (no GIL held on
 * entry or return).  0, or -1 logged. */
static int subinterp_create(pyw_app_thread_t *t, pyw_interp_t *ip,
                            const char *uri)
{
    int64_t started = pyw_io_now_ms();
    const char *why = NULL;
    PyThreadState *ts;
    int rv;

    PyEval_RestoreThread(t->ts[0]);
    if ((ts = subinterp_new(ip->own_gil, &why)) == NULL) {
        PyErr_Clear();
        PyEval_SaveThread();
        pyw_dlog(PYW_LOG_ERR, SUBINTERP_LOG_FAILED, uri, "application group "
                 "'%s': cannot create its interpreter%s: %s", ip->name,
                 ip->own_gil ? " with its own GIL" : "", why);
        return -1;
    }
    ip->istate = PyThreadState_GetInterpreter(ts);
    t->ts[ip->index] = ts;
    rv = pyw_interp_setup(ip, subinterp_spec);          /* logs failure */
    PyEval_SaveThread();
    if (rv == 0) {
        pyw_stacks_add(ip);
        pyw_dlog(PYW_LOG_INFO, SUBINTERP_LOG_CREATED, uri, "application "
                 "group '%s': interpreter %d created in %lld ms (%s GIL)",
                 ip->name, ip->index,
                 (long long)(pyw_io_now_ms() - started),
                 ip->own_gil ? "its own" : "the main");
    }
    return rv;
}

/* A published entry named name/len (any state), or NULL. */
static pyw_interp_t *subinterp_find(const char *name, size_t len)
{
    int i, n = subinterp_n();

    for (i = 1; i < n; i++) {
        pyw_interp_t *ip = subinterp_table[i];

        if (ip->name_len == len && memcmp(ip->name, name, len) == 0) {
            return ip;
        }
    }
    return NULL;
}

/* A new CREATING entry, published; lock held.  NULL: table full or out
 * of memory. */
static pyw_interp_t *subinterp_add(const char *name, size_t len)
{
    subinterp_t *e;

    if (subinterp_count > PYW_INTERP_MAX
        || (e = calloc(1, sizeof(*e) + len + 1)) == NULL) {
        return NULL;
    }
    memcpy(e->name, name, len);
    e->interp.name = e->name;
    e->interp.name_len = len;
    e->interp.index = subinterp_count;
    e->interp.own_gil = subinterp_wants_own_gil(name, len);
    e->state = SUBINTERP_CREATING;
    subinterp_table[subinterp_count] = &e->interp;
    __atomic_store_n(&subinterp_count, subinterp_count + 1,
                     __ATOMIC_RELEASE);
    return &e->interp;
}

/*
 * The entry of group name/len once its creation is over: this thread
 * creates it when nobody has, else waits (no GIL) for the thread that
 * does.  NULL when the table is full.
 */
static pyw_interp_t *subinterp_get(pyw_app_thread_t *t, const char *name,
                                   size_t len, const char *uri)
{
    pyw_interp_t *ip;
    int rv;

    pthread_mutex_lock(&subinterp_lock);
    while ((ip = subinterp_find(name, len)) != NULL
           && subinterp_of(ip)->state == SUBINTERP_CREATING) {
        pthread_cond_wait(&subinterp_cond, &subinterp_lock);
    }
    if (ip != NULL || (ip = subinterp_add(name, len)) == NULL) {
        pthread_mutex_unlock(&subinterp_lock);
        return ip;
    }
    pthread_mutex_unlock(&subinterp_lock);

    pthread_mutex_lock(&subinterp_create_lock);
    rv = subinterp_create(t, ip, uri);
    pthread_mutex_unlock(&subinterp_create_lock);

    pthread_mutex_lock(&subinterp_lock);
    __atomic_store_n(&subinterp_of(ip)->state,
                     rv == 0 ? SUBINTERP_READY : SUBINTERP_FAILED,
                     __ATOMIC_RELEASE);
    pthread_cond_broadcast(&subinterp_cond);
    pthread_mutex_unlock(&subinterp_lock);
    return ip;
}

/* ---- entering ---- */

/* Make t's state in ip current, creating it on t's first visit. */
static int subinterp_switch(pyw_app_thread_t *t, pyw_interp_t *ip,
                            const char *uri)
{
    PyThreadState *ts = t->ts[ip->index];

    if (ts == NULL) {
        /* No GIL needed (PyThreadState_New's contract); made on this
         * thread, so it is this thread's. */
        if ((ts = PyThreadState_New(ip->istate)) == NULL) {
            pyw_dlog(PYW_LOG_CRIT, SUBINTERP_LOG_THREAD_FAILED, uri,
                     "application group '%s': PyThreadState_New failed",
                     ip->name);
            return -1;
        }
        t->ts[ip->index] = ts;
    }
    PyEval_RestoreThread(ts);
    return 0;
}

pyw_interp_t *pyw_subinterp_enter(pyw_app_thread_t *t, const char *name,
                                  size_t len, const char *uri)
{
    pyw_interp_t *ip;

    if (len == 0) {
        PyEval_RestoreThread(t->ts[0]);
        return &pyw_interp_main;
    }
    ip = subinterp_find(name, len);
    if (ip == NULL || subinterp_state(ip) != SUBINTERP_READY) {
        ip = subinterp_get(t, name, len, uri);
    }
    if (ip == NULL) {
        pyw_dlog(PYW_LOG_ERR, SUBINTERP_LOG_FAILED, uri, "application group "
                 "'%.*s': this process has %d named application groups "
                 "already, the most it makes", (int)len, name,
                 PYW_INTERP_MAX);
        return NULL;
    }
    if (subinterp_state(ip) != SUBINTERP_READY) {
        pyw_dlog(PYW_LOG_ERR, SUBINTERP_LOG_FAILED, uri, "application group "
                 "'%s': its interpreter could not be created (logged when "
                 "it was tried); this process will not try again",
                 ip->name);
        return NULL;
    }
    return subinterp_switch(t, ip, uri) == 0 ? ip : NULL;
}

void pyw_subinterp_leave(void)
{
    PyEval_SaveThread();
}

const pyw_interp_t *pyw_subinterp_current(void)
{
    PyInterpreterState *is = PyInterpreterState_Get();
    int i, n = subinterp_n();

    for (i = 0; i < n; i++) {
        if (subinterp_table[i]->istate == is) {
            return subinterp_table[i];
        }
    }
    return NULL;
}

void pyw_subinterp_ping(pyw_app_thread_t *t)
{
    int i, n = subinterp_n();

    for (i = 1; i < n; i++) {
        pyw_interp_t *ip = subinterp_table[i];

        if (ip->own_gil && subinterp_state(ip) == SUBINTERP_READY
            && subinterp_switch(t, ip, NULL) == 0) {
            PyEval_SaveThread();
        }
    }
}

void pyw_subinterp_each(pyw_app_thread_t *t, void (*fn)(pyw_interp_t *))
{
    int i, n = subinterp_n();

    for (i = 1; i < n; i++) {
        pyw_interp_t *ip = subinterp_table[i];

        if (subinterp_state(ip) == SUBINTERP_READY
            && subinterp_switch(t, ip, NULL) == 0) {
            fn(ip);
            PyEval_SaveThread();
        }
    }
}

/* ---- start ---- */

void pyw_subinterp_init(const pyw_daemon_spec_t *spec)
{
    subinterp_spec = spec;
}

/*
 * pyw_metrics.c - Apache's own numbers about a daemon group (see
 * pyw_metrics.h).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <unistd.h>

#include "pyw_metrics.h"

#define M_LOAD(p)       __atomic_load_n((p), __ATOMIC_RELAXED)
#define M_STORE(p, v)   __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define M_ADD(p, v)     __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)
#define M_READ_TRIES    8

const int64_t pyw_metrics_bounds_us[PYW_METRICS_BOUNDS] = {
    5000, 10000, 25000, 50000, 100000, 250000, 500000,
    1000000, 2500000, 5000000, 10000000
};

const char *const pyw_metrics_bounds_text[PYW_METRICS_BOUNDS] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5",
    "1", "2.5", "5", "10"
};

const char *pyw_cause_name(int cause)
{
    static const char *const names[PYW_CAUSES] = {
        "crash", "startup_failure", "recycle", "rolling", "graceful"
    };

    return cause >= 0 && cause < PYW_CAUSES ? names[cause] : "other";
}

/* Room for every process a group may have, so that the mapping never
 * moves: Apache's children of an older generation count their last
 * requests into the mapping they inherited, which must stay the group's.
 * Pages no process record reaches are never touched, so never resident. */
static size_t metrics_size(int n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t len;

    if (n < PYW_METRICS_PROCS) {
        n = PYW_METRICS_PROCS;
    }
    len = offsetof(pyw_metrics_mem_t, proc)
          + (size_t)n * sizeof(pyw_metrics_proc_t);
    return (len + page - 1) / page * page;
}

pyw_metrics_t *pyw_metrics_create(int processes)
{
    pyw_metrics_t *m = malloc(sizeof(*m));
    size_t size = metrics_size(processes);
    void *p;

    if (m == NULL) {
        return NULL;
    }
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
             -1, 0);
    if (p == MAP_FAILED) {
        free(m);
        return NULL;
    }
    m->mem = p;
    m->size = size;
    m->nprocs = (int)((size - offsetof(pyw_metrics_mem_t, proc))
                      / sizeof(pyw_metrics_proc_t));
    return m;
}

void pyw_metrics_destroy(pyw_metrics_t *m)
{
    if (m != NULL) {
        munmap(m->mem, m->size);
        free(m);
    }
}

/* ---- Apache's children ---- */

static int metrics_bucket(int64_t us)
{
    int i;

    for (i = 0; i < PYW_METRICS_BOUNDS; i++) {
        if (us <= pyw_metrics_bounds_us[i]) {
            return i;
        }
    }
    return PYW_METRICS_BOUNDS;
}

void pyw_metrics_request(pyw_metrics_t *m, int status, int64_t us)
{
    int cls = status >= 100 && status < 600 ? status / 100 : 0;

    if (m == NULL) {
        return;
    }
    if (us < 0) {
        us = 0;
    }
    M_ADD(&m->mem->requests[cls], 1);
    M_ADD(&m->mem->buckets[metrics_bucket(us)], 1);
    M_ADD(&m->mem->duration_us, (uint64_t)us);
}

static void metrics_copy_text(char *dst, const char *src)
{
    size_t n = src ? strnlen(src, PYW_METRICS_TEXT - 1) : 0;

    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

void pyw_metrics_error(pyw_metrics_t *m, int status, int64_t now_ms,
                       const char *uri, const char *what)
{
    uint32_t seq;

    if (m == NULL) {
        return;
    }
    seq = __atomic_load_n(&m->mem->err_seq, __ATOMIC_RELAXED);
    /* Take the word from even to odd; a writer already in: skip. */
    if ((seq & 1) || !__atomic_compare_exchange_n(&m->mem->err_seq, &seq,
                                                  seq + 1, 0,
                                                  __ATOMIC_ACQUIRE,
                                                  __ATOMIC_RELAXED)) {
        return;
    }
    m->mem->err.status = status;
    m->mem->err.ms = now_ms;
    metrics_copy_text(m->mem->err.uri, uri);
    metrics_copy_text(m->mem->err.what, what);
    __atomic_store_n(&m->mem->err_seq, seq + 2, __ATOMIC_RELEASE);
}

/* ---- the parent ---- */

static pyw_metrics_proc_t *metrics_proc(pyw_metrics_t *m, int index)
{
    return m != NULL && index >= 0 && index < m->nprocs
           ? &m->mem->proc[index] : NULL;
}

void pyw_metrics_proc_start(pyw_metrics_t *m, int index, pid_t pid,
                            int64_t now_ms)
{
    pyw_metrics_proc_t *e = metrics_proc(m, index);

    if (e != NULL) {
        M_STORE(&e->ready, 0);
        M_STORE(&e->started_ms, now_ms);
        M_STORE(&e->pid, (int32_t)pid);
    }
}

void pyw_metrics_proc_ready(pyw_metrics_t *m, int index, pid_t pid)
{
    pyw_metrics_proc_t *e = metrics_proc(m, index);

    if (e != NULL && M_LOAD(&e->pid) == (int32_t)pid) {
        M_STORE(&e->ready, 1);
    }
}

void pyw_metrics_proc_gone(pyw_metrics_t *m, int index, pid_t pid)
{
    pyw_metrics_proc_t *e = metrics_proc(m, index);

    if (e != NULL && M_LOAD(&e->pid) == (int32_t)pid) {
        M_STORE(&e->ready, 0);
        M_STORE(&e->pid, 0);
    }
}

void pyw_metrics_restart(pyw_metrics_t *m, int index, pyw_cause_e cause,
                         const char *text)
{
    pyw_metrics_proc_t *e = metrics_proc(m, index);

    if (m == NULL || cause < 0 || cause >= PYW_CAUSES) {
        return;
    }
    M_ADD(&m->mem->restarts[cause], 1);
    if (e == NULL) {
        return;
    }
    M_ADD(&e->restarts, 1);
    __atomic_add_fetch(&e->seq, 1, __ATOMIC_ACQ_REL);      /* odd  */
    metrics_copy_text(e->last_cause, text);
    __atomic_add_fetch(&e->seq, 1, __ATOMIC_RELEASE);      /* even */
}

void pyw_metrics_proc_old(pyw_metrics_t *m, int index, pid_t pid,
                          int64_t started_ms)
{
    pyw_metrics_proc_t *e = metrics_proc(m, index);

    if (e != NULL) {
        M_STORE(&e->old_pid, 0);
        M_STORE(&e->old_draining, 0);
        M_STORE(&e->old_started_ms, started_ms);
        M_STORE(&e->old_stop_ms, (int64_t)0);
        M_STORE(&e->old_pid, (int32_t)pid);
    }
}

void pyw_metrics_proc_old_stops(pyw_metrics_t *m, int index, pid_t pid,
                                int64_t now_ms)
{
    pyw_metrics_proc_t *e = metrics_proc(m, index);

    /* Told once: a restart that notes it again keeps the first time. */
    if (e != NULL && M_LOAD(&e->old_pid) == (int32_t)pid
        && !M_LOAD(&e->old_draining)) {
        M_STORE(&e->old_stop_ms, now_ms);
        M_STORE(&e->old_draining, 1);
    }
}

void pyw_metrics_proc_old_gone(pyw_metrics_t *m, int index, pid_t pid)
{
    pyw_metrics_proc_t *e = metrics_proc(m, index);

    if (e != NULL && M_LOAD(&e->old_pid) == (int32_t)pid) {
        M_STORE(&e->old_pid, 0);
    }
}

/* ---- either side ---- */

void pyw_metrics_proc_error(pyw_metrics_t *m, int index, pid_t pid,
                            int code, int64_t now_ms, const char *text)
{
    pyw_metrics_proc_t *e = metrics_proc(m, index);
    uint32_t seq;

    if (e == NULL) {
        return;
    }
    seq = __atomic_load_n(&e->err_seq, __ATOMIC_RELAXED);
    if ((seq & 1) || !__atomic_compare_exchange_n(&e->err_seq, &seq,
                                                  seq + 1, 0,
                                                  __ATOMIC_ACQUIRE,
                                                  __ATOMIC_RELAXED)) {
        return;
    }
    e->err.code = code;
    e->err.pid = (int32_t)pid;
    e->err.ms = now_ms;
    metrics_copy_text(e->err.text, text);
    __atomic_store_n(&e->err_seq, seq + 2, __ATOMIC_RELEASE);
}

int pyw_metrics_find_proc(const pyw_metrics_t *m, pid_t pid)
{
    int i;

    for (i = 0; m != NULL && pid > 0 && i < m->nprocs; i++) {
        if (M_LOAD(&m->mem->proc[i].pid) == (int32_t)pid
            || M_LOAD(&m->mem->proc[i].old_pid) == (int32_t)pid) {
            return i;
        }
    }
    return -1;
}

/* ---- readers ---- */

/* Copy len bytes guarded by *seq; 0 if no stable copy could be had. */
static int metrics_read_text(const uint32_t *seq, char *dst,
                             const char *src, size_t len)
{
    uint32_t before;
    int i;

    for (i = 0; i < M_READ_TRIES; i++) {
        before = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
        if (before & 1) {
            continue;
        }
        memcpy(dst, src, len);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(seq, __ATOMIC_RELAXED) == before) {
            dst[len - 1] = '\0';
            return 1;
        }
    }
    dst[0] = '\0';
    return 0;
}

void pyw_metrics_read(const pyw_metrics_t *m, pyw_metrics_group_snap_t *s)
{
    const pyw_metrics_mem_t *g = m ? m->mem : NULL;
    int i;

    memset(s, 0, sizeof(*s));
    if (g == NULL) {
        return;
    }
    for (i = 0; i < PYW_METRICS_CLASSES; i++) {
        s->requests[i] = M_LOAD(&g->requests[i]);
    }
    for (i = 0; i < PYW_METRICS_BUCKETS; i++) {
        s->buckets[i] = M_LOAD(&g->buckets[i]);
    }
    s->duration_us = M_LOAD(&g->duration_us);
    for (i = 0; i < PYW_CAUSES; i++) {
        s->restarts[i] = M_LOAD(&g->restarts[i]);
    }
    /* the NUL the copy puts last ends err.what; err.uri gets its own */
    if (metrics_read_text(&g->err_seq, (char *)&s->err,
                          (const char *)&g->err, sizeof(s->err))) {
        s->err.uri[PYW_METRICS_TEXT - 1] = '\0';
    }
    else {
        memset(&s->err, 0, sizeof(s->err));
    }
}

int pyw_metrics_read_proc(const pyw_metrics_t *m, int index,
                          pyw_metrics_proc_snap_t *s)
{
    const pyw_metrics_proc_t *e;

    memset(s, 0, sizeof(*s));
    if (m == NULL || index < 0 || index >= m->nprocs) {
        return -1;
    }
    e = &m->mem->proc[index];
    s->pid = (pid_t)M_LOAD(&e->pid);
    s->ready = M_LOAD(&e->ready);
    s->started_ms = M_LOAD(&e->started_ms);
    s->restarts = M_LOAD(&e->restarts);
    metrics_read_text(&e->seq, s->last_cause, e->last_cause,
                      sizeof(s->last_cause));
    s->old_pid = (pid_t)M_LOAD(&e->old_pid);
    s->old_draining = M_LOAD(&e->old_draining);
    s->old_started_ms = M_LOAD(&e->old_started_ms);
    s->old_stop_ms = M_LOAD(&e->old_stop_ms);
    if (!metrics_read_text(&e->err_seq, (char *)&s->err,
                           (const char *)&e->err, sizeof(s->err))) {
        memset(&s->err, 0, sizeof(s->err));
    }
    return 0;
}

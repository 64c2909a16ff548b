/*
 * pyw_wboard.c - the worker board of a daemon group (see pyw_wboard.h).
 *
 * Layout: `processes` process entries, then processes x threads worker
 * entries, process-major; whole pages.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pyw_memfd.h"
#include "pyw_wboard.h"

#define W_LOAD(p)       __atomic_load_n((p), __ATOMIC_RELAXED)
#define W_STORE(p, v)   __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define W_READ_TRIES    8

static size_t wboard_size(int processes, int threads)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t len = (size_t)processes * sizeof(pyw_wboard_proc_t)
                 + (size_t)processes * (size_t)threads
                   * sizeof(pyw_wboard_worker_t);

    return (len + page - 1) / page * page;
}

int pyw_wboard_create(int processes, int threads)
{
    if (processes < 1 || threads < 1) {
        errno = EINVAL;
        return -1;
    }
    return pyw_memfd_sealed("pyworker-workers",
                            wboard_size(processes, threads));
}

pyw_wboard_t *pyw_wboard_map(int fd, int processes, int threads,
                             int writable)
{
    size_t need = wboard_size(processes, threads);
    int seals = fd >= 0 ? fcntl(fd, F_GET_SEALS) : -1;
    struct stat st;
    pyw_wboard_t *w;
    void *p;

    if (processes < 1 || threads < 1 || seals < 0
        || !(seals & F_SEAL_SHRINK) || fstat(fd, &st) < 0
        || (size_t)st.st_size < need) {
        errno = EINVAL;
        return NULL;
    }
    if ((w = malloc(sizeof(*w))) == NULL) {
        return NULL;
    }
    p = mmap(NULL, need, writable ? PROT_READ | PROT_WRITE : PROT_READ,
             MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        free(w);
        return NULL;
    }
    w->mem = p;
    w->size = need;
    w->processes = processes;
    w->threads = threads;
    w->pid = 0;
    return w;
}

void pyw_wboard_destroy(pyw_wboard_t *w)
{
    if (w != NULL) {
        munmap(w->mem, w->size);
        free(w);
    }
}

static pyw_wboard_proc_t *wboard_proc(const pyw_wboard_t *w, int index)
{
    return w != NULL && index >= 0 && index < w->processes
           ? (pyw_wboard_proc_t *)w->mem + index : NULL;
}

/* Our process's entry, unless a successor has taken it. */
static pyw_wboard_proc_t *wboard_mine(const pyw_wboard_t *w, int index)
{
    pyw_wboard_proc_t *p = wboard_proc(w, index);

    return p != NULL && w->pid != 0 && W_LOAD(&p->pid) == (int32_t)w->pid
           ? p : NULL;
}

static pyw_wboard_worker_t *wboard_worker(const pyw_wboard_t *w, int index,
                                          int thread)
{
    pyw_wboard_worker_t *first;

    if (wboard_proc(w, index) == NULL || thread < 0
        || thread >= w->threads) {
        return NULL;
    }
    first = (pyw_wboard_worker_t *)((pyw_wboard_proc_t *)w->mem
                                    + w->processes);
    return first + (size_t)index * (size_t)w->threads + (size_t)thread;
}

/* ---- the daemon ---- */

void pyw_wboard_join(pyw_wboard_t *w, int index, pid_t pid)
{
    pyw_wboard_proc_t *p = wboard_proc(w, index);
    pyw_wboard_worker_t *e;
    int t;

    if (p == NULL) {
        return;
    }
    for (t = 0; t < w->threads; t++) {
        e = wboard_worker(w, index, t);
        W_STORE(&e->busy, 0);
        W_STORE(&e->requests, 0);
    }
    W_STORE(&p->queued, 0);
    W_STORE(&p->pid, (int32_t)pid);
    w->pid = pid;
}

void pyw_wboard_queued(pyw_wboard_t *w, int index, int queued)
{
    pyw_wboard_proc_t *p = wboard_mine(w, index);

    if (p != NULL) {
        W_STORE(&p->queued, queued);
    }
}

void pyw_wboard_begin(pyw_wboard_t *w, int index, int thread,
                      int64_t now_ms, const char *uri)
{
    pyw_wboard_worker_t *e = wboard_worker(w, index, thread);
    size_t n;

    if (e == NULL || wboard_mine(w, index) == NULL) {
        return;
    }
    n = strnlen(uri, sizeof(e->uri) - 1);
    __atomic_add_fetch(&e->seq, 1, __ATOMIC_ACQ_REL);      /* odd  */
    memcpy(e->uri, uri, n);
    e->uri[n] = '\0';
    W_STORE(&e->since_ms, now_ms);
    __atomic_add_fetch(&e->seq, 1, __ATOMIC_RELEASE);      /* even */
    W_STORE(&e->busy, 1);
}

void pyw_wboard_end(pyw_wboard_t *w, int index, int thread)
{
    pyw_wboard_worker_t *e = wboard_worker(w, index, thread);

    if (e != NULL && wboard_mine(w, index) != NULL) {
        W_STORE(&e->busy, 0);
        W_STORE(&e->requests, W_LOAD(&e->requests) + 1);
    }
}

/* ---- readers: nothing here is trusted ---- */

int pyw_wboard_read_proc(const pyw_wboard_t *w, int index,
                         pyw_wboard_proc_snap_t *s)
{
    const pyw_wboard_proc_t *p = wboard_proc(w, index);
    int32_t q;

    memset(s, 0, sizeof(*s));
    if (p == NULL) {
        return -1;
    }
    s->pid = (pid_t)W_LOAD(&p->pid);
    q = W_LOAD(&p->queued);
    s->queued = q < 0 ? 0 : q > PYW_WBOARD_QUEUE_MAX ? PYW_WBOARD_QUEUE_MAX
                                                     : q;
    return 0;
}

/* Printable ASCII only, ended at the first NUL or the buffer's end. */
static void wboard_clean(char *s, size_t len)
{
    size_t i;

    s[len - 1] = '\0';
    for (i = 0; s[i] != '\0'; i++) {
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) {
            s[i] = '?';
        }
    }
}

static int wboard_read_uri(const pyw_wboard_worker_t *e,
                           pyw_wboard_worker_snap_t *s, int64_t *since)
{
    uint32_t before;
    int i;

    for (i = 0; i < W_READ_TRIES; i++) {
        before = __atomic_load_n(&e->seq, __ATOMIC_ACQUIRE);
        if (before & 1) {
            continue;
        }
        memcpy(s->uri, e->uri, sizeof(s->uri));
        *since = W_LOAD(&e->since_ms);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&e->seq, __ATOMIC_RELAXED) == before) {
            wboard_clean(s->uri, sizeof(s->uri));
            return 1;
        }
    }
    strcpy(s->uri, "?");
    return 0;
}

int pyw_wboard_read_worker(const pyw_wboard_t *w, int index, int thread,
                           int64_t now_ms, pyw_wboard_worker_snap_t *s)
{
    const pyw_wboard_worker_t *e = wboard_worker(w, index, thread);
    int64_t since = now_ms;

    memset(s, 0, sizeof(*s));
    if (e == NULL) {
        return -1;
    }
    s->requests = W_LOAD(&e->requests);
    s->busy = W_LOAD(&e->busy) != 0;
    if (s->busy) {
        wboard_read_uri(e, s, &since);
        s->busy_ms = since <= now_ms ? now_ms - since : 0;
    }
    return 0;
}

int pyw_wboard_find(const pyw_wboard_t *w, int slot, pid_t pid)
{
    const pyw_wboard_proc_t *p;
    int lane, e;

    for (lane = 0; pid > 0 && lane < PYW_WBOARD_LANES; lane++) {
        e = PYW_WBOARD_ENTRY(slot, lane);
        if ((p = wboard_proc(w, e)) != NULL
            && W_LOAD(&p->pid) == (int32_t)pid) {
            return e;
        }
    }
    return -1;
}

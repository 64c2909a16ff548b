/*
 * pyw_inflight.c - requests of a daemon group held by Apache's children
 * (see pyw_inflight.h).
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pyw_inflight.h"

#define I_LOAD(p)       __atomic_load_n((p), __ATOMIC_RELAXED)
#define I_STORE(p, v)   __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define I_ADD(p, v)     __atomic_add_fetch((p), (v), __ATOMIC_RELAXED)

pyw_inflight_t *pyw_inflight_create(int rows)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t size = (size_t)(rows > 0 ? rows : 1) * sizeof(pyw_inflight_row_t);
    pyw_inflight_t *t = malloc(sizeof(*t));
    void *p;

    if (t == NULL) {
        return NULL;
    }
    size = (size + page - 1) / page * page;
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
             -1, 0);
    if (p == MAP_FAILED) {
        free(t);
        return NULL;
    }
    t->rows = p;
    t->size = size;
    /* Not the whole page: every request reads every row. */
    t->nrows = rows > 0 ? rows : 1;
    return t;
}

void pyw_inflight_destroy(pyw_inflight_t *t)
{
    if (t != NULL) {
        munmap(t->rows, t->size);
        free(t);
    }
}

int pyw_inflight_rows(const pyw_inflight_t *t)
{
    return t != NULL ? t->nrows : 0;
}

int pyw_inflight_claim(pyw_inflight_t *t, pid_t pid)
{
    int32_t free_pid;
    int i;

    for (i = 0; t != NULL && i < t->nrows; i++) {
        free_pid = 0;
        if (__atomic_compare_exchange_n(&t->rows[i].pid, &free_pid,
                                        (int32_t)pid, 0, __ATOMIC_ACQ_REL,
                                        __ATOMIC_RELAXED)) {
            /* A row the parent freed may still be settling: start at 0. */
            I_STORE(&t->rows[i].count, 0);
            return i;
        }
    }
    return -1;
}

static void inflight_free(pyw_inflight_row_t *row)
{
    I_STORE(&row->count, 0);
    __atomic_store_n(&row->pid, 0, __ATOMIC_RELEASE);
}

void pyw_inflight_release(pyw_inflight_t *t, int row, pid_t pid)
{
    if (t != NULL && row >= 0 && row < t->nrows
        && I_LOAD(&t->rows[row].pid) == (int32_t)pid) {
        inflight_free(&t->rows[row]);
    }
}

/* Sequentially consistent: a request's own add is ordered before its
 * reads of the other rows, so of two racing requests at least one sees
 * the other (on x86 the locked add is that fence already). */
long pyw_inflight_total(const pyw_inflight_t *t)
{
    long total = 0;
    int32_t n;
    int i;

    for (i = 0; t != NULL && i < t->nrows; i++) {
        /* A row freed while its child still counted down can dip below
         * zero for a moment; it counts as none. */
        n = __atomic_load_n(&t->rows[i].count, __ATOMIC_SEQ_CST);
        total += n > 0 ? n : 0;
    }
    return total;
}

long pyw_inflight_enter(pyw_inflight_t *t, int row)
{
    if (t == NULL || row < 0 || row >= t->nrows) {
        return pyw_inflight_total(t) + 1;   /* seen, not counted */
    }
    __atomic_add_fetch(&t->rows[row].count, 1, __ATOMIC_SEQ_CST);
    return pyw_inflight_total(t);
}

void pyw_inflight_leave(pyw_inflight_t *t, int row)
{
    if (t != NULL && row >= 0 && row < t->nrows) {
        I_ADD(&t->rows[row].count, -1);
    }
}

int pyw_inflight_forget(pyw_inflight_t *t, pid_t pid)
{
    int i;

    for (i = 0; t != NULL && pid > 0 && i < t->nrows; i++) {
        if (__atomic_load_n(&t->rows[i].pid, __ATOMIC_ACQUIRE)
            == (int32_t)pid) {
            inflight_free(&t->rows[i]);
            return 1;
        }
    }
    return 0;
}

int pyw_inflight_sweep(pyw_inflight_t *t, int (*alive)(pid_t pid))
{
    int32_t pid;
    int i, freed = 0;

    for (i = 0; t != NULL && i < t->nrows; i++) {
        pid = __atomic_load_n(&t->rows[i].pid, __ATOMIC_ACQUIRE);
        if (pid != 0 && !alive((pid_t)pid)) {
            inflight_free(&t->rows[i]);
            freed++;
        }
    }
    return freed;
}

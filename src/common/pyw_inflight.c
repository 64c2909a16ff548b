/*
 * pyw_inflight.c - requests of a daemon group held by Apache's children
 * (see pyw_inflight.h).
 *
 * The mapping is a header (the group's total) and then the rows.  A
 * request adds to its child's row and to the total; the rows are there
 * so that the total can be mended when a child dies holding requests.
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pyw_inflight.h"

#define I_LOAD(p)       __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define I_ADD(p, v)     __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)

struct pyw_inflight_mem {
    int32_t             total;  /* the sum of the rows' counts          */
    int32_t             pad;
    pyw_inflight_row_t  rows[];
};

pyw_inflight_t *pyw_inflight_create(int rows)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t size;
    pyw_inflight_t *t = malloc(sizeof(*t));
    void *p;

    rows = rows > 0 ? rows : 1;
    size = sizeof(struct pyw_inflight_mem)
           + (size_t)rows * sizeof(pyw_inflight_row_t);
    size = (size + page - 1) / page * page;
    if (t == NULL) {
        return NULL;
    }
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
             -1, 0);
    if (p == MAP_FAILED) {
        free(t);
        return NULL;
    }
    t->mem = p;
    t->size = size;
    t->nrows = rows;
    return t;
}

void pyw_inflight_destroy(pyw_inflight_t *t)
{
    if (t != NULL) {
        munmap(t->mem, t->size);
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
        if (__atomic_compare_exchange_n(&t->mem->rows[i].pid, &free_pid,
                                        (int32_t)pid, 0, __ATOMIC_SEQ_CST,
                                        __ATOMIC_RELAXED)) {
            return i;
        }
    }
    return -1;
}

/* Take what the row still holds out of the total, then free it. */
static void inflight_free(pyw_inflight_t *t, pyw_inflight_row_t *row)
{
    int32_t held = __atomic_exchange_n(&row->count, 0, __ATOMIC_SEQ_CST);

    if (held != 0) {
        I_ADD(&t->mem->total, -held);
    }
    __atomic_store_n(&row->pid, 0, __ATOMIC_SEQ_CST);
}

void pyw_inflight_release(pyw_inflight_t *t, int row, pid_t pid)
{
    if (t != NULL && row >= 0 && row < t->nrows
        && I_LOAD(&t->mem->rows[row].pid) == (int32_t)pid) {
        inflight_free(t, &t->mem->rows[row]);
    }
}

long pyw_inflight_total(const pyw_inflight_t *t)
{
    int32_t n = t != NULL ? I_LOAD(&t->mem->total) : 0;

    return n > 0 ? n : 0;
}

long pyw_inflight_enter(pyw_inflight_t *t, int row)
{
    if (t == NULL || row < 0 || row >= t->nrows) {
        return pyw_inflight_total(t) + 1;   /* seen, not counted */
    }
    I_ADD(&t->mem->rows[row].count, 1);
    return I_ADD(&t->mem->total, 1);
}

void pyw_inflight_leave(pyw_inflight_t *t, int row)
{
    if (t != NULL && row >= 0 && row < t->nrows) {
        I_ADD(&t->mem->total, -1);
        I_ADD(&t->mem->rows[row].count, -1);
    }
}

int pyw_inflight_forget(pyw_inflight_t *t, pid_t pid)
{
    int i;

    for (i = 0; t != NULL && pid > 0 && i < t->nrows; i++) {
        if (I_LOAD(&t->mem->rows[i].pid) == (int32_t)pid) {
            inflight_free(t, &t->mem->rows[i]);
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
        pid = I_LOAD(&t->mem->rows[i].pid);
        if (pid != 0 && !alive((pid_t)pid)) {
            inflight_free(t, &t->mem->rows[i]);
            freed++;
        }
    }
    return freed;
}

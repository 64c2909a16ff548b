/*
 * pyw_board.c - the load board of a daemon group (see pyw_board.h).
 */
#include <errno.h>
#include <stddef.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pyw_board.h"

#define BOARD_LOAD(p)      __atomic_load_n((p), __ATOMIC_RELAXED)
#define BOARD_STORE(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELAXED)

pyw_board_t *pyw_board_create(int *fd)
{
    pyw_board_t *b;
    int saved;

    *fd = memfd_create("pyworker-board", MFD_CLOEXEC);
    if (*fd < 0) {
        return NULL;
    }
    if (ftruncate(*fd, sizeof(pyw_board_t)) < 0
        || (b = pyw_board_map(*fd)) == NULL) {
        saved = errno;
        close(*fd);
        *fd = -1;
        errno = saved;
        return NULL;
    }
    return b;                   /* a new file reads as zeros: all empty */
}

pyw_board_t *pyw_board_map(int fd)
{
    void *p = mmap(NULL, sizeof(pyw_board_t), PROT_READ | PROT_WRITE,
                   MAP_SHARED, fd, 0);

    return p == MAP_FAILED ? NULL : p;
}

void pyw_board_destroy(pyw_board_t *b)
{
    if (b != NULL) {
        munmap(b, sizeof(*b));
    }
}

static pyw_board_entry_t *board_entry(pyw_board_t *b, int index)
{
    return b != NULL && index >= 0 && index < PYW_BOARD_SLOTS
           ? &b->slot[index] : NULL;
}

void pyw_board_join(pyw_board_t *b, int index, pid_t pid, int threads)
{
    pyw_board_entry_t *e = board_entry(b, index);

    if (e == NULL) {
        return;
    }
    BOARD_STORE(&e->threads, 0);    /* no reader sees room mid-update */
    BOARD_STORE(&e->busy, 0);
    BOARD_STORE(&e->fresh, 0);
    BOARD_STORE(&e->pid, (int32_t)pid);
    BOARD_STORE(&e->threads, threads);
}

void pyw_board_leave(pyw_board_t *b, int index, pid_t pid)
{
    pyw_board_entry_t *e = board_entry(b, index);
    int32_t mine = (int32_t)pid;

    if (e != NULL && BOARD_LOAD(&e->pid) == mine) {
        BOARD_STORE(&e->threads, 0);
        /* Only if still ours: a successor may have joined meanwhile. */
        __atomic_compare_exchange_n(&e->pid, &mine, 0, 0, __ATOMIC_RELAXED,
                                    __ATOMIC_RELAXED);
    }
}

void pyw_board_set_busy(pyw_board_t *b, int index, pid_t pid, int busy)
{
    pyw_board_entry_t *e = board_entry(b, index);

    if (e != NULL && BOARD_LOAD(&e->pid) == (int32_t)pid) {
        BOARD_STORE(&e->busy, busy);
    }
}

void pyw_board_set_fresh(pyw_board_t *b, int index, pid_t pid, int fresh)
{
    pyw_board_entry_t *e = board_entry(b, index);

    if (e != NULL && BOARD_LOAD(&e->pid) == (int32_t)pid) {
        BOARD_STORE(&e->fresh, fresh);
    }
}

int pyw_board_other_has_room(const pyw_board_t *b, int index, int n)
{
    int i;

    if (b == NULL) {
        return 0;
    }
    if (n > PYW_BOARD_SLOTS) {
        n = PYW_BOARD_SLOTS;
    }
    for (i = 0; i < n; i++) {
        const pyw_board_entry_t *e = &b->slot[i];
        int32_t threads = BOARD_LOAD(&e->threads);

        if (i != index && threads > 0 && BOARD_LOAD(&e->pid) != 0
            && BOARD_LOAD(&e->busy) + BOARD_LOAD(&e->fresh) < threads) {
            return 1;
        }
    }
    return 0;
}

/*
 * pyw_board_wake.c - the board's wake word (see pyw_board_wake.h).
 *
 * The word and the sleeper count are sequentially consistent: a daemon
 * changes its busy count, then the word, then reads the sleepers; a
 * waiter counts itself in, then reads the word, then the busy counts.
 * Either the daemon sees the sleeper and wakes it, or the waiter sees
 * the new word (or the free worker) and does not sleep.  The futexes
 * are shared ones (no FUTEX_PRIVATE_FLAG): the board is one memfd
 * mapped by processes of different users.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "pyw_board_wake.h"

#ifndef FUTEX_32
#define FUTEX_32 2              /* FUTEX2_SIZE_U32 in newer headers */
#endif

void pyw_board_freed(pyw_board_t *b)
{
    pyw_board_wake_t *w;

    if (b == NULL) {
        return;
    }
    w = &b->mem->wake;
    __atomic_add_fetch(&w->seq, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&w->sleepers, __ATOMIC_SEQ_CST) != 0) {
        (void)syscall(SYS_futex, &w->seq, FUTEX_WAKE, INT_MAX, NULL, NULL,
                      0);
    }
}

void pyw_board_sleepers(pyw_board_t *b, int delta)
{
    if (b != NULL) {
        __atomic_add_fetch(&b->mem->wake.sleepers, (uint32_t)delta,
                           __ATOMIC_SEQ_CST);
    }
}

uint32_t pyw_board_wake_word(const pyw_board_t *b)
{
    return b ? __atomic_load_n(&b->mem->wake.seq, __ATOMIC_SEQ_CST) : 0;
}

int pyw_board_wait_any(pyw_board_t *const *b, const uint32_t *seen, int n,
                       long timeout_us)
{
#ifdef SYS_futex_waitv
    struct futex_waitv w[PYW_BOARD_WAIT_MAX];
    struct timespec until;
    int i, k = 0;
    long rv;

    for (i = 0; i < n && k < PYW_BOARD_WAIT_MAX; i++) {
        if (b[i] != NULL) {
            w[k].val = seen[i];
            w[k].uaddr = (uintptr_t)&b[i]->mem->wake.seq;
            w[k].flags = FUTEX_32;
            w[k].__reserved = 0;
            k++;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_us / 1000000;
    until.tv_nsec += (timeout_us % 1000000) * 1000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    if (k == 0) {
        return clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL)
               == 0 ? 1 : 0;
    }
    rv = syscall(SYS_futex_waitv, w, k, 0, &until, CLOCK_MONOTONIC);
    if (rv >= 0 || errno == EAGAIN || errno == EINTR) {
        return 0;
    }
    return errno == ETIMEDOUT ? 1 : -1;
#else
    (void)b; (void)seen; (void)n; (void)timeout_us;
    errno = ENOSYS;
    return -1;
#endif
}

/*
 * pyw_ticket.c - the shared first come, first served line (see
 * pyw_ticket.h).
 *
 * `serving` only moves by compare-and-swap from the ticket it leaves, so
 * of the holder leaving, a waiter skipping a dead holder and a leaver
 * racing the turn to its own ticket, exactly one moves it.  A leaver
 * that is not yet served writes its note and then reads `serving`; the
 * turn moves `serving` and then takes the note (both sequentially
 * consistent): one of them sees the other, and the compare-and-swap on
 * the note decides who gives the turn on.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "pyw_ticket.h"

#define T_LOAD(p)        __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define T_STORE(p, v)    __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define T_CAS(p, e, v)   __atomic_compare_exchange_n((p), (e), (v), 0, \
                             __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)
#define T_SLOT(t)        ((t) % PYW_TICKET_RING)

/* A turn nobody took for this long is skipped: its waiter is gone. */
#define TICKET_UNTAKEN_MS 2000

static int64_t ticket_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

pyw_ticket_line_t *pyw_ticket_lines_create(void)
{
    void *p = mmap(NULL, PYW_TICKET_LINES * sizeof(pyw_ticket_line_t),
                   PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

    return p == MAP_FAILED ? NULL : p;
}

void pyw_ticket_lines_destroy(pyw_ticket_line_t *lines)
{
    if (lines != NULL) {
        munmap(lines, PYW_TICKET_LINES * sizeof(pyw_ticket_line_t));
    }
}

pyw_ticket_line_t *pyw_ticket_line_of(pyw_ticket_line_t *lines,
                                      uint64_t key)
{
    uint64_t seen;
    int i;

    for (i = 0; lines != NULL && key != 0 && i < PYW_TICKET_LINES; i++) {
        seen = T_LOAD(&lines[i].key);
        if (seen == 0 && T_CAS(&lines[i].key, &seen, key)) {
            T_STORE(&lines[i].since_ms, ticket_now_ms());
            return &lines[i];
        }
        if (seen == key) {      /* ours, or another took it for us */
            return &lines[i];
        }
    }
    return NULL;
}

uint32_t pyw_ticket_take(pyw_ticket_line_t *l)
{
    return __atomic_fetch_add(&l->next, 1, __ATOMIC_SEQ_CST);
}

int pyw_ticket_busy(const pyw_ticket_line_t *l)
{
    return T_LOAD(&l->next) != T_LOAD(&l->serving);
}

uint32_t pyw_ticket_waiting(const pyw_ticket_line_t *l)
{
    uint32_t serving = T_LOAD(&l->serving);

    return T_LOAD(&l->next) - serving;
}

static void ticket_wake(pyw_ticket_line_t *l, uint32_t t)
{
    __atomic_add_fetch(&l->turn[T_SLOT(t)], 1, __ATOMIC_SEQ_CST);
    (void)syscall(SYS_futex, &l->turn[T_SLOT(t)], FUTEX_WAKE, INT_MAX,
                  NULL, NULL, 0);
}

/* Move the turn on from s (if it is still there), past those who left. */
static void ticket_pass(pyw_ticket_line_t *l, uint32_t s)
{
    uint32_t note;

    for (;;) {
        if (!T_CAS(&l->serving, &s, s + 1)) {
            return;             /* moved by another */
        }
        s++;
        T_STORE(&l->holder, 0);
        T_STORE(&l->since_ms, ticket_now_ms());
        note = s + 1;
        if (!T_CAS(&l->gone[T_SLOT(s)], &note, 0)) {
            break;              /* s still waits: its turn */
        }
    }
    ticket_wake(l, s);
}

/* The turn of s, whose holder died or never came: skip it. */
static void ticket_unstick(pyw_ticket_line_t *l, uint32_t s)
{
    pid_t holder = T_LOAD(&l->holder);

    if (T_LOAD(&l->serving) != s) {
        return;
    }
    if (holder != 0 ? kill(holder, 0) != 0 && errno == ESRCH
                    : T_LOAD(&l->since_ms) != 0
                      && ticket_now_ms() - T_LOAD(&l->since_ms)
                         > TICKET_UNTAKEN_MS) {
        ticket_pass(l, s);
    }
}

int pyw_ticket_mine(pyw_ticket_line_t *l, uint32_t t)
{
    if (T_LOAD(&l->serving) != t) {
        return 0;
    }
    /* Again on every look: a pass that cleared the holder just after we
     * wrote it must not make us look gone. */
    T_STORE(&l->holder, (int32_t)getpid());
    return 1;
}

int pyw_ticket_wait(pyw_ticket_line_t *l, uint32_t t, long max_us)
{
    uint32_t word = T_LOAD(&l->turn[T_SLOT(t)]);
    struct timespec ts;

    if (pyw_ticket_mine(l, t)) {
        return 1;
    }
    ticket_unstick(l, T_LOAD(&l->serving));
    ts.tv_sec = max_us / 1000000;
    ts.tv_nsec = (max_us % 1000000) * 1000;
    (void)syscall(SYS_futex, &l->turn[T_SLOT(t)], FUTEX_WAIT, word, &ts,
                  NULL, 0);
    return pyw_ticket_mine(l, t);
}

void pyw_ticket_leave(pyw_ticket_line_t *l, uint32_t t)
{
    uint32_t note = t + 1;

    if (T_LOAD(&l->serving) == t) {
        ticket_pass(l, t);
        return;
    }
    T_STORE(&l->gone[T_SLOT(t)], t + 1);
    if (T_LOAD(&l->serving) == t && T_CAS(&l->gone[T_SLOT(t)], &note, 0)) {
        ticket_pass(l, t);      /* the turn came as we left */
    }
}

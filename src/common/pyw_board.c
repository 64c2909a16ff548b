/*
 * pyw_board.c - the load board of a daemon group (see pyw_board.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pyw_board.h"
#include "pyw_board_wake.h"
#include "pyw_memfd.h"

#define BOARD_LOAD(p)      __atomic_load_n((p), __ATOMIC_RELAXED)
#define BOARD_STORE(p, v)  __atomic_store_n((p), (v), __ATOMIC_RELAXED)

/* Bytes for the news and n entries, in whole pages. */
static size_t board_size(int n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t len = offsetof(pyw_board_mem_t, slot)
                 + (size_t)(n > 0 ? n : 0) * sizeof(pyw_board_entry_t);

    return (len + page - 1) / page * page;
}

static pyw_board_t *board_map(int fd, size_t size)
{
    pyw_board_t *b;
    void *p;

    if (size < offsetof(pyw_board_mem_t, slot)) {
        errno = EINVAL;
        return NULL;
    }
    if ((b = malloc(sizeof(*b))) == NULL) {
        return NULL;
    }
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        free(b);
        return NULL;
    }
    b->mem = p;
    b->size = size;
    b->nslots = (int)((size - offsetof(pyw_board_mem_t, slot))
                      / sizeof(pyw_board_entry_t));
    return b;
}

pyw_board_t *pyw_board_create(int *fd, int processes)
{
    size_t size = board_size(processes);
    pyw_board_t *b = NULL;
    int saved;

    if ((*fd = pyw_memfd_sealed("pyworker-board", size)) < 0) {
        return NULL;
    }
    if ((b = board_map(*fd, size)) == NULL) {
        saved = errno;
        close(*fd);
        *fd = -1;
        errno = saved;
        return NULL;
    }
    return b;                   /* a new file reads as zeros: all empty */
}

/* Only a board the parent made: sealed, so its size stays what fstat()
 * says for as long as it is mapped. */
pyw_board_t *pyw_board_map(int fd)
{
    struct stat st;
    int seals = fcntl(fd, F_GET_SEALS);

    if (seals < 0 || !(seals & F_SEAL_SHRINK) || fstat(fd, &st) < 0) {
        if (seals >= 0) {
            errno = EPERM;
        }
        return NULL;
    }
    return board_map(fd, (size_t)st.st_size);
}

void pyw_board_destroy(pyw_board_t *b)
{
    if (b != NULL) {
        munmap(b->mem, b->size);
        free(b);
    }
}

int pyw_board_slots(const pyw_board_t *b)
{
    return b != NULL ? b->nslots : 0;
}

static pyw_board_entry_t *board_entry(pyw_board_t *b, int index)
{
    return b != NULL && index >= 0 && index < b->nslots
           ? &b->mem->slot[index] : NULL;
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
    pyw_board_freed(b);
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

    if (e != NULL && BOARD_LOAD(&e->pid) == (int32_t)pid
        && __atomic_exchange_n(&e->busy, busy, __ATOMIC_SEQ_CST) > busy) {
        pyw_board_freed(b);
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
    if (n > b->nslots) {
        n = b->nslots;
    }
    for (i = 0; i < n; i++) {
        const pyw_board_entry_t *e = &b->mem->slot[i];
        int32_t threads = BOARD_LOAD(&e->threads);

        if (i != index && threads > 0 && BOARD_LOAD(&e->pid) != 0
            && BOARD_LOAD(&e->busy) + BOARD_LOAD(&e->fresh) < threads) {
            return 1;
        }
    }
    return 0;
}

static int board_entry_room(const pyw_board_entry_t *e, pid_t pid)
{
    int32_t threads = BOARD_LOAD(&e->threads);

    if (BOARD_LOAD(&e->pid) != (int32_t)pid || threads <= 0) {
        return PYW_BOARD_NO_ROOM;
    }
    return threads - BOARD_LOAD(&e->busy) - BOARD_LOAD(&e->fresh);
}

int pyw_board_room(const pyw_board_t *b, int n, pid_t pid, int *index)
{
    int i, room;

    if (b == NULL || pid <= 0) {
        return PYW_BOARD_NO_ROOM;
    }
    n = n < b->nslots ? n : b->nslots;
    if (*index >= 0 && *index < n) {
        room = board_entry_room(&b->mem->slot[*index], pid);
        if (room != PYW_BOARD_NO_ROOM) {
            return room;
        }
    }
    for (i = 0; i < n; i++) {
        room = board_entry_room(&b->mem->slot[i], pid);
        if (room != PYW_BOARD_NO_ROOM) {
            *index = i;
            return room;
        }
    }
    return PYW_BOARD_NO_ROOM;
}

/* ---- start-up news (one writer: the parent) ---- */

void pyw_board_note_starting(pyw_board_t *b, int64_t now_ms)
{
    if (b != NULL) {
        BOARD_STORE(&b->mem->news.starting_ms, now_ms);
    }
}

int pyw_board_starting(const pyw_board_t *b)
{
    const pyw_board_news_t *n = b ? &b->mem->news : NULL;
    int64_t ready, failed;

    if (n == NULL) {
        return 0;
    }
    ready = BOARD_LOAD(&n->ready_ms);
    failed = BOARD_LOAD(&n->failed_ms);
    return ready >= failed && BOARD_LOAD(&n->starting_ms) > ready;
}

/* Failed starts in a row before connections stop waiting for the next:
 * one may be bad luck (a full process table), two are a broken site. */
#define PYW_BOARD_FAILING_STREAK 2

int pyw_board_failing(const pyw_board_t *b, int64_t now_ms)
{
    const pyw_board_news_t *n = b ? &b->mem->news : NULL;
    int64_t failed, attempt;

    if (n == NULL
        || BOARD_LOAD(&n->failed_streak) < PYW_BOARD_FAILING_STREAK) {
        return 0;
    }
    failed = BOARD_LOAD(&n->failed_ms);
    attempt = BOARD_LOAD(&n->starting_ms);
    return failed > BOARD_LOAD(&n->ready_ms)
           && !(attempt > failed && attempt <= now_ms);
}

void pyw_board_note_ready(pyw_board_t *b, int64_t now_ms)
{
    if (b != NULL) {
        BOARD_STORE(&b->mem->news.failed_streak, 0);
        BOARD_STORE(&b->mem->news.ready_ms, now_ms);
    }
}

void pyw_board_note_failure(pyw_board_t *b, int64_t now_ms,
                            const char *cause)
{
    pyw_board_news_t *n = b ? &b->mem->news : NULL;
    size_t len;

    if (n == NULL) {
        return;
    }
    __atomic_add_fetch(&n->failed_seq, 1, __ATOMIC_ACQ_REL);   /* odd */
    len = strnlen(cause, sizeof(n->failed_cause) - 1);
    memcpy(n->failed_cause, cause, len);
    n->failed_cause[len] = '\0';
    BOARD_STORE(&n->failed_streak, BOARD_LOAD(&n->failed_streak) + 1);
    BOARD_STORE(&n->failed_ms, now_ms);
    __atomic_add_fetch(&n->failed_seq, 1, __ATOMIC_RELEASE);   /* even */
}

static int board_claim_live(int64_t taken, int64_t now_ms)
{
    return taken != 0 && now_ms - taken < PYW_BOARD_CLAIM_TTL_MS;
}

int pyw_board_claims(const pyw_board_t *b, int64_t now_ms)
{
    int i, n = 0;

    for (i = 0; b != NULL && i < PYW_BOARD_CLAIMS; i++) {
        n += board_claim_live(BOARD_LOAD(&b->mem->claim_ms[i]), now_ms);
    }
    return n;
}

#define CLAIM_SLOT_BITS 5
#define CLAIM_TAG(ms)   ((uint16_t)((uint64_t)(ms) & 0x7ff))

uint16_t pyw_board_claim(pyw_board_t *b, int64_t now_ms)
{
    int64_t seen;
    int i;

    /* 0 means free: a clock at 0 ms would look like no claim. */
    now_ms = now_ms > 0 ? now_ms : 1;
    for (i = 0; b != NULL && i < PYW_BOARD_CLAIMS; i++) {
        seen = BOARD_LOAD(&b->mem->claim_ms[i]);
        if (!board_claim_live(seen, now_ms)
            && __atomic_compare_exchange_n(&b->mem->claim_ms[i], &seen,
                                           now_ms, 0, __ATOMIC_RELAXED,
                                           __ATOMIC_RELAXED)) {
            return (uint16_t)(CLAIM_TAG(now_ms) << CLAIM_SLOT_BITS | (i + 1));
        }
    }
    return 0;
}

void pyw_board_unclaim(pyw_board_t *b, uint16_t id)
{
    int slot = (id & ((1 << CLAIM_SLOT_BITS) - 1)) - 1;
    int64_t seen;

    if (b == NULL || slot < 0 || slot >= PYW_BOARD_CLAIMS) {
        return;
    }
    seen = BOARD_LOAD(&b->mem->claim_ms[slot]);
    if (seen != 0 && CLAIM_TAG(seen) == id >> CLAIM_SLOT_BITS) {
        if (__atomic_compare_exchange_n(&b->mem->claim_ms[slot], &seen, 0,
                                        0, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED)) {
            pyw_board_freed(b);     /* the worker counts as free again */
        }
    }
}

void pyw_board_copy_news(pyw_board_t *to, const pyw_board_t *from)
{
    if (to != NULL && from != NULL) {
        memcpy(&to->mem->news, &from->mem->news, sizeof(to->mem->news));
    }
}

int pyw_board_last_failure(const pyw_board_t *b, int64_t now_ms,
                           char *cause, size_t len, int64_t *age_ms)
{
    const pyw_board_news_t *n = b ? &b->mem->news : NULL;
    uint32_t seq;
    int64_t failed;

    if (n == NULL || len == 0) {
        return 0;
    }
    seq = __atomic_load_n(&n->failed_seq, __ATOMIC_ACQUIRE);
    failed = BOARD_LOAD(&n->failed_ms);
    if ((seq & 1) || failed == 0 || BOARD_LOAD(&n->ready_ms) > failed) {
        return 0;
    }
    snprintf(cause, len, "%.*s", (int)sizeof(n->failed_cause),
             n->failed_cause);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    if (__atomic_load_n(&n->failed_seq, __ATOMIC_ACQUIRE) != seq) {
        return 0;               /* rewritten meanwhile: say nothing */
    }
    *age_ms = now_ms - failed;
    return 1;
}

/* Sum over the serving processes: threads, and requests queued or
 * running.  Read without locks: a snapshot that may be a moment old. */
void pyw_board_load(const pyw_board_t *b, int n, pyw_board_load_t *load)
{
    const pyw_board_entry_t *e;
    int i;

    load->processes = load->threads = load->busy = load->free = 0;
    if (b == NULL) {
        return;
    }
    n = n < b->nslots ? n : b->nslots;
    for (i = 0; i < n; i++) {
        int threads, busy;

        e = &b->mem->slot[i];
        if (BOARD_LOAD(&e->pid) == 0
            || (threads = BOARD_LOAD(&e->threads)) <= 0) {
            continue;       /* nobody there, or draining */
        }
        busy = BOARD_LOAD(&e->busy);
        load->processes++;
        load->threads += threads;
        load->busy += busy > 0 ? busy : 0;
        load->free += threads > busy ? threads - busy : 0;
    }
}

/*
 * pyw_board.h - the load board of a daemon group: one shared page set
 * where each process of the group says how many workers it has and how
 * many are taken, so a saturated daemon can tell whether handing a
 * request back to the group would find a free worker (pyw_poller.c).
 *
 * The parent creates it (a memfd, mapped shared) with the group's
 * listening socket and keeps it as long as the socket, across graceful
 * restarts; each daemon maps the memfd it is given across exec.  Entries
 * are indexed by process index.  Every field is written with relaxed
 * atomics: the board is a hint for balancing, never a lock, and a stale
 * value only costs one reconnect or one queued request.
 *
 * Size: one 4 KiB page holds the news, the claims, the wake-up word and
 * 233 entries, enough for any group of up to 233 processes; a larger
 * group gets the pages it needs.
 * The memfd is sealed at that size (F_SEAL_SHRINK | F_SEAL_GROW), so a
 * daemon, which maps it writable, cannot make the parent's own accesses
 * fault by truncating it.  How many entries a mapping holds is kept in
 * the mapping process's own memory (pyw_board_t), never read back from
 * the shared pages.
 */
#ifndef PYW_BOARD_H
#define PYW_BOARD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct {
    int32_t pid;                /* 0: nobody serves from this slot     */
    int32_t threads;            /* 0: not accepting (draining)         */
    int32_t busy;               /* requests queued or running          */
    int32_t fresh;              /* workers reserved for new connections */
} pyw_board_entry_t;

/* The group's start-up news: written by the parent only, read by Apache's
 * children to say why no daemon answers (PYW0110).  failed_seq is odd
 * while the parent writes. */
typedef struct {
    int64_t  ready_ms;          /* a daemon last said READY, epoch ms    */
    int64_t  failed_ms;         /* a daemon last failed to start         */
    int64_t  starting_ms;       /* a daemon last began to start (its
                                 * fork, plus its back-off)             */
    uint32_t failed_seq;
    uint32_t failed_streak;     /* failed starts since the last READY    */
    char     failed_cause[80];  /* how ("exit status 254"), NUL-ended    */
} pyw_board_news_t;

/* Claims on the group's free workers.  A request that waited at the
 * balancer for a free worker (pyw_lbmethod.c) takes one as it leaves the
 * wait; the daemon worker that reads its REQUEST, which names the claim,
 * gives it back (Apache does, if no daemon read it).  Meanwhile waiters
 * in every Apache child count that worker as taken, instead of all
 * leaving for it.  A claim is the time it was taken; one older than
 * PYW_BOARD_CLAIM_TTL_MS counts no more (its Apache child died).  Its id
 * (on the wire) is its slot + 1 in the low 5 bits and the low 11 bits of
 * its time above them, so a late give-back of an expired claim leaves a
 * newer claim of the same slot alone. */
#define PYW_BOARD_CLAIMS        31
#define PYW_BOARD_CLAIM_TTL_MS  1000

/* Wake-ups for requests waiting at the balancer for a free worker
 * (pyw_board_wake.h): seq changes whenever a worker of the group may
 * have come free, and is the futex word they sleep on; sleepers counts
 * them, so that a daemon makes the wake-up call only when someone
 * sleeps. */
typedef struct {
    uint32_t seq;
    uint32_t sleepers;
} pyw_board_wake_t;

/* The shared pages. */
typedef struct {
    pyw_board_news_t  news;
    int64_t           claim_ms[PYW_BOARD_CLAIMS];  /* 0: free */
    pyw_board_wake_t  wake;
    pyw_board_entry_t slot[];   /* as many as the file holds */
} pyw_board_mem_t;

/* One process's mapping of a board. */
typedef struct pyw_board {
    pyw_board_mem_t *mem;
    size_t           size;      /* bytes mapped (the sealed file's size) */
    int              nslots;    /* entries in mem->slot                  */
} pyw_board_t;

/* A new board for a group of `processes` in a memfd (*fd, close-on-exec,
 * sealed), mapped; NULL with errno set and *fd -1 on failure. */
pyw_board_t *pyw_board_create(int *fd, int processes);
/* Map the board of fd (a daemon's inherited copy, or the parent's fd in
 * an Apache child); NULL on failure. */
pyw_board_t *pyw_board_map(int fd);
/* Unmap; the descriptor, if any, stays open.  NULL is fine. */
void pyw_board_destroy(pyw_board_t *b);
/* Entries the board holds (0 for NULL). */
int pyw_board_slots(const pyw_board_t *b);

/* A daemon starts serving from `index`. */
void pyw_board_join(pyw_board_t *b, int index, pid_t pid, int threads);

/* `pid` stops serving from `index` (it drains, or the parent saw it
 * die).  A successor that already took the slot keeps it. */
void pyw_board_leave(pyw_board_t *b, int index, pid_t pid);

/* What `pid` publishes; ignored once a successor took the slot. */
void pyw_board_set_busy(pyw_board_t *b, int index, pid_t pid, int busy);
void pyw_board_set_fresh(pyw_board_t *b, int index, pid_t pid, int fresh);

/* The parent: a daemon begins to start at now_ms (after its back-off) /
 * became ready / failed to start (cause). */
void pyw_board_note_starting(pyw_board_t *b, int64_t now_ms);
void pyw_board_note_ready(pyw_board_t *b, int64_t now_ms);
void pyw_board_note_failure(pyw_board_t *b, int64_t now_ms,
                            const char *cause);

/* A group grew past its board at a restart: the new board takes the
 * old one's news. */
void pyw_board_copy_news(pyw_board_t *to, const pyw_board_t *from);

/* 1 if the latest news is a daemon starting, after a READY or none at
 * all (not after a failed start): a connection may wait for it. */
int pyw_board_starting(const pyw_board_t *b);

/* 1 if the group's daemons keep failing to start: a failed start
 * repeated since the last READY, and no start under way since (the next
 * one waits out its back-off, so a connection has nothing to wait for). */
int pyw_board_failing(const pyw_board_t *b, int64_t now_ms);

/* 1 if the latest news is a failed start with no READY since: cause
 * (len bytes) and how long ago it was (*age_ms); else 0. */
int pyw_board_last_failure(const pyw_board_t *b, int64_t now_ms,
                           char *cause, size_t len, int64_t *age_ms);

/* 1 if a process other than `index` (among the first n slots) has a
 * worker neither busy nor reserved. */
int pyw_board_other_has_room(const pyw_board_t *b, int index, int n);

/* How many workers of `pid` are neither busy nor reserved (negative:
 * requests queue there), or PYW_BOARD_NO_ROOM if pid serves from none of
 * the first n slots (gone, or draining).  *index is the caller's hint of
 * pid's slot (-1: unknown), corrected when the pid is found elsewhere. */
#define PYW_BOARD_NO_ROOM (-0x7fffffff)
int pyw_board_room(const pyw_board_t *b, int n, pid_t pid, int *index);

/* Live claims (0 for NULL). */
int pyw_board_claims(const pyw_board_t *b, int64_t now_ms);
/* Take a claim: its id (never 0), or 0 when every slot is held or b is
 * NULL. */
uint16_t pyw_board_claim(pyw_board_t *b, int64_t now_ms);
/* Give back the claim `id` names; twice, or after it expired and its
 * slot was taken again, does nothing. */
void pyw_board_unclaim(pyw_board_t *b, uint16_t id);

/* A group's load as Apache's balancer sees it (pyw_lbmethod.c). */
typedef struct {
    int processes;              /* serving (joined, not draining)      */
    int threads;                /* their workers                       */
    int busy;                   /* requests queued or running in them  */
    int free;                   /* workers with nothing to do, summed
                                   per process (a queue in one does not
                                   hide a free worker in another)      */
} pyw_board_load_t;

/* The load of the first n slots of b (all zero for NULL). */
void pyw_board_load(const pyw_board_t *b, int n, pyw_board_load_t *load);

#endif /* PYW_BOARD_H */

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
 * Size: one 4 KiB page holds the news and 249 entries, enough for any
 * group of up to 249 processes; a larger group gets the pages it needs.
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
    uint32_t failed_seq;
    char     failed_cause[92];  /* how ("exit status 254"), NUL-ended    */
} pyw_board_news_t;

/* The shared pages. */
typedef struct {
    pyw_board_news_t  news;
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

/* The parent: a daemon became ready / failed to start (cause). */
void pyw_board_note_ready(pyw_board_t *b, int64_t now_ms);
void pyw_board_note_failure(pyw_board_t *b, int64_t now_ms,
                            const char *cause);

/* A group grew past its board at a restart: the new board takes the
 * old one's news. */
void pyw_board_copy_news(pyw_board_t *to, const pyw_board_t *from);

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

/*
 * pyw_metrics.h - what Apache itself knows about a daemon group, for the
 * status page and Prometheus (src/apache/pyw_status_*.c).
 *
 * One anonymous shared mapping per group, made by the Apache parent in
 * post_config before its children fork, so every child inherits it.
 * Daemons never get it: every number here was recorded by Apache's own
 * processes, so a tenant cannot forge its counters.
 *   - Apache's children: requests by status class, a duration histogram,
 *     the last error (pyw_metrics_request, pyw_metrics_error);
 *   - the parent: each process slot's pid, start and readiness, restarts
 *     by cause (pyw_metrics_proc_*, pyw_metrics_restart).
 * Counters are relaxed atomics (a request costs three atomic adds, no
 * syscall); text is guarded by a sequence word, odd while written.
 * The parent keeps the mapping across graceful restarts (monotonic
 * counters for Prometheus).  It has room for the most processes a group
 * may have, so it is never replaced: a copy would lose what the old
 * generation's children count into the mapping they inherited.
 */
#ifndef PYW_METRICS_H
#define PYW_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Histogram upper bounds in microseconds; one more bucket is +Inf. */
#define PYW_METRICS_BOUNDS   11
#define PYW_METRICS_BUCKETS  (PYW_METRICS_BOUNDS + 1)
extern const int64_t pyw_metrics_bounds_us[PYW_METRICS_BOUNDS];
/* The same in seconds as text ("0.005"), for JSON and Prometheus. */
extern const char *const pyw_metrics_bounds_text[PYW_METRICS_BOUNDS];

/* Status classes: [0] anything outside 100-599, [1] 1xx .. [5] 5xx. */
#define PYW_METRICS_CLASSES  6

/* Why a process of a group was replaced or restarted. */
typedef enum {
    PYW_CAUSE_CRASH = 0,        /* died while serving                  */
    PYW_CAUSE_STARTUP,          /* failed to start (or startup-timeout) */
    PYW_CAUSE_RECYCLE,          /* a limit was reached                 */
    PYW_CAUSE_ROLLING,          /* rolling restart                     */
    PYW_CAUSE_GRACEFUL,         /* apachectl graceful                  */
    PYW_CAUSES
} pyw_cause_e;
/* "crash", "startup_failure", ...: Prometheus label values. */
const char *pyw_cause_name(int cause);

#define PYW_METRICS_TEXT  96    /* URI or reason, NUL-ended          */

/* The last error logged about a process of a slot: by the parent (it
 * died, failed to start, was killed) or by an Apache child (it broke a
 * request).  err_seq guards it as err_seq guards the group's. */
typedef struct {
    int32_t  code;              /* PYWnnnn; 0: none yet                */
    int32_t  pid;               /* the process it concerned            */
    int64_t  ms;                /* wall clock, ms since the epoch      */
    char     text[PYW_METRICS_TEXT];
} pyw_metrics_perr_t;

typedef struct {
    int32_t  pid;               /* 0: none                            */
    int32_t  ready;
    int64_t  started_ms;        /* fork, pyw_io_now_ms() clock         */
    uint64_t restarts;
    uint32_t seq;               /* guards last_cause                  */
    int32_t  pad;
    char     last_cause[PYW_METRICS_TEXT];
    /* The process the current one replaces, while both live: it serves
     * until its successor is ready, then finishes its requests. */
    int32_t  old_pid;           /* 0: none                            */
    int32_t  old_draining;      /* told to stop                       */
    int64_t  old_started_ms;    /* pyw_io_now_ms() clock, 0: unknown  */
    int64_t  old_stop_ms;       /* told to stop at, same clock        */
    uint32_t err_seq;           /* odd while one process writes err   */
    int32_t  err_pad;
    pyw_metrics_perr_t err;
} pyw_metrics_proc_t;

/* The last error an Apache child answered for the group. */
typedef struct {
    int32_t  status;            /* 0: none yet                         */
    int32_t  pad;
    int64_t  ms;                /* wall clock, ms since the epoch      */
    char     uri[PYW_METRICS_TEXT];
    char     what[PYW_METRICS_TEXT];
} pyw_metrics_err_t;

typedef struct {
    uint64_t requests[PYW_METRICS_CLASSES];
    uint64_t buckets[PYW_METRICS_BUCKETS];  /* not cumulative          */
    uint64_t duration_us;                   /* sum                     */
    uint64_t restarts[PYW_CAUSES];
    uint32_t err_seq;           /* odd while one child writes          */
    pyw_metrics_err_t err;
    pyw_metrics_proc_t proc[];
} pyw_metrics_mem_t;

typedef struct pyw_metrics {
    pyw_metrics_mem_t *mem;
    size_t             size;
    int                nprocs;  /* entries in mem->proc                */
} pyw_metrics_t;

/* Process records a mapping holds at least: processes= at its upper
 * bound (pyw_options.h).  About 270 KB of address space per group, of
 * which only the pages in use become memory. */
#define PYW_METRICS_PROCS    1000

/* A zeroed shared mapping with room for `processes` and at least
 * PYW_METRICS_PROCS; NULL on failure. */
pyw_metrics_t *pyw_metrics_create(int processes);
void pyw_metrics_destroy(pyw_metrics_t *m);

/* Apache's children; NULL m is fine everywhere. */
void pyw_metrics_request(pyw_metrics_t *m, int status, int64_t us);
/* Skipped (not waited for) when another child writes at that moment. */
void pyw_metrics_error(pyw_metrics_t *m, int status, int64_t now_ms,
                       const char *uri, const char *what);

/* The parent. */
void pyw_metrics_proc_start(pyw_metrics_t *m, int index, pid_t pid,
                            int64_t now_ms);
void pyw_metrics_proc_ready(pyw_metrics_t *m, int index, pid_t pid);
void pyw_metrics_proc_gone(pyw_metrics_t *m, int index, pid_t pid);
void pyw_metrics_restart(pyw_metrics_t *m, int index, pyw_cause_e cause,
                         const char *text);
/* The slot's current process `pid` (started at started_ms, 0: unknown)
 * is being replaced; it stops (draining; the first time told is kept);
 * it is gone.  Only one old process is kept per slot: the latest. */
void pyw_metrics_proc_old(pyw_metrics_t *m, int index, pid_t pid,
                          int64_t started_ms);
void pyw_metrics_proc_old_stops(pyw_metrics_t *m, int index, pid_t pid,
                                int64_t now_ms);
void pyw_metrics_proc_old_gone(pyw_metrics_t *m, int index, pid_t pid);

/* Either side: the last error about process `pid` of slot `index`
 * (skipped when another process writes it at that moment). */
void pyw_metrics_proc_error(pyw_metrics_t *m, int index, pid_t pid,
                            int code, int64_t now_ms, const char *text);
/* The slot whose current or old process is pid, or -1. */
int pyw_metrics_find_proc(const pyw_metrics_t *m, pid_t pid);

/* Readers: a consistent copy, strings NUL-ended by the reader. */
typedef struct {
    uint64_t requests[PYW_METRICS_CLASSES];
    uint64_t buckets[PYW_METRICS_BUCKETS];
    uint64_t duration_us;
    uint64_t restarts[PYW_CAUSES];
    pyw_metrics_err_t err;      /* err.status 0: none (or being written) */
} pyw_metrics_group_snap_t;

typedef struct {
    pid_t    pid;
    int      ready;
    int64_t  started_ms;
    uint64_t restarts;
    char     last_cause[PYW_METRICS_TEXT];
    pid_t    old_pid;           /* 0: no old process                   */
    int      old_draining;
    int64_t  old_started_ms;
    int64_t  old_stop_ms;
    pyw_metrics_perr_t err;     /* err.code 0: none (or being written) */
} pyw_metrics_proc_snap_t;

void pyw_metrics_read(const pyw_metrics_t *m, pyw_metrics_group_snap_t *s);
/* 0, or -1 for an index the mapping does not hold (s zeroed). */
int pyw_metrics_read_proc(const pyw_metrics_t *m, int index,
                          pyw_metrics_proc_snap_t *s);

#endif /* PYW_METRICS_H */

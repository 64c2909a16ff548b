/*
 * pyw_wboard.h - the worker board of a daemon group: what each worker
 * thread of each process is doing, for the status page.
 *
 * The parent creates it (a memfd, sealed at its size) for the group's
 * shape, (processes x lanes) entries x threads, and hands it to each
 * daemon (fd PYW_EXEC_WBOARD_FD), which writes its own process entry and
 * its threads' entries with relaxed atomics; the URI is guarded by a
 * sequence word, odd while written.  Apache's children map it read-only
 * for one status request.
 *
 * A process slot has PYW_WBOARD_LANES entries ("lanes"): the parent
 * gives a replacement the lane its predecessor does not use (spec
 * .wboard-lane), so the old process, still finishing its requests, keeps
 * its entries while the new one fills its own, and the status page shows
 * both.  Every function below takes an entry number, PYW_WBOARD_ENTRY().
 *
 * Daemons run tenants' code, so everything read here is untrusted: the
 * reader (pyw_wboard_read_*) ends strings itself, replaces bytes that are
 * not printable ASCII, clamps numbers, and the status page shows a
 * process's entries only when its pid is the one the parent started.
 */
#ifndef PYW_WBOARD_H
#define PYW_WBOARD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define PYW_WBOARD_URI  104     /* bytes of a URI kept, NUL included */
#define PYW_WBOARD_LANES  2
#define PYW_WBOARD_ENTRY(index, lane) ((index) * PYW_WBOARD_LANES + (lane))

typedef struct {
    int32_t  pid;               /* the process writing this entry     */
    int32_t  queued;            /* requests waiting for a worker      */
    int64_t  pad;
} pyw_wboard_proc_t;

typedef struct {
    uint32_t seq;               /* odd while uri is written            */
    int32_t  busy;              /* 1: running a request                */
    int64_t  since_ms;          /* its start, pyw_io_now_ms() clock    */
    uint64_t requests;          /* run to the end by this thread       */
    char     uri[PYW_WBOARD_URI];
} pyw_wboard_worker_t;

/* One process's mapping; the shape is the mapping process's own. */
typedef struct pyw_wboard {
    void   *mem;
    size_t  size;
    int     processes, threads; /* entries (slots x lanes), threads */
    pid_t   pid;                /* a daemon's own, once it joined      */
} pyw_wboard_t;

/* A new board of `processes` entries x threads in a memfd (close-on-exec,
 * sealed); the descriptor, or -1 with errno set. */
int pyw_wboard_create(int processes, int threads);
/* Map fd for that shape: writable for a daemon, else read-only.  NULL
 * when the file is not a sealed board of at least that size. */
pyw_wboard_t *pyw_wboard_map(int fd, int processes, int threads,
                             int writable);
void pyw_wboard_destroy(pyw_wboard_t *w);

/* The daemon of entry `index`: take it (all threads idle).  The writes
 * below change nothing once another process has joined at the same entry
 * (a third process of a slot while the first still drains). */
void pyw_wboard_join(pyw_wboard_t *w, int index, pid_t pid);
void pyw_wboard_queued(pyw_wboard_t *w, int index, int queued);
void pyw_wboard_begin(pyw_wboard_t *w, int index, int thread,
                      int64_t now_ms, const char *uri);
void pyw_wboard_end(pyw_wboard_t *w, int index, int thread);

/* Readers (values checked as said above). */
typedef struct {
    pid_t pid;
    int   queued;               /* 0 .. PYW_WBOARD_QUEUE_MAX           */
} pyw_wboard_proc_snap_t;

typedef struct {
    int      busy;              /* 0 or 1                              */
    int64_t  busy_ms;           /* for how long, >= 0                  */
    uint64_t requests;
    char     uri[PYW_WBOARD_URI];   /* printable ASCII, NUL-ended      */
} pyw_wboard_worker_snap_t;

#define PYW_WBOARD_QUEUE_MAX  1000000000

int pyw_wboard_read_proc(const pyw_wboard_t *w, int index,
                         pyw_wboard_proc_snap_t *s);
int pyw_wboard_read_worker(const pyw_wboard_t *w, int index, int thread,
                           int64_t now_ms, pyw_wboard_worker_snap_t *s);
/* The entry among the lanes of process slot `slot` that `pid` writes
 * (pid as the parent knows it), or -1. */
int pyw_wboard_find(const pyw_wboard_t *w, int slot, pid_t pid);

#endif /* PYW_WBOARD_H */

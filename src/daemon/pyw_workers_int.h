/*
 * pyw_workers_int.h - private to the worker pool's files (pyw_workers*.c):
 * the pool's one shared state, pyw_wq, and what the pieces call of each
 * other.  Locking rules: pyw_workers.c.
 */
#ifndef PYW_WORKERS_INT_H
#define PYW_WORKERS_INT_H

#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>

#include "../common/pyw_wboard.h"
#include "pyw_app.h"
#include "pyw_dconn_private.h"
#include "pyw_workers.h"

#define WORKER_URI_MAX             512

typedef struct pyw_worker pyw_worker_t;

struct pyw_worker {
    pthread_t             tid;
    int                   index;
    pyw_app_thread_t     *app_thread;
    /* Waiting on its last connection (pyw_workers_linger.c): its wake-up
     * fd, and under pyw_wq.lock the list link and "a push woke it". */
    int                   linger_fd;
    int                   woken;
    pyw_worker_t         *linger_next;
    /* pyw_wq.lock: what this worker runs now (started_ms == 0: nothing). */
    int64_t               started_ms;
    int                   overdue;      /* reported past request-timeout */
    char                  uri[WORKER_URI_MAX];
};

/* What a worker needs from the REQUEST environ, found in one pass. */
typedef struct {
    char     uri[WORKER_URI_MAX];
    int64_t  start_us;      /* Apache's request_time; <= 0: unknown */
    int      probe;         /* PYW_REQUEST_PROBE: a health check        */
} worker_req_t;

typedef struct {
    pthread_mutex_t  lock;
    sem_t            pushed;     /* posted per pushed connection: a
                                    semaphore, not a condition variable,
                                    because glibc's cond_wait re-takes
                                    the mutex as contended and so costs
                                    a FUTEX_WAKE per pop (strace)       */
    pthread_cond_t   idle;       /* broadcast when busy and holding
                                    drop to 0                           */
    pthread_cond_t   started;    /* broadcast as each thread gets ready   */
    pyw_dconn_t     *head, *tail;
    int              queued;     /* length of the queue; written under
                                    the lock, read lock-free as a hint  */
    int              busy;       /* queued + held by a worker            */
    int              holding;    /* idle connections workers still hold
                                    (pyw_workers_linger.c); a drain
                                    waits for them as for `busy`        */
    int              sem_idle;   /* workers waiting on `pushed` (atomic) */
    pyw_worker_t    *lingering;  /* workers waiting on their connection  */
    int              in_flight;  /* inside app->handle()                 */
    int              ready, failed;
    int64_t          completed;  /* requests run to the end              */
    int64_t          last_activity; /* a request started or ended; 0:
                                     none yet                          */
    int64_t          queue_timeout_ms;  /* set before the threads start  */
    int64_t          max_requests;      /* set before the threads start  */
    const pyw_app_t *app;               /* set before the threads start  */
    int              n;
    pyw_worker_t    *workers;
    struct pyw_wboard *wboard;          /* set before the threads start  */
    int              pindex;            /* our process's index on it     */
} pyw_wq_t;

/* The pool: its queue and counters (defined in pyw_workers.c). */
extern pyw_wq_t pyw_wq;

/* The queue (pyw_workers.c). */
pyw_dconn_t *pyw_workers_unlink_head(void);
void pyw_workers_done(void);
void pyw_workers_idle_check(void);

/* One worker's requests (pyw_workers_request.c): serve c.  queued: its
 * request waited in the queue (pyw_workers.c), so Apache may have given
 * up on it meanwhile; it is run only if Apache still waits for it.  1: c
 * is clean and idle, still the worker's; 0: it was closed. */
int pyw_worker_serve(pyw_worker_t *w, pyw_dconn_t *c, int queued);

/* Waiting for the next request on the same connection
 * (pyw_workers_linger.c). */
int pyw_workers_linger_init(pyw_worker_t *w);
int pyw_workers_linger(pyw_worker_t *w, pyw_dconn_t *c);
int pyw_workers_linger_pick(void);
void pyw_workers_linger_wake(int fd);

/* Per-worker accounting around app->handle (pyw_workers_account.c). */
void pyw_worker_begin(pyw_worker_t *w, const worker_req_t *rq);
void pyw_worker_end(pyw_worker_t *w, const worker_req_t *rq);

#endif /* PYW_WORKERS_INT_H */

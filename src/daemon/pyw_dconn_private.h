/*
 * pyw_dconn_private.h - the daemon-internal side of a connection: its
 * lifetime, the links the poller and the work queue use, per-request reset.
 *
 * Only pyw_dconn*.c, the poller (pyw_poller_int.h) and the worker pool
 * (pyw_workers_int.h) include this; the WSGI adapter sees the opaque
 * pyw_dconn_t of pyw_dconn.h.
 *
 * Ownership: a connection belongs to exactly one party at a time.
 *   IDLE  - registered (armed, EPOLLONESHOT) in the poller's epoll set; only
 *           the poller touches it.
 *   BUSY  - the oneshot event fired: it sits in the work queue or a worker
 *           runs a request on it; only that worker touches it, until it hands
 *           it back with pyw_poller_rearm() or pyw_poller_close().
 * `state`, `prev` and `next` are protected by the poller's connection-list
 * mutex; `qnext` and `queued_ms` by the work queue mutex; everything else
 * belongs to the current owner.
 */
#ifndef PYW_DCONN_PRIVATE_H
#define PYW_DCONN_PRIVATE_H

#include <pthread.h>
#include <stdint.h>

#include "../common/pyw_options.h"
#include "pyw_dconn.h"

/* Backstop for every socket operation of a request (a body read, a write
 * to Apache that does not drain).  Apache's own Timeout normally fires
 * first, so this only frees a worker whose Apache peer is wedged. */
#define PYW_DCONN_IO_TIMEOUT_MS  PYW_DEFAULT_DAEMON_IO_MS

typedef enum {
    PYW_DCONN_IDLE = 0,
    PYW_DCONN_BUSY = 1
} pyw_dconn_state_e;

struct pyw_dconn {
    int             fd;
    pyw_stream_t    stream;
    pthread_mutex_t wlock;            /* see pyw_dconn_lock_writes()     */

    /* Pending output (an encoded HEADERS frame): the first out_len bytes
     * of out are not yet written.  Kept for the connection's life and
     * grown on demand, so a request does not allocate. */
    unsigned char  *out;
    size_t          out_cap;
    size_t          out_len;

    /* Per-request state, cleared by pyw_dconn_reset(). */
    const pyw_dconn_waiter_t *waiter; /* sends hold the GIL: see .h   */
    unsigned        headers_sent:1;   /* HEADERS reached the socket       */
    unsigned        headers_pending:1;/* HEADERS encoded in out, unsent   */
    unsigned        body_done:1;      /* empty BODY seen                  */
    unsigned        body_aborted:1;   /* BODY_ABORT seen                  */
    unsigned        finished:1;       /* END or ERROR written             */
    int             err;              /* first I/O or protocol failure
                                         (-errno); sticky: close after */

    /* Poller and queue links (see the locking rules above). */
    pyw_dconn_state_e  state;
    int                fresh;         /* accepted with a worker reserved
                                         for its first request (poller) */
    struct pyw_dconn  *prev, *next;   /* poller's list of all connections */
    struct pyw_dconn  *qnext;         /* work queue FIFO                  */
    int64_t            queued_ms;     /* work queue: when pushed (pyw_io
                                         clock), for queue-timeout        */
};

/* NULL on ENOMEM.  Takes ownership of fd (closed by pyw_dconn_free). */
pyw_dconn_t *pyw_dconn_new(int fd);
/* Closes fd and frees everything. */
void pyw_dconn_free(pyw_dconn_t *c);

int pyw_dconn_fd(const pyw_dconn_t *c);
pyw_stream_t *pyw_dconn_stream(pyw_dconn_t *c);

/* Clear per-request state before the next REQUEST. */
void pyw_dconn_reset(pyw_dconn_t *c);

/* The connection goes back to epoll: give back the buffers this request
 * grew (pyw_stream_idle), so idle connections cost about one page. */
void pyw_dconn_idle(pyw_dconn_t *c);

/* 1 once END or ERROR has been written for the current request. */
int pyw_dconn_finished(const pyw_dconn_t *c);

/* 1 after an I/O or protocol failure: the connection must be closed. */
int pyw_dconn_broken(const pyw_dconn_t *c);

/* 1 if a whole frame is already buffered (Apache pipelined the next
 * request), so the worker must not wait for epoll to report it. */
int pyw_dconn_frame_buffered(const pyw_dconn_t *c);

#endif /* PYW_DCONN_PRIVATE_H */

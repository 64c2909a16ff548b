/*
 * pyw_workers.h - the daemon's fixed pool of request threads.
 *
 * spec->threads OS threads are created up front; each gets its own Python
 * thread state once and keeps it.  Connections that the poller found
 * readable wait in a FIFO; a worker takes one, runs the request on it from
 * REQUEST to END/ERROR (a request never changes thread, a thread never runs
 * two requests at once), serves any request Apache already pipelined
 * behind it, then hands the connection back to the poller.  When every
 * worker is busy requests queue; they never fail for lack of a thread.
 */
#ifndef PYW_WORKERS_H
#define PYW_WORKERS_H

#include <stdint.h>

#include "pyw_dconn.h"

/* Start n threads and wait until each has its interpreter thread state.
 * 0, or -1 with the cause logged (the caller exits: start-up failed). */
int pyw_workers_start(int n);

/* Queue a readable connection (poller thread).  The connection is BUSY
 * from now until the worker hands it back. */
void pyw_workers_push(pyw_dconn_t *c);

/* Connections queued or held by a worker. */
int pyw_workers_busy(void);

/* Requests currently inside the WSGI adapter. */
int pyw_workers_in_flight(void);

/* Wait until no connection is queued or held (0), or until deadline_ms
 * on the pyw_io_now_ms() clock (-ETIMEDOUT). */
int pyw_workers_wait_idle(int64_t deadline_ms);

/* One log line per request still running: URI and seconds so far. */
void pyw_workers_log_running(int level, int code);

#endif /* PYW_WORKERS_H */

/*
 * pyw_workers.h - the daemon's fixed pool of request threads.
 *
 * spec->threads OS threads are created up front; each gets its own Python
 * thread state once and keeps it.  Connections that the poller found
 * readable wait in a FIFO; a worker takes one, runs the request on it from
 * REQUEST to END/ERROR (a request never changes thread, a thread never runs
 * two requests at once), serves any request Apache already pipelined
 * behind it, then hands the connection back to the poller.  When every
 * worker is busy requests queue; they never fail for lack of a thread,
 * unless queue-timeout is set: a request that waited longer than that is
 * answered 503 without running it.
 */
#ifndef PYW_WORKERS_H
#define PYW_WORKERS_H

#include <stddef.h>
#include <stdint.h>

#include "pyw_daemon.h"
#include "pyw_dconn.h"

/* Start spec->threads threads that run requests through app, and wait
 * until each has its thread state (app->thread_new).  Also from the
 * spec: queue-timeout (0: requests wait as long as it takes) and
 * maximum-requests (the watchdog is woken the moment it is reached).
 * 0, or -1 with the cause logged (the caller exits: start-up failed). */
int pyw_workers_start(const pyw_daemon_spec_t *spec, const pyw_app_t *app);

/* Queue a readable connection (poller thread).  The connection is BUSY
 * from now until the worker hands it back. */
void pyw_workers_push(pyw_dconn_t *c);

/* Connections queued or held by a worker. */
int pyw_workers_busy(void);

/* Requests currently inside the WSGI adapter. */
int pyw_workers_in_flight(void);

/* 1 if no worker is free and each has been running its request for at
 * least min_ms: none is likely to be free within a reconnect's time. */
int pyw_workers_all_held(int64_t min_ms);

/* Wait until no connection is queued or held (0), or until deadline_ms
 * on the pyw_io_now_ms() clock (-ETIMEDOUT). */
int pyw_workers_wait_idle(int64_t deadline_ms);

/* One log line per request still running: URI and seconds so far. */
void pyw_workers_log_running(int level, int code);

/* ---- for the watchdog (pyw_watchdog*.c) ---- */

/* Requests that ran through the WSGI adapter to the end. */
int64_t pyw_workers_completed(void);

/* pyw_io_now_ms() time the last request started or ended while nothing
 * is queued or running now; 0 while anything is, and before the first
 * request (a fresh process has nothing to give back by restarting). */
int64_t pyw_workers_idle_since(void);

/* idle-timeout: 1 if nothing is queued or running, with *since the
 * pyw_io_now_ms() time the last request started or ended (0: none yet);
 * else 0. */
int pyw_workers_quiet(int64_t *since);

/* Find a running request older than limit_ms that was not reported yet,
 * mark it reported, copy its URI (NUL-terminated, cut to len) and age.
 * 1 found, 0 none. */
int pyw_workers_overdue(int64_t limit_ms, char *uri, size_t len,
                        int64_t *elapsed_ms);

/* Answer 503 to each queued connection that waited longer than
 * queue-timeout (no-op when off).  The REQUEST is read on the calling
 * thread, so a queue behind busy workers still gets its answers in time. */
void pyw_workers_expire_queued(void);

/* ---- for the poller's drain (pyw_poller.c) ---- */

/* Unlink every connection still waiting in the queue (no worker took it,
 * nothing of its request was read) and return them chained by qnext.
 * They count as busy until pyw_workers_dropped(count). */
pyw_dconn_t *pyw_workers_take_queued(void);

/* The oldest queued connection, or NULL; the caller answers it and then
 * calls pyw_workers_dropped(1). */
pyw_dconn_t *pyw_workers_take_head(void);

/* Return a connection taken with pyw_workers_take_head() to the head of
 * the queue, untouched: the caller decided to leave it here. */
void pyw_workers_put_back(pyw_dconn_t *c);

/* Queue length without the lock: a hint, possibly just stale. */
int pyw_workers_queued_hint(void);
void pyw_workers_dropped(int n);

/* Wake every worker waiting on its own connection (pyw_workers_linger.c):
 * the daemon drains, their connections must go back with GOODBYE. */
void pyw_workers_linger_wake_all(void);

#endif /* PYW_WORKERS_H */

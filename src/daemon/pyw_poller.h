/*
 * pyw_poller.h - the daemon's epoll thread.
 *
 * It watches the listening socket and every idle Apache connection
 * (EPOLLONESHOT).  A new connection gets the HELLO frame and joins the
 * set; an idle connection that turns readable goes to the worker queue.
 * An idle connection therefore never holds a worker thread.
 *
 * Lock order: the poller's connection lock is taken before the work queue
 * lock (pyw_workers_push under it), never the other way round.
 */
#ifndef PYW_POLLER_H
#define PYW_POLLER_H

#include "pyw_daemon.h"
#include "pyw_dconn.h"

/* Make listen_fd non-blocking and start the thread.  0 or -errno (logged).
 * With spec->processes > 1 the poller balances the group
 * (pyw_poller_balance.c). */
int pyw_poller_start(int listen_fd, const pyw_daemon_spec_t *spec);

/* A worker became free.  Lock-free and cheap: it only wakes the poller
 * when accepting was stopped for lack of a free worker. */
void pyw_poller_capacity_freed(void);

/* Worker: the request is over and the connection is clean; watch it
 * again.  Closes it instead once the poller is stopping. */
void pyw_poller_rearm(pyw_dconn_t *c);

/* Worker: the connection is unusable (EOF, I/O or protocol error). */
void pyw_poller_close(pyw_dconn_t *c);

/*
 * Drain: stop accepting and end the thread; every idle connection gets a
 * GOODBYE frame and is closed, and so does each connection still waiting
 * in the work queue and each one a worker re-arms from then on.  GOODBYE
 * promises Apache that whatever it sent there was not run, so it sends
 * the request again to another daemon.  Requests already running finish,
 * and so do queued ones Apache sent here again (a request moves once).
 * Any thread, any number of times; returns at once.
 */
void pyw_poller_drain(void);

/* The same, handing back every queued request: the workers are stuck
 * (deadlock-timeout) and would never serve them. */
void pyw_poller_drain_all(void);

/* Apache stops (or restarts hard): GOODBYEs from now on say so
 * (PYW_GOODBYE_APACHE_STOP), and Apache answers 503 instead of sending
 * those requests again to a group no daemon will serve until it is back. */
void pyw_poller_apache_stopping(void);

/* Main thread, at shutdown: drain, then wait for the thread to end. */
void pyw_poller_stop(void);

/* Connections open right now (idle and busy). */
int pyw_poller_connections(void);

/* 1 once the daemon drains (pyw_poller_drain): no new requests here. */
int pyw_poller_draining(void);

#endif /* PYW_POLLER_H */

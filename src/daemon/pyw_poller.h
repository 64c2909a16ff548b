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

#include "pyw_dconn.h"

/* Make listen_fd non-blocking and start the thread.  0 or -errno (logged). */
int pyw_poller_start(int listen_fd);

/* Worker: the request is over and the connection is clean; watch it
 * again.  Closes it instead once the poller is stopping. */
void pyw_poller_rearm(pyw_dconn_t *c);

/* Worker: the connection is unusable (EOF, I/O or protocol error). */
void pyw_poller_close(pyw_dconn_t *c);

/*
 * Main thread, at shutdown: stop accepting, close every idle connection
 * (one with a request already waiting is queued instead, so it is still
 * served), and end the thread.  From then on re-armed connections are
 * closed.  Returns once the thread has exited.
 */
void pyw_poller_stop(void);

/* Connections open right now (idle and busy). */
int pyw_poller_connections(void);

#endif /* PYW_POLLER_H */

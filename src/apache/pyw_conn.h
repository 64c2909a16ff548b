/*
 * pyw_conn.h - per-child cache of idle daemon connections, per group.
 *
 * Rules for reuse (see docs/ARCHITECTURE.md): a connection goes back to
 * the cache only after a clean exchange (END or ERROR fully read, nothing
 * left buffered), and it is handed out again only if pyw_io_peer_gone()
 * says the daemon has not closed it meanwhile (daemon restart, idle
 * close).  The cache is shared by the threads of one child (mutex).
 */
#ifndef PYW_CONN_H
#define PYW_CONN_H

#include "apr_pools.h"
#include "apr_time.h"
#include "pyw_backend.h"

/* Registers the child_init hook that creates the cache. */
void pyw_conn_register_hooks(apr_pool_t *p);

/*
 * Get a connection to one of g's daemons: an idle cached one (if
 * allow_idle) that is still open, else a new one.  `timeout` is the
 * connect-timeout: it covers connect() and the daemon's HELLO.  A full
 * backlog, connection refused and a missing socket are retried until it
 * passes, because daemons may be busy or restarting (-ETIMEDOUT then).
 * While the group's news says a daemon is starting (its imports and
 * preloads take their time), the HELLO is awaited up to `starting` more
 * (0: not at all).  Returns 0 and *out, or -errno with *why (allocated
 * from p) saying in plain words what failed.
 */
int pyw_conn_acquire(const pyw_group_t *g, apr_interval_time_t timeout,
                     apr_interval_time_t starting,
                     int allow_idle, apr_pool_t *p,
                     pyw_backend_t **out, const char **why);

/* Hand back a connection after a clean exchange (it may be cached). */
void pyw_conn_release(pyw_backend_t *b);

/* Close and free a connection that must not be reused. */
void pyw_conn_close(pyw_backend_t *b);

#endif /* PYW_CONN_H */

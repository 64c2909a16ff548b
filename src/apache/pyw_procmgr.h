/*
 * pyw_procmgr.h - the Apache parent owns the daemon processes.
 *
 * post_config (in the parent, real run only): for each group create the
 * listening Unix socket (kept in the process pool, so it outlives daemon
 * restarts and graceful restarts), make it connectable only by Apache's
 * child user, fork the group's daemons and supervise them with
 * apr_proc_other_child (restart on death with a log line saying why, back
 * off after start-up failures); on pconf cleanup (stop, graceful) signal
 * them and reap them.
 */
#ifndef PYW_PROCMGR_H
#define PYW_PROCMGR_H

#include <stddef.h>
#include <stdint.h>

#include "apr_pools.h"

#include "../common/pyw_board.h"
#include "pyw_config.h"

void pyw_procmgr_register_hooks(apr_pool_t *p);

/* In an Apache child too: 1 if the group's latest start-up news is a
 * daemon that failed to start, with no daemon ready since; cause (len
 * bytes) says how, *age_ms how long ago.  0 otherwise. */
int pyw_pm_last_start_failure(const pyw_group_t *g, char *cause,
                              size_t len, int64_t *age_ms);

/* In an Apache child too: the group's metrics (pyw_metrics.h; NULL: none)
 * and its worker board's descriptor (pyw_wboard.h; -1: none). */
struct pyw_metrics *pyw_pm_metrics(const pyw_group_t *g);
int pyw_pm_wboard_fd(const pyw_group_t *g);
/* The board the group had before a graceful restart changed its shape,
 * which its daemons from before still write while they drain: its
 * descriptor and shape, or -1. */
int pyw_pm_wboard_prev(const pyw_group_t *g, int *processes, int *threads);
/* In an Apache child too: the inode of the group's listening socket
 * (pyw_sockdiag.h), 0 if none. */
uint64_t pyw_pm_listen_ino(const pyw_group_t *g);

/* In an Apache child: the group's load as its load board shows it
 * (threads, busy, free workers of the serving processes); all zero when
 * the group has no board or no daemon serving. */
void pyw_pm_group_load(const pyw_group_t *g, pyw_board_load_t *load);
/* start=on-demand or idle-timeout: the group may run no daemon, and a
 * connection to its socket starts it (pyw_demand.c). */
int pyw_pm_group_may_sleep(const pyw_group_t *g);
/* In an Apache child: whether the group sleeps, by its load as read with
 * pyw_pm_group_load(): it may sleep and no daemon serves.  Whoever
 * connects to it starts it, so the balancer leaves the choice to a
 * request and a health check does not probe it. */
int pyw_pm_group_dormant(const pyw_group_t *g, const pyw_board_load_t *load);
/* In an Apache child: the group's load board, mapped on first use and
 * kept (NULL: none). */
pyw_board_t *pyw_pm_group_board(const pyw_group_t *g);

/* Apache stops or restarts: in the parent, or in this child (told to
 * stop by its MPM). */
int pyw_pm_stopping(void);

/* In an Apache child: queue-limit=.  pyw_pm_hold counts one more request
 * of the group held by this child and returns how many the group's
 * children hold with it (0 for a group without a limit); each hold is
 * matched by one pyw_pm_unhold.  pyw_pm_held: the count alone. */
long pyw_pm_hold(const pyw_group_t *g);
void pyw_pm_unhold(const pyw_group_t *g);
long pyw_pm_held(const pyw_group_t *g);

#endif /* PYW_PROCMGR_H */

/*
 * pyw_keeper.h - the keeper, a small root process between the Apache
 * parent and each daemon, so that no exit status a daemon chooses
 * reaches the MPM (pyw_keeper.c).
 */
#ifndef PYW_KEEPER_H
#define PYW_KEEPER_H

#include <sys/types.h>

#include "apr_thread_proc.h"

/* A daemon's keeper, as the parent sees it. */
typedef struct {
    apr_proc_t  proc;           /* the keeper; proc.pid 0: none          */
    int         report_fd;      /* read end of its report pipe, or -1    */
} pyw_keeper_t;

/*
 * Fork a keeper, which forks the daemon.  In the daemon: APR_INCHILD,
 * with k->proc.pid its keeper's pid (it goes on to exec the daemon
 * program).  In the parent: APR_INPARENT
 * with *daemon set, once the keeper has said the daemon's pid; or an
 * error, with nothing left running.  The keeper never returns.
 */
apr_status_t pyw_keeper_fork(pyw_keeper_t *k, pid_t *daemon,
                             apr_pool_t *pool);

/* The daemon's raw wait status, as its dead keeper reported it: 1, or 0
 * when it reported none (the keeper itself was killed).  Closes the
 * report pipe either way. */
int pyw_keeper_report(pyw_keeper_t *k, int *wait_status);

/* Forget a keeper that is gone (reaped elsewhere): closes its pipe. */
void pyw_keeper_forget(pyw_keeper_t *k);

#endif /* PYW_KEEPER_H */

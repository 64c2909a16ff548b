/*
 * pyw_status_data.h - one snapshot of every daemon group a status
 * request may see, gathered once and rendered as HTML, JSON or
 * Prometheus text (pyw_status_html.c, pyw_status_json.c,
 * pyw_status_prom.c).
 *
 * Sources, by trust:
 *   - pyw_metrics (recorded by Apache's own processes): requests, the
 *     duration histogram, restarts, the last error, each slot's pid;
 *   - /proc/<pid>/stat of those pids (the kernel): RSS, CPU;
 *   - the worker board (written by the daemons, untrusted): per-thread
 *     state, URI and count, queue length.  Used for a process only when
 *     the pid on it is the one the parent started; checked and cleaned
 *     by pyw_wboard_read_*.
 */
#ifndef PYW_STATUS_DATA_H
#define PYW_STATUS_DATA_H

#include "apr_pools.h"
#include "httpd.h"

#include "pyw_config.h"
#include "../common/pyw_metrics.h"
#include "../common/pyw_wboard.h"

/* A process of a slot: its current one, or the one that current one
 * replaces while both live (`old`: pm.pid and pm.started_ms are the old
 * process's; pm.err is the slot's, shown with the current one). */
typedef struct {
    int      index;             /* 0-based                              */
    int      old;               /* 1: the process being replaced        */
    pyw_metrics_proc_snap_t pm; /* pid 0: no process                    */
    const char *state;          /* "ready", "starting", "stopped";
                                   old: "retiring" (its successor starts,
                                   it still serves), "draining" (told to
                                   stop, finishing its requests)        */
    int64_t  uptime_ms;         /* -1: unknown                          */
    int64_t  draining_ms;       /* since told to stop (draining only)   */
    int      have_stat;         /* rss_bytes and cpu_s are known        */
    int64_t  rss_bytes;
    double   cpu_s;
    int      have_workers;      /* the worker board is this pid's       */
    int      threads;           /* its workers (an old process's board
                                   may be of another shape)             */
    int      queued;
    uint64_t requests;          /* sum of its workers'                  */
    int      busy;
    pyw_wboard_worker_snap_t *workers;  /* threads of them, or NULL     */
} pyw_status_proc_t;

typedef struct {
    const pyw_group_t *g;
    pyw_metrics_group_snap_t m;
    int      busy, idle, queued;    /* over processes with workers (an
                                       old one's busy and queued too);
                                       queued includes the backlog      */
    int      backlog;               /* connections no daemon accepted
                                       yet (pyw_sockdiag.h), -1:
                                       unknown                          */
    int      in_apache;             /* requests Apache holds for the
                                       group (queue-limit=); -1: no
                                       limit, not counted               */
    int      ready;                 /* processes ready                  */
    uint64_t requests;              /* all status classes               */
    pyw_status_proc_t *procs;       /* g->processes of them             */
    pyw_status_proc_t *olds;        /* nold processes being replaced,
                                       also of slots a graceful restart
                                       dropped (index >= g->processes)  */
    int      nold;
} pyw_status_group_t;

typedef struct {
    int64_t now_ms;                 /* wall clock, for err.ms           */
    int     n;
    pyw_status_group_t *groups;
} pyw_status_t;

/* Every group visible from r's server, in configuration order. */
pyw_status_t *pyw_status_collect(request_rec *r);

/* "2xx" for class 2, "other" for 0. */
const char *pyw_status_class_name(int cls);

#endif /* PYW_STATUS_DATA_H */

/*
 * pyw_procmgr_int.h - what the files of the Apache parent's process
 * manager share (pyw_procmgr.c and pyw_procmgr_{exit,sock,handover}.c);
 * not for the rest of the module.
 */
#ifndef PYW_PROCMGR_INT_H
#define PYW_PROCMGR_INT_H

#include <sys/types.h>

#include "apr_hash.h"
#include "apr_pools.h"
#include "httpd.h"

#include "pyw_config.h"
#include "pyw_pm.h"
#include "../common/pyw_board.h"
#include "../common/pyw_metrics.h"


#define PYW_KILL_WAIT_MS        1000
/* Bump the suffix whenever pyw_retained_t or a shared page it keeps
 * (pyw_board_mem_t: 7 added the claims; 8: pyw_handover_t's lane,
 * pyw_metrics_proc_t's old process and last error, the worker board's
 * lanes; 9: pyw_sock_t's in-flight table; 10: pyw_handover_t's keeper;
 * 11: pyw_sock_t's previous worker board) changes: a graceful restart into a new build must not read an
 * old block of another layout. */
#define PYW_RETAINED_KEY        "mod_pyworker.procmgr.12"
#define PYW_HANDOVER_NAME_MAX   80
#define PYW_NOFILE_SPARE        1024    /* for Apache's own descriptors */

/* A listening socket; plain data in the process pool (see above). */
typedef struct {
    const char *path;
    const char *group;          /* the group it was made for */
    int         fd;             /* -1: closed */
    dev_t       dev;            /* the file bind() created, to notice */
    ino_t       ino;            /* a removed or replaced one           */
    int         generation;     /* last configuration that used it */
    int         backlog;        /* given to listen() */
    pyw_board_t *board;         /* the group's load board, or NULL */
    int         board_fd;       /* its memfd, handed to each daemon */
    pyw_metrics_t *metrics;     /* Apache's own numbers, or NULL */
    int         wboard_fd;      /* worker board for wb_processes x */
    int         wb_processes;   /* wb_threads, or -1                 */
    int         wb_threads;
    int         wboard_prev_fd; /* the board before the last change of */
    int         wb_prev_processes; /* shape, while daemons of it may   */
    int         wb_prev_threads;   /* still drain; -1: none            */
    struct pyw_inflight *inflight;  /* queue-limit's count, or NULL */
} pyw_sock_t;

/* A daemon passed from one generation to the next; plain data. */
typedef struct {
    pid_t       pid;
    pid_t       keeper_pid;     /* its keeper (pyw_keeper.h) */
    int         report_fd;      /* the keeper's report pipe */
    int         status_fd;
    int         index;
    int         lane;           /* on the worker board */
    int         ready;
    pyw_why_e   why;
    apr_time_t  term_at;
    apr_time_t  kill_at;
    char        group[PYW_HANDOVER_NAME_MAX];
} pyw_handover_t;

typedef struct pyw_retained {
    apr_hash_t     *socks;      /* path -> pyw_sock_t * */
    pyw_handover_t *handover;   /* malloc()ed */
    int             n_handover;
    int             cap_handover;
} pyw_retained_t;

/* pyw_procmgr_exit.c: the exact exit cause of each daemon, and the
 * SIGCHLD handler that wakes the parent for it. */
void pyw_chld_install(void);
void pyw_chld_uninstall(void);
void pyw_wait_format(int st, char *buf, size_t len);

/* pyw_procmgr_sock.c: the groups' listening sockets. */
apr_status_t pyw_sock_open(server_rec *s, apr_pool_t *ptemp,
                           pyw_group_t *g, int generation);
void pyw_sock_sweep(server_rec *s, apr_pool_t *p, int generation,
                    int all);

/* pyw_procmgr_inflight.c: requests of a group held by Apache. */
void pyw_sock_inflight(server_rec *s, pyw_sock_t *k, pyw_group_t *g);
void pyw_inflight_child_init(apr_pool_t *pchild, struct pyw_group_rt *rt);
void pyw_inflight_sweep_all(void);
void pyw_inflight_register_hooks(apr_pool_t *p);

/* pyw_procmgr_handover.c: Apache exits or restarts. */
void pyw_pm_takeover(void);
apr_status_t pyw_pm_stop_all(void *unused);

#endif /* PYW_PROCMGR_INT_H */

/*
 * pyw_pm.h - private to the process manager (pyw_procmgr.c, pyw_slots*.c,
 * pyw_waker.c): the state of one configuration generation.
 *
 * A group has `processes` slots.  A slot has a current process (starting
 * or ready) and, while a replacement starts, the old one, still serving.
 * When the replacement says READY the old one gets SIGTERM and moves to
 * the stopping list, where a deadline ends it with SIGKILL.  So a slot
 * never lacks a serving process because of a replacement.
 *
 * Everything here runs in the Apache parent's main thread: hooks, pconf
 * cleanups and apr_proc_other_child callbacks.  Nothing is shared with
 * another thread; signal handlers only store integers (pyw_procmgr.c).
 */
#ifndef PYW_PM_H
#define PYW_PM_H

#include "apr_pools.h"
#include "apr_thread_proc.h"
#include "apr_time.h"
#include "httpd.h"

#include "pyw_config.h"
#include "pyw_errlog.h"
#include "pyw_keeper.h"
#include "pyw_procmgr.h"
#include "../common/pyw_wboard.h"

/* Why a process is being stopped; plain ints so they survive a restart
 * (the DSO is unloaded: no string of ours may be kept across it). */
typedef enum {
    PYW_WHY_NONE = 0,
    PYW_WHY_RECYCLE,        /* the daemon asked: a limit was reached     */
    PYW_WHY_ROLLING,        /* rolling restart of its group              */
    PYW_WHY_GRACEFUL,       /* Apache restarted: new generation is ready */
    PYW_WHY_UNCONFIGURED,   /* group or slot gone from the configuration */
    PYW_WHY_STALE,          /* still starting when Apache restarted      */
    PYW_WHY_APACHE_STOP,    /* Apache stops or restarts hard             */
    PYW_WHY_IDLE,           /* its group had no request for idle-timeout */
    PYW_WHY_SIGNAL          /* the daemon asked: SIGTERM/SIGUSR1 by hand */
} pyw_why_e;

typedef struct pyw_slot pyw_slot_t;
typedef struct pyw_proc pyw_proc_t;

/* One daemon process.  Registered with apr_proc_other_child with itself
 * as the data, so it never moves; pyw_proc_t records are reused through
 * a free list instead of being allocated per fork. */
struct pyw_proc {
    pyw_proc_t  *next;          /* stopping list or free list            */
    int          listed;        /* on the stopping list                  */
    pyw_slot_t  *slot;          /* NULL once stopping                    */
    const char  *group;         /* group name, for log lines             */
    int          index;         /* slot index, 0-based                   */
    int          lane;          /* its worker board lane (pyw_wboard.h)  */
    apr_proc_t   proc;          /* the daemon; proc.pid 0: none          */
    pyw_keeper_t keeper;        /* the parent's child, which waits for it */
    int          status_fd;     /* read end of its status pipe, or -1    */
    int          registered;    /* with apr_proc_other_child             */
    int          ready;         /* PYW_STATUS_READY seen                 */
    dev_t        exe_dev;       /* its program when READY came, to tell  */
    ino_t        exe_ino;       /* an exec of another one (0: unknown)   */
    int          idle;          /* PYW_STATUS_IDLE seen, no ACTIVE since  */
    int          delay_ms;      /* start-up delay (back-off) it was given */
    apr_time_t   forked_at;
    apr_time_t   start_by;      /* startup-timeout deadline, 0: none     */
    int          startup_killed;
    pyw_why_e    why;           /* why it is (to be) stopped             */
    apr_time_t   term_at;       /* told to stop at, 0: not yet           */
    apr_time_t   kill_at;       /* SIGKILL deadline once stopping        */
    int          kill_sent;
};

struct pyw_slot {
    struct pyw_group_rt *rt;
    int          index;
    pyw_proc_t  *cur;           /* never NULL; cur->proc.pid 0: empty    */
    pyw_proc_t  *old;           /* serving until cur is ready, or NULL   */
    int          failures;      /* consecutive quick failures            */
    apr_time_t   failed_at;     /* the last of them                      */
    int64_t      quiet_since;   /* its last request (pyw_io_now_ms), for
                                   the next process when it replaces one
                                   for inactivity; 0: none              */
    int          ready_deaths;  /* consecutive quick deaths after READY  */
    pid_t        lane_pid[PYW_WBOARD_LANES];  /* who writes each lane, 0 */
};

struct pyw_group_rt {
    pyw_group_t *group;
    int          listen_fd;
    uint64_t     listen_ino;    /* its inode, kept in Apache's children
                                   (which close the descriptor) for the
                                   status page's backlog count         */
    struct pyw_board *board;    /* see pyw_board.h; NULL: no balancing  */
    int          board_fd;      /* its memfd, or -1                      */
    struct pyw_metrics *metrics;/* Apache's own numbers (pyw_metrics.h) */
    int          wboard_fd;     /* worker board memfd (pyw_wboard.h), -1 */
    int          wboard_prev_fd;   /* the one before the group's shape  */
    int          wb_prev_processes;/* changed, for its draining daemons */
    int          wb_prev_threads;  /* (-1: none), and that shape        */
    struct pyw_inflight *inflight; /* queue-limit's count, or NULL */
    int          inflight_row;  /* an Apache child's row there, or -1    */
    pyw_slot_t  *slots;         /* group->processes of them              */
    int          rolling;       /* a rolling restart is running          */
    int          roll_next;     /* next slot to replace                  */
    apr_time_t   roll_started;
    long         roll_again;    /* pid of a newer process that asked
                                   again, 0: nobody                       */
    int          dormant;       /* no daemon on purpose (start=on-demand,
                                   idle-timeout): the first connection
                                   starts the group (pyw_demand.c)        */
    int          idle_check;    /* a process said IDLE: is the group?     */
    apr_time_t   woken_at;      /* a connection started it, 0: not so     */
    pyw_errlog_t log;           /* how its daemons log (pyw_errlog.h)    */
};

/* The waker: see pyw_waker.c. */
typedef struct {
    apr_proc_t   proc;          /* pid 0: none */
    int          registered;
    apr_time_t   deadline;      /* what it was started with */
    unsigned long fd_sig;       /* which descriptors it watches */
    unsigned long armed_events; /* pyw_pm.events when it was started */
    int          died;          /* it exited: it woke us */
    int          idle;          /* woke for nothing, so many in a row */
} pyw_waker_t;

/* This generation; reset in post_config. */
typedef struct {
    server_rec         *s;
    apr_pool_t         *pconf;
    pid_t               parent;
    int                 stopping;
    int                 in_poll;    /* pyw_pm_poll() is running           */
    unsigned long       events;     /* status bytes, EOFs, deadlines seen */
    apr_array_header_t *rts;        /* struct pyw_group_rt *              */
    pyw_proc_t         *stopping_list;
    pyw_proc_t         *free_list;
    struct pyw_retained *retained;
    char               *title_area; /* argv memory, for the waker's title */
    size_t              title_len;
    int                 log_fd;
    pyw_waker_t         waker;
} pyw_pm_t;

extern pyw_pm_t pyw_pm;

#define PYW_KILL_MARGIN_MS  2000    /* after a stopping daemon's budget    */

/* Cause of a death as words; returns PYW_DEATH_* flags. */
#define PYW_DEATH_NOT_STARTED   1   /* exit 254: it could not start      */
#define PYW_DEATH_CLEAN         2   /* exit status 0                     */
int pyw_pm_death_cause(pyw_proc_t *p, int reason, apr_wait_t status,
                       char *buf, size_t len);
const char *pyw_pm_why_text(pyw_why_e why);

/* pyw_slots*.c (the files are listed in pyw_slots_int.h) */
pyw_proc_t *pyw_proc_alloc(const char *group, int index);
apr_status_t pyw_slot_spawn(pyw_slot_t *slot);
void pyw_proc_register(pyw_proc_t *p);
void pyw_proc_stop(pyw_proc_t *p, pyw_why_e why, int64_t budget_ms);
/* Apache stops: tell p (PYW_SIG_APACHE_STOP) the first time, SIGKILL it
 * (PYW0025) once its deadline passed. */
void pyw_proc_apache_stops(pyw_proc_t *p);
int64_t pyw_group_stop_budget(const pyw_group_t *g, pyw_why_e why);
/* Read every status pipe, act on deadlines, keep the waker armed.  Safe
 * to call from any hook or other_child callback in the parent. */
void pyw_pm_poll(void);
/* Apache restarts (the MPM counts as stopping, so status bytes are no
 * longer acted on): mark ready each starting daemon whose READY is in
 * its pipe, so that it is handed over as one that serves. */
void pyw_pm_note_ready(void);
/* Monitor hook: refill slots a failed fork left empty, resume rolling
 * restarts a failed fork held up. */
void pyw_pm_retry(void);
/* The slot p belongs or belonged to in this generation (a stopping
 * process has left it), or NULL. */
pyw_slot_t *pyw_proc_home(const pyw_proc_t *p);
/* Post_config, once the groups' metrics are mapped again: the page
 * lists the daemons from before the restart that the takeover stopped
 * (pyw_pm_takeover runs before the mapping is handed on). */
void pyw_proc_note_stopping(void);
/* Visit every live process (current, old, stopping). */
void pyw_pm_each_proc(void (*fn)(pyw_proc_t *p, void *baton), void *baton);

/* pyw_demand.c: groups that start on the first connection and stop
 * when idle. */
/* Post_config, once the handed-over daemons are placed: start the group,
 * or leave it dormant (start=on-demand with nothing handed over). */
void pyw_demand_start_or_sleep(struct pyw_group_rt *rt);
/* Start each dormant group that has a connection waiting. */
void pyw_demand_wake(void);
/* Stop each group all of whose processes said IDLE. */
void pyw_demand_idle_checks(void);
/* The slot's current process died; 1 if its group went dormant instead
 * of restarting it (no other process, no connection waiting). */
int pyw_demand_after_death(pyw_slot_t *slot);
/* A process of the group became ready (the log line of an on-demand
 * start). */
void pyw_demand_ready(pyw_slot_t *slot);
/* 1 if a connection waits in the backlog of the group's socket. */
int pyw_demand_pending(const struct pyw_group_rt *rt);

/* pyw_waker.c */
void pyw_waker_arm(apr_time_t deadline);
void pyw_waker_stop(void);
void pyw_waker_reset(void);

#endif /* PYW_PM_H */

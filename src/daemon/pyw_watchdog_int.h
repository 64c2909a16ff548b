/*
 * pyw_watchdog_int.h - private to the watchdog's files (pyw_watchdog*.c):
 * the watchdog's one shared state, pyw_wd, and what the pieces call of
 * each other.  Threads and locking rules: pyw_watchdog.c.
 */
#ifndef PYW_WATCHDOG_INT_H
#define PYW_WATCHDOG_INT_H

#include <pthread.h>
#include <stdint.h>

#include "pyw_app.h"
#include "pyw_watchdog.h"

typedef struct {
    pthread_mutex_t  lock;
    pthread_cond_t   wake;          /* CLOCK_MONOTONIC                    */
    int              stopping;      /* pyw_wd.lock                        */
    int              poked;         /* pyw_wd.lock: check before the tick */
    int64_t          exit_at;       /* pyw_wd.lock; 0: no deadline        */
    int64_t          heartbeat;     /* atomic; last GIL round trip        */
    int              heartbeat_ok;  /* atomic; 0: no heartbeat thread     */

    /* Set before the threads start: the application (stack dumps,
     * heartbeat) and the limits, copied from the spec. */
    const pyw_app_t *app;
    int64_t          max_requests, restart_interval, inactivity;
    int64_t          request_timeout, deadlock_timeout, memory_limit;
    int64_t          cpu_limit, idle_timeout;

    /* Watchdog thread only. */
    int64_t          started;
    int64_t          quiet_since;   /* no request before: its start, or
                                       its slot's last request when it
                                       replaced a process for inactivity */
    int              recycling;     /* a replacement was asked for        */
    int              deadlocked;    /* reported, and drained              */
    int64_t          last_tick;
    int64_t          trimmed_for;   /* the idle spell already trimmed */
    int64_t          idle_said;     /* the quiet spell IDLE was said for,
                                       0: none                            */
    int              statm_fd;
    int              statm_errno;
} pyw_watchdog_state_t;

/* The watchdog: its settings and the thread's memory (pyw_watchdog.c). */
extern pyw_watchdog_state_t pyw_wd;

/* Ask the parent for a replacement, or stop if it cannot start one
 * (pyw_watchdog.c). */
void pyw_watchdog_replace_me(void);
void pyw_watchdog_replace_me_for(char what);

/* The recycling limits (pyw_watchdog_limits.c). */
void pyw_watchdog_check_limits(int64_t now);

/* Idle spells: heap trim and idle-timeout (pyw_watchdog_idle.c). */
void pyw_watchdog_trim_when_idle(int64_t now);
void pyw_watchdog_check_idle(int64_t now);

/* Stuck requests and a stuck GIL (pyw_watchdog_stuck.c). */
void pyw_watchdog_check_requests(int stopping);
void pyw_watchdog_check_deadlock(int64_t now, int stopping);
void *pyw_watchdog_heartbeat_main(void *arg);

#endif /* PYW_WATCHDOG_INT_H */

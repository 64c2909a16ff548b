/*
 * pyw_daemon_int.h - private to the daemon main thread's files
 * (pyw_daemon*.c): the kinds of stop a signal asks for, and the steps
 * pyw_daemon_main() takes in order.
 */
#ifndef PYW_DAEMON_INT_H
#define PYW_DAEMON_INT_H

#include <signal.h>
#include <sys/types.h>

#include "pyw_daemon.h"

/* Where the listening socket lives in the daemon: right after stderr. */
#define DAEMON_LISTEN_FD   3

/* Why the daemon was told to stop (pyw_spec.h).  Each kind gives the
 * requests in flight its own time (daemon_budget). */
typedef enum {
    STOP_TERM = 0,      /* plain SIGTERM from the daemon itself or the
                           Apache parent (prefork's stop)              */
    STOP_RECYCLE,       /* replaced: a limit was reached               */
    STOP_EVICT,         /* replaced: rolling or Apache restart         */
    STOP_APACHE,        /* Apache stops or restarts hard               */
    STOP_IDLE,          /* the group was idle for idle-timeout         */
    STOP_STALE,         /* Apache restarted while it was starting      */
    STOP_UNCONFIGURED,  /* Apache restarted without its group or slot  */
    STOP_SIGNAL,        /* replaced: a SIGTERM/SIGUSR1 by hand asked   */
    STOP_KINDS
} daemon_stop_e;

/* Signals (pyw_daemon_signals.c); spec names the processes whose
 * signals are Apache's own (its parent, the keeper). */
void pyw_daemon_reset_signals(const pyw_daemon_spec_t *spec);
/* The main thread's mask emptied again: an import script that blocked
 * signals (signal.pthread_sigmask) would have blocked them in every
 * thread started after it, and stop, restart and SIGUSR2 never came. */
void pyw_daemon_unblock_signals(void);
void pyw_daemon_delay(int ms);
int pyw_daemon_self_pipe(void);
void pyw_daemon_wait_for_stop(void);
/* How many stop signals of this kind came so far. */
sig_atomic_t pyw_daemon_stop_count(int kind);

/* Start-up steps before Python (pyw_daemon_setup.c). */
int pyw_daemon_setup_fds(const pyw_daemon_spec_t *spec, int *status_fd);
void pyw_daemon_prepare(const pyw_daemon_spec_t *spec, pid_t ppid);
void pyw_daemon_set_comm(const pyw_daemon_spec_t *spec);

/* The graceful stop (pyw_daemon_stop.c). */
void pyw_daemon_stop(const pyw_daemon_spec_t *spec, const pyw_app_t *app)
    __attribute__((noreturn));

#endif /* PYW_DAEMON_INT_H */

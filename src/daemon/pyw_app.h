/*
 * pyw_app.h - the application a daemon serves, as the daemon sees it: a
 * table of functions, filled in by the layer that embeds the language.
 *
 * The dependency runs one way (common <- daemon <- python): src/python
 * includes daemon headers and provides pyw_python_app; src/daemon
 * includes nothing from src/python and reaches the interpreter only
 * through this table, given to pyw_daemon_main().  A request costs one
 * indirect call (handle).
 *
 * "The interpreter lock" below is Python's GIL; daemon code never takes
 * it itself.
 */
#ifndef PYW_APP_H
#define PYW_APP_H

#include <signal.h>
#include <stddef.h>

#include "pyw_daemon.h"
#include "pyw_dconn.h"

/* One thread's own state in the application (Python: its PyThreadState).
 * Defined by the application; the daemon only hands it back. */
typedef struct pyw_app_thread pyw_app_thread_t;

/* pyw_app_t.  The typedef is in pyw_daemon.h, for pyw_daemon_main(). */
struct pyw_app {
    /* Main thread, before any other thread exists, after privileges were
     * dropped; returns with the interpreter lock free.  Runs the import
     * scripts and preloads.  0; 1 when a preload failed but the daemon
     * starts anyway (spec->replacing was 0; logged); or -1 with the cause
     * logged (start-up failed). */
    int (*start)(const pyw_daemon_spec_t *spec);

    /* On each thread that will call handle() or ping(), once, before
     * either: its state, kept for the thread's life.  NULL logged. */
    pyw_app_thread_t *(*thread_new)(void);

    /* Run one request, start to end, on the calling worker thread:
     * environ/len is the REQUEST payload (valid until the first body
     * read).  Meant to return after END or ERROR went out (the worker
     * ends the request if not).  0: the connection is clean; -1: close
     * it. */
    int (*handle)(pyw_app_thread_t *t, pyw_dconn_t *c,
                  const unsigned char *environ, size_t len);

    /* Take the interpreter lock and give it back at once: the deadlock
     * watchdog's heartbeat.  Waits as long as another thread holds it. */
    void (*ping)(pyw_app_thread_t *t);

    /* Write every thread's application stack to the error log at level
     * (pyw_logno.h).  Any thread, without the interpreter lock, even
     * while some thread holds it forever.  0, or -1 when it cannot
     * (logged at start).  The daemon calls it for request-timeout,
     * deadlock-timeout and PYW_DAEMON_STACK_SIGNAL. */
    int (*dump_stacks)(int level);

    /* Main thread, once, when no request runs any more: the
     * application's exit callbacks (Python: atexit).  The process exits
     * next; nothing is torn down. */
    void (*stop)(void);
};

/* The signal an operator sends a daemon for its stacks
 * (kill -s RTMIN+6 <pid>); the main thread calls dump_stacks(). */
#define PYW_DAEMON_STACK_SIGNAL  (SIGRTMIN + 6)

#endif /* PYW_APP_H */

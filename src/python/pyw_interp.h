/*
 * pyw_interp.h - the embedded interpreter of one daemon process.
 *
 * Only src/python/ includes Python.h; this header exposes no PyObject.
 *
 * GIL rules:
 *   pyw_interp_start()      main thread, GIL not held before; returns with
 *                           the GIL released.
 *   pyw_interp_thread_new() any new thread, GIL not held; returns with the
 *                           GIL released.
 *   pyw_interp_stop()       GIL not held; takes each interpreter's GIL
 *                           in turn, runs its atexit callbacks.
 */
#ifndef PYW_INTERP_H
#define PYW_INTERP_H

#include "../daemon/pyw_app.h"

/* A thread's state is the daemon's opaque pyw_app_thread_t (struct
 * pyw_app_thread in pyw_interp_private.h), so these functions go into
 * pyw_python_app without wrappers. */

/* Initialize CPython (python-home, python-path, lang/locale, no signal
 * handlers of its own), redirect sys.stdout/stderr to the error log,
 * register the stack dump, guard the daemon against the application
 * (signal.signal ignored, os._exit(15) made 1), run the import scripts
 * and preloads.  0; 1 when a preload failed and the daemon starts anyway
 * (logged; see pyw_app_t.start); or -1 with the cause logged. */
int pyw_interp_start(const pyw_daemon_spec_t *spec);

/* A new thread's state: its PyThreadState in the main interpreter now,
 * one in each named group's on its first request there. */
pyw_app_thread_t *pyw_interp_thread_new(void);

/* Take the GIL with t's thread state and give it back at once, then the
 * same for every interpreter with a GIL of its own: the deadlock
 * watchdog's heartbeat.  GIL not held; may wait for it. */
void pyw_interp_thread_ping(pyw_app_thread_t *t);

/*
 * Write the Python stack of every thread of every interpreter to the
 * error log (fd 2): faulthandler's dump, one interpreter after the other
 * (pyw_stacks.c), so it needs no GIL and works while some thread holds a
 * GIL forever.  Any thread.  0, or -1 when faulthandler could not be set
 * up (logged at start).
 */
int pyw_interp_dump_stacks(int level);

/* Each interpreter's atexit callbacks: named groups first, the main
 * interpreter last.  Main thread, GIL not held. */
void pyw_interp_stop(void);

#endif /* PYW_INTERP_H */

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
 *   pyw_interp_stop()       GIL not held; takes it, runs atexit callbacks.
 */
#ifndef PYW_INTERP_H
#define PYW_INTERP_H

#include "../daemon/pyw_daemon.h"

typedef struct pyw_interp_thread pyw_interp_thread_t;

/* Initialize CPython (python-home, python-path, lang/locale, no signal
 * handlers of its own), redirect sys.stdout/stderr to the error log, run
 * the import scripts.  0, or -1 with the cause logged. */
int pyw_interp_start(const pyw_daemon_spec_t *spec);

/* One PyThreadState per worker thread, for the main interpreter. */
pyw_interp_thread_t *pyw_interp_thread_new(void);

void pyw_interp_stop(void);

#endif /* PYW_INTERP_H */

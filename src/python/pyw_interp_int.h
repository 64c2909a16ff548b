/*
 * pyw_interp_int.h - private to the files of the process's Python start
 * (pyw_interp*.c): what pyw_interp.c calls of pyw_interp_config.c.
 */
#ifndef PYW_INTERP_INT_H
#define PYW_INTERP_INT_H

#include "pyw_interp.h"

/* Configure and initialize CPython for spec: sys.argv, program name,
 * python-home (a virtualenv checked first).  Main thread, before any
 * other Python call; returns with the GIL held.  0, or -1 logged
 * (PYW0300, PYW0305). */
int pyw_interp_initialize(const pyw_daemon_spec_t *spec);

#endif /* PYW_INTERP_INT_H */

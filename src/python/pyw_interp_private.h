/*
 * pyw_interp_private.h - what pyw_interp.c shares with the rest of
 * src/python/ (and nobody else): the per-thread state behind the opaque
 * pyw_app_thread_t, and start-up facts the WSGI adapter reports.
 */
#ifndef PYW_INTERP_PRIVATE_H
#define PYW_INTERP_PRIVATE_H

#include "pyw_python.h"
#include "pyw_interp.h"

struct pyw_app_thread {
    /* This worker thread's state in the main interpreter; created on and
     * used only by that thread (PyEval_RestoreThread / SaveThread). */
    PyThreadState *tstate;
};

/* Worker threads of this daemon process (spec->threads), for
 * wsgi.multithread. */
int pyw_interp_threads(void);

/* Processes of the group (spec->processes), for wsgi.multiprocess:
 * False with one, as mod_wsgi says (Werkzeug's debugger needs it). */
int pyw_interp_processes(void);

/* pyw_wsgi.c: environ keys and the start_response type, once at start
 * (GIL held).  0 / -1 (exception set). */
int pyw_wsgi_init(void);

#endif /* PYW_INTERP_PRIVATE_H */

/*
 * pyw_interp_private.h - what pyw_interp*.c and pyw_subinterp.c share
 * with the rest of src/python/ (and nobody else): the interpreter of each
 * application group, the per-thread states behind the opaque
 * pyw_app_thread_t, and start-up facts the WSGI adapter reports.
 *
 * The one rule: a Python object belongs to the interpreter that made it
 * and is used only with that interpreter's GIL held, by a thread state of
 * that interpreter.  So every object the adapter keeps beyond a request
 * (types, environ keys and template, loaded scripts) lives in the
 * pyw_interp_t of its interpreter, never in a C static.
 */
#ifndef PYW_INTERP_PRIVATE_H
#define PYW_INTERP_PRIVATE_H

#include "pyw_python.h"
#include "pyw_interp.h"

/* Named application groups one daemon process holds at most (a client
 * choosing names through %{HOST} must not make it create thousands);
 * index 0 is the main interpreter. */
#define PYW_INTERP_MAX  64

typedef struct pyw_wsgi_cache pyw_wsgi_cache_t;     /* pyw_wsgi_int.h */
typedef struct pyw_script_entry pyw_script_entry_t; /* pyw_script_int.h */

/* One interpreter: the main one (%{GLOBAL}) or a named application
 * group's.  Fixed once its creation finished (pyw_subinterp.c publishes
 * it then); the objects are used only with its GIL held. */
typedef struct pyw_interp {
    int                 index;      /* 0: main; named: 1.. in creation
                                       order                            */
    int                 own_gil;    /* PEP 684: a GIL of its own        */
    PyInterpreterState *istate;
    const char         *name;       /* "" for the main interpreter      */
    size_t              name_len;
    /* Heap types of this interpreter (pyw_*_init_type). */
    PyTypeObject       *errors_type;
    PyTypeObject       *input_type;
    PyTypeObject       *filewrapper_type;
    PyTypeObject       *start_response_type;
    pyw_wsgi_cache_t   *wsgi;       /* environ keys, template
                                       (pyw_wsgi_environ.c)             */
    pyw_script_entry_t *scripts;    /* loaded WSGI scripts (pyw_script.c) */
    PyObject           *stdio[2];   /* the sys.stdout and sys.stderr it
                                       installed (pyw_errors.c): a
                                       request's partial lines end with
                                       it, looked up without sys        */
} pyw_interp_t;

struct pyw_app_thread {
    /* This thread's state in interpreter i (pyw_interp_t.index): ts[0]
     * in the main one, made with the thread; the others on the thread's
     * first request there, then kept.  Used only by this thread
     * (PyEval_RestoreThread / SaveThread). */
    PyThreadState *ts[PYW_INTERP_MAX + 1];
};

/* The main interpreter (%{GLOBAL}); istate set at start. */
extern pyw_interp_t pyw_interp_main;

/* Worker threads of this daemon process (spec->threads), for
 * wsgi.multithread. */
int pyw_interp_threads(void);

/* Processes of the group (spec->processes), for wsgi.multiprocess:
 * False with one, as mod_wsgi says (Werkzeug's debugger needs it). */
int pyw_interp_processes(void);

/*
 * pyw_interp_setup.c: everything an interpreter needs before its first
 * request, in ip (the current interpreter, GIL held): python-path,
 * threading, the types and caches of ip, sys.stdout/stderr to the log,
 * the signal.signal and os._exit guards (and, in the main one,
 * faulthandler for the stack dumps).  0, or -1 logged.
 */
int pyw_interp_setup(pyw_interp_t *ip, const pyw_daemon_spec_t *spec);

/* pyw_wsgi_environ.c: environ keys, template and the start_response
 * type of ip, once per interpreter (GIL held).  0 / -1 (exception set). */
int pyw_wsgi_init(pyw_interp_t *ip);

/*
 * pyw_subinterp.c: the named application groups' interpreters.
 *
 * pyw_subinterp_enter: the interpreter of application group name/len
 * ("" is the main one), created on first use, with t's state in it made
 * current and its GIL held.  GIL not held on entry.  Another thread
 * creating the same group is waited for (without any GIL).  NULL, GIL
 * not held, when it cannot be had (logged: PYW0314, with uri).
 * pyw_subinterp_leave: give the GIL back (PyEval_SaveThread).
 */
pyw_interp_t *pyw_subinterp_enter(pyw_app_thread_t *t, const char *name,
                                  size_t len, const char *uri);
void pyw_subinterp_leave(void);

/* The spec (for own-gil=, python-path), once at start. */
void pyw_subinterp_init(const pyw_daemon_spec_t *spec);

/* The interpreter the calling thread runs in (GIL held), or NULL. */
const pyw_interp_t *pyw_subinterp_current(void);

/* Take and give back the GIL of every interpreter with its own (the
 * main one is the caller's): the heartbeat. */
void pyw_subinterp_ping(pyw_app_thread_t *t);

/* Main thread, at stop, GIL not held: run fn in each named group's
 * interpreter (in creation order), each entered with t's state. */
void pyw_subinterp_each(pyw_app_thread_t *t, void (*fn)(pyw_interp_t *));

#endif /* PYW_INTERP_PRIVATE_H */

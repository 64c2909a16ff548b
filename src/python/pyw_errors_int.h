/*
 * pyw_errors_int.h - private to the error log stream files
 * (pyw_errors*.c): the Log object and what the pieces call of each other.
 *
 * Thread safety: sys.stdout is shared by every thread of its
 * interpreter.  All state changes happen with that interpreter's GIL
 * held and nothing here releases it (pyw_dlog is one write() and may be
 * called with the GIL held), so no lock is needed.  Each interpreter has
 * its own type (pyw_interp_t.errors_type) and its own sys.stdout/stderr.
 */
#ifndef PYW_ERRORS_INT_H
#define PYW_ERRORS_INT_H

#include "pyw_python.h"

#include <pthread.h>
#include <stddef.h>

#include "pyw_errors.h"

#define PYW_ERRORS_LINE_MAX     8000

#define PYW_ERRORS_URI_MAX      512

typedef struct {
    PyObject_HEAD
    int     code;       /* log code of every line */
    char   *uri;        /* PyMem copy, or NULL: a shared sys stream */
    char   *pend;       /* partial line, PYW_ERRORS_LINE_MAX bytes */
    size_t  len;        /* bytes in pend */
    /* A shared stream's partial line belongs to the thread that wrote
     * it, and to its request: another thread's text never joins it. */
    pthread_t owner;
    char    owner_uri[PYW_ERRORS_URI_MAX];  /* "" for none */
} pyw_errors_t;

/* Text into log lines (pyw_errors_lines.c). */

/* Log the partial line, if any. */
void pyw_errors_emit_pending(pyw_errors_t *self);

/* The same, only if the calling thread wrote it (a request ends). */
void pyw_errors_emit_own_pending(pyw_errors_t *self);

/* Log every complete line of p[0, n), keep the rest as the partial
 * line. */
void pyw_errors_feed(pyw_errors_t *self, const char *p, size_t n);

/* UTF-8 of a str (lone surrogates as backslash escapes); *tmp holds the
 * bytes object, if one was made.  NULL with an exception set. */
const char *pyw_errors_utf8(PyObject *s, Py_ssize_t *n, PyObject **tmp);

/* Logging records at their own level (pyw_errors_record.c). */

/* Log._pyworker_record(level, text), a method of the Log type. */
PyObject *pyw_errors_record_method(PyObject *self, PyObject *args);

/* Replace logging.StreamHandler.emit, once per interpreter.
 * 0 / -1 (exception set). */
int pyw_errors_route_logging(const pyw_interp_t *ip);

#endif /* PYW_ERRORS_INT_H */

/*
 * pyw_errors.h - wsgi.errors and the sys.stdout/sys.stderr redirect:
 * file-like objects whose text becomes error log lines (pyw_dlog) that
 * name the group and the request URI (wsgi.errors: its request; stdout
 * and stderr: the request running on the writing thread, if any).
 *
 * GIL: every function here is called with the GIL of ip (the current
 * interpreter) held.
 */
#ifndef PYW_ERRORS_H
#define PYW_ERRORS_H

#include "pyw_python.h"

typedef struct pyw_interp pyw_interp_t;

/* Make ip's type; once per interpreter.  0 / -1 (exception set). */
int pyw_errors_init_type(pyw_interp_t *ip);

/* New wsgi.errors for one request: write/writelines/flush -> error log
 * lines with group and uri.  uri is copied (may be NULL).  New reference,
 * or NULL with an exception set. */
PyObject *pyw_errors_new(const pyw_interp_t *ip, const char *uri);

/* Replace ip's sys.stdout and sys.stderr with error-log objects.  Their
 * lines name the request the writing thread runs, if any
 * (pyw_dlog_set_request).  Also imports logging and replaces
 * logging.StreamHandler.emit, so that a record whose handler writes to
 * any of these objects is logged at its own level instead of as text
 * (PYW0363; other handlers are untouched).  Once per interpreter.
 * 0 / -1 (exception set). */
int pyw_errors_redirect_stdio(pyw_interp_t *ip);

/* A request ends on this thread: the partial lines it wrote are logged
 * now, under its uri, not left to join a later line: in its wsgi.errors
 * (which the application may keep, or NULL) and its part of ip's
 * sys.stdout and sys.stderr. */
void pyw_errors_request_done(const pyw_interp_t *ip, PyObject *wsgi_errors);

#endif /* PYW_ERRORS_H */

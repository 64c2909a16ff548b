/*
 * pyw_errors.h - wsgi.errors and the sys.stdout/sys.stderr redirect:
 * file-like objects whose text becomes error log lines (pyw_dlog) that
 * name the group and, for wsgi.errors, the request URI.
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

/* Replace ip's sys.stdout and sys.stderr with error-log objects (no
 * uri).  0 / -1 (exception set). */
int pyw_errors_redirect_stdio(const pyw_interp_t *ip);

#endif /* PYW_ERRORS_H */

/*
 * pyw_response_int.h - private to the response files (pyw_response*.c):
 * the start_response validation that pyw_response_start.c calls.
 *
 * GIL held; errors are raised as Python exceptions.
 */
#ifndef PYW_RESPONSE_INT_H
#define PYW_RESPONSE_INT_H

#include "pyw_python.h"

/* "NNN reason": the code, or -1 with ValueError/TypeError. */
int pyw_response_check_status(PyObject *status);

/* A validated private copy of the header list (sets *cl to its
 * Content-Length, -1 when none), or NULL with an exception set. */
PyObject *pyw_response_check_headers(PyObject *headers, long long *cl);

#endif /* PYW_RESPONSE_INT_H */

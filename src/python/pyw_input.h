/*
 * pyw_input.h - wsgi.input: the request body, pulled from Apache on
 * demand (READ/BODY frames) through pyw_dconn_read_body(), and kept as
 * it is read (pyw_rewind) so that the app can seek() back.
 *
 * GIL: every function here is called with the GIL held; the object
 * releases it around each pyw_dconn_read_body() call (and the keeping of
 * what it returned) and around reads of a kept file.
 */
#ifndef PYW_INPUT_H
#define PYW_INPUT_H

#include "pyw_python.h"
#include "../daemon/pyw_dconn.h"

typedef struct pyw_interp pyw_interp_t;

/* Make ip's type; once per interpreter.  0 / -1 (exception set). */
int pyw_input_init_type(pyw_interp_t *ip);

/* New wsgi.input of interpreter ip over connection c.  content_length:
 * body size from CONTENT_LENGTH, or -1 when unknown (chunked).  New
 * reference, or NULL with an exception set. */
PyObject *pyw_input_new(const pyw_interp_t *ip, pyw_dconn_t *c,
                        long long content_length);

/* The request is over: every later call on the object raises OSError
 * and never touches c (the app may have kept a reference); the kept
 * body is freed and its file closed. */
void pyw_input_detach(const pyw_interp_t *ip, PyObject *input);

#endif /* PYW_INPUT_H */

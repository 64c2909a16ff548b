/*
 * pyw_wsgi.h - run one WSGI request (PEP 3333) on the calling thread.
 *
 * Called by a worker thread without the GIL.  environ/len is the REQUEST
 * payload (pairs); it lives in the connection's read buffer and is only
 * valid until the first body read, so it is copied into the environ dict
 * first.  The script is SCRIPT_FILENAME, loaded once per process.
 *
 * The whole request - load, call, iteration, close() - runs on this
 * thread, and the function returns only after it sent END or ERROR.
 * Returns 0 when the connection is clean and may serve another request,
 * -1 when it must be closed (I/O failed, Apache went away).
 */
#ifndef PYW_WSGI_H
#define PYW_WSGI_H

#include <stddef.h>
#include "pyw_interp.h"
#include "../daemon/pyw_dconn.h"

int pyw_wsgi_handle(pyw_app_thread_t *t, pyw_dconn_t *c,
                    const unsigned char *environ, size_t len);

#endif /* PYW_WSGI_H */

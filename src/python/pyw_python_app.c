/*
 * pyw_python_app.c - the one place that hands the embedded interpreter
 * and the WSGI adapter to the daemon, so src/daemon needs no header from
 * src/python (see src/daemon/pyw_app.h).
 */
#include "pyw_interp.h"
#include "pyw_python_app.h"
#include "pyw_wsgi.h"

const pyw_app_t pyw_python_app = {
    .start       = pyw_interp_start,
    .thread_new  = pyw_interp_thread_new,
    .handle      = pyw_wsgi_handle,
    .ping        = pyw_interp_thread_ping,
    .dump_stacks = pyw_interp_dump_stacks,
    .stop        = pyw_interp_stop,
};

/*
 * pyw_status_page.h - "SetHandler pyworker-status" (HTML, ?json,
 * ?prometheus), the per-group lines on mod_status's page, and the count
 * every forwarded request adds to its group's metrics.
 */
#ifndef PYW_STATUS_PAGE_H
#define PYW_STATUS_PAGE_H

#include "apr_pools.h"
#include "httpd.h"

#include "pyw_config.h"

#define PYW_STATUS_HANDLER_NAME "pyworker-status"

/* The handler, once a request for g is answered: `status` is what the
 * handler returns (OK: r->status), `what` a few words on a failure
 * (NULL: none).  Three relaxed atomic adds; a 5xx also records the
 * group's last error. */
void pyw_status_count(request_rec *r, const pyw_group_t *g, int status,
                      const char *what);

/* The handler logged error PYW<code> about daemon `pid` of g: the last
 * error of that process's slot, if pid is one the parent started.  A
 * scan of the slots and a copy into the shared metrics; no allocation. */
void pyw_status_proc_error(const pyw_group_t *g, long pid, int code,
                           const char *text);

void pyw_status_register_hooks(apr_pool_t *p);

#endif /* PYW_STATUS_PAGE_H */

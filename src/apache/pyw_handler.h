/*
 * pyw_handler.h - the content handler for "pyworker-script": picks the
 * group, gets a daemon connection (pyw_conn), forwards the request
 * (pyw_forward) and maps any failure to a status in one place.
 */
#ifndef PYW_HANDLER_H
#define PYW_HANDLER_H

#include "apr_pools.h"

void pyw_handler_register_hooks(apr_pool_t *p);

#endif /* PYW_HANDLER_H */

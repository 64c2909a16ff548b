/*
 * pyw_proxy.h - mod_proxy's pyworker://GROUP/ scheme (pyw_proxy.c) and
 * the byfreeworkers balancer method (pyw_lbmethod.c).  Both are
 * registered without linking to mod_proxy: mod_pyworker loads and works
 * without it.
 */
#ifndef PYW_PROXY_H
#define PYW_PROXY_H

#include "apr_pools.h"

#include "pyw_config.h"

/* The scheme and canon hooks (optional hooks of mod_proxy). */
void pyw_proxy_register_hooks(apr_pool_t *p);

/* The lbmethod provider "byfreeworkers". */
void pyw_lbmethod_register(apr_pool_t *p);

/* The group a pyworker:// URL's host names, in any case; NULL if none. */
const pyw_group_t *pyw_proxy_find_group(const char *name);

#endif /* PYW_PROXY_H */

/*
 * pyw_conftree.h - other modules' directives, read from the
 * configuration tree, keyed by the server they apply to.
 *
 * Some settings we need are kept private by their module (core's
 * ErrorLogFormat as text, mod_proxy_hcheck's ProxyHCExpr).  The tree
 * still has them as written, and only those that apply: core drops a
 * false <IfModule>, <IfDefine> and their kin while it reads the files.
 */
#ifndef PYW_CONFTREE_H
#define PYW_CONFTREE_H

#include "httpd.h"
#include "util_cfgtree.h"

/* The key of the server a directive applies to: "" for the main server,
 * the file and line of its <VirtualHost> for a virtual host. */
const char *pyw_conftree_scope(apr_pool_t *p, const server_rec *s);

typedef void pyw_conftree_fn(void *baton, const char *scope,
                             const ap_directive_t *d);

/* Calls fn for each `directive` in the tree, in file order, with the
 * scope it is in. */
void pyw_conftree_each(apr_pool_t *p, const char *directive,
                       pyw_conftree_fn *fn, void *baton);

#endif /* PYW_CONFTREE_H */

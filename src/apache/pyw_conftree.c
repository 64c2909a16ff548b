/*
 * pyw_conftree.c - other modules' directives from the configuration tree
 * (see pyw_conftree.h).
 */
#include <strings.h>

#include "apr_strings.h"
#include "httpd.h"
#include "http_config.h"

#include "pyw_conftree.h"

static const char *pyw_conftree_key(apr_pool_t *p, const char *file,
                                    unsigned line)
{
    return apr_psprintf(p, "%s:%u", file ? file : "", line);
}

const char *pyw_conftree_scope(apr_pool_t *p, const server_rec *s)
{
    return s->is_virtual
           ? pyw_conftree_key(p, s->defn_name, s->defn_line_number) : "";
}

static void pyw_conftree_walk(apr_pool_t *p, const char *directive,
                              pyw_conftree_fn *fn, void *baton,
                              const char *scope, const ap_directive_t *d)
{
    for (; d != NULL; d = d->next) {
        if (strcasecmp(d->directive, directive) == 0) {
            fn(baton, scope, d);
        }
        else if (strcasecmp(d->directive, "<VirtualHost") == 0) {
            pyw_conftree_walk(p, directive, fn, baton,
                              pyw_conftree_key(p, d->filename, d->line_num),
                              d->first_child);
        }
        else {
            pyw_conftree_walk(p, directive, fn, baton, scope,
                              d->first_child);
        }
    }
}

void pyw_conftree_each(apr_pool_t *p, const char *directive,
                       pyw_conftree_fn *fn, void *baton)
{
    pyw_conftree_walk(p, directive, fn, baton, "", ap_conftree);
}

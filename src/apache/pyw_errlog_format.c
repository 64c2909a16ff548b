/*
 * pyw_errlog_format.c - the ErrorLogFormat a group's daemons write in.
 *
 * Core keeps the format parsed into handlers of its own, so its text is
 * read from the configuration tree: the last main-form ErrorLogFormat of
 * the server, else the main server's (a virtual host inherits it), else
 * none (Apache's default).  The "connection" and "request" forms are
 * lines Apache adds once per connection or request; daemons have
 * neither.  Core has checked every format before this runs.
 */
#include <strings.h>

#include "apr_hash.h"
#include "apr_strings.h"
#include "httpd.h"
#include "http_config.h"

#include "pyw_conftree.h"
#include "pyw_errlog_format.h"

/* scope -> the format's text ("": Apache's default) */
static apr_hash_t *pyw_errlog_formats;

static void pyw_errlog_format_add(void *baton, const char *scope,
                                  const ap_directive_t *d)
{
    apr_pool_t *p = baton;
    const char *args = d->args;
    const char *format = ap_getword_conf(p, &args);

    if (*ap_getword_conf(p, &args) != '\0') {
        return;                 /* ErrorLogFormat connection|request ... */
    }
    apr_hash_set(pyw_errlog_formats, scope, APR_HASH_KEY_STRING, format);
}

void pyw_errlog_formats_load(apr_pool_t *pconf)
{
    pyw_errlog_formats = apr_hash_make(pconf);
    pyw_conftree_each(pconf, "ErrorLogFormat", pyw_errlog_format_add,
                      pconf);
}

const char *pyw_errlog_format(apr_pool_t *p, const server_rec *s)
{
    const char *format = NULL;

    if (pyw_errlog_formats == NULL) {
        return NULL;
    }
    if (s->is_virtual) {
        format = apr_hash_get(pyw_errlog_formats, pyw_conftree_scope(p, s),
                              APR_HASH_KEY_STRING);
    }
    if (format == NULL) {
        format = apr_hash_get(pyw_errlog_formats, "", APR_HASH_KEY_STRING);
    }
    return format != NULL && *format != '\0' ? format : NULL;
}

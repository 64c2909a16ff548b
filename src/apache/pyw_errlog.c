/*
 * pyw_errlog.c - where a group's daemons log, and in what format (see
 * pyw_errlog.h).
 *
 * Core keeps the format parsed into handlers of its own, so its text is
 * read from the configuration tree: the last main-form ErrorLogFormat of
 * the server, else the main server's (a virtual host inherits it), else
 * none (Apache's default).  The "connection" and "request" forms are
 * lines Apache adds once per connection or request; daemons have
 * neither.  Core has checked every format before this runs.
 */
#define SYSLOG_NAMES            /* facilitynames[], as Apache reads them */
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include "apr_hash.h"
#include "apr_portable.h"
#include "apr_strings.h"
#include "httpd.h"
#include "http_config.h"
#include "http_main.h"

#include "../common/pyw_logformat.h"
#include "pyw_conftree.h"
#include "pyw_errlog.h"

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

static const char *pyw_errlog_format(apr_pool_t *p, const server_rec *s)
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

/* "syslog[:facility[:tag]]", read as Apache reads it for its own
 * openlog(): local7 and the program's name unless given. */
static void pyw_errlog_syslog(apr_pool_t *p, const char *fname,
                              pyw_errlog_t *out)
{
    const char *colon = strchr(fname, ':');
    char *facility, *tag;
    int i;

    out->syslog = 1;
    out->facility = LOG_LOCAL7;
    out->tag = ap_server_argv0;
    if (colon == NULL) {
        return;
    }
    facility = apr_pstrdup(p, colon + 1);
    if ((tag = strchr(facility, ':')) != NULL) {
        *tag++ = '\0';
        if (*tag != '\0') {
            out->tag = tag;
        }
    }
    for (i = 0; facilitynames[i].c_name != NULL; i++) {
        if (strcasecmp(facility, facilitynames[i].c_name) == 0) {
            out->facility = facilitynames[i].c_val;
            break;
        }
    }
}

void pyw_errlog_of(apr_pool_t *p, const server_rec *s,
                   const server_rec *main, pyw_errlog_t *out)
{
    const char *fname = s->error_fname ? s->error_fname : main->error_fname;
    pyw_logformat_t *f;
    apr_os_file_t fd;

    memset(out, 0, sizeof(*out));
    out->fd = -1;
    out->format = pyw_errlog_format(p, s);
    if (out->format != NULL
        && (f = pyw_logformat_parse(out->format)) != NULL) {
        out->log_id = pyw_logformat_uses(f, 'L');
        pyw_logformat_free(f);
    }
    if (s->error_log != NULL) {
        if (apr_os_file_get(&fd, s->error_log) == APR_SUCCESS) {
            out->fd = fd;
        }
    }
    else if (fname != NULL && strncasecmp(fname, "syslog", 6) == 0) {
        pyw_errlog_syslog(p, fname, out);
    }
}

/*
 * pyw_status_page.c - the "pyworker-status" handler, mod_status's hook, and
 * the per-request count (see pyw_status_page.h).
 *
 * Like server-status, the handler restricts nothing itself: the
 * administrator puts it in a <Location> with Require (README).  It shows
 * the groups visible from the request's virtual host only.
 */
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "apr_optional_hooks.h"
#include "apr_strings.h"
#include "mod_status.h"

#include "pyw_procmgr.h"
#include "pyw_status_page.h"
#include "pyw_status_data.h"
#include "pyw_status_render.h"
#include "../common/pyw_metrics.h"

#define PYW_STATUS_REFRESH      5       /* seconds, unless ?refresh=N */
#define PYW_STATUS_REFRESH_MAX  3600

void pyw_status_count(request_rec *r, const pyw_group_t *g, int status,
                      const char *what)
{
    struct pyw_metrics *m = pyw_pm_metrics(g);
    int answered = status == OK ? r->status : status;
    apr_time_t now = apr_time_now();

    pyw_metrics_request(m, answered, (int64_t)(now - r->request_time));
    if (answered >= 500 && answered < 600) {
        /* As sent, as the worker rows show it: r->uri is decoded. */
        const char *uri = r->unparsed_uri && r->unparsed_uri[0] == '/'
                          ? r->unparsed_uri : ap_escape_uri(r->pool, r->uri);

        pyw_metrics_error(m, answered, apr_time_as_msec(now), uri,
                          what ? what : "the application answered");
    }
}

void pyw_status_proc_error(const pyw_group_t *g, long pid, int code,
                           const char *text)
{
    struct pyw_metrics *m = pyw_pm_metrics(g);
    int index = pyw_metrics_find_proc(m, (pid_t)pid);

    if (index >= 0) {
        pyw_metrics_proc_error(m, index, (pid_t)pid, code,
                               apr_time_as_msec(apr_time_now()), text);
    }
}

typedef enum { PYW_FORM_HTML, PYW_FORM_JSON, PYW_FORM_PROM } pyw_form_e;

/* ?json, ?prometheus, ?refresh=N, in any order, '&' or ';' apart. */
static pyw_form_e pyw_status_args(request_rec *r, int *refresh)
{
    char *args = r->args ? apr_pstrdup(r->pool, r->args) : NULL;
    pyw_form_e form = PYW_FORM_HTML;
    char *tok, *last;

    *refresh = PYW_STATUS_REFRESH;
    for (tok = args ? apr_strtok(args, "&;", &last) : NULL; tok != NULL;
         tok = apr_strtok(NULL, "&;", &last)) {
        if (strcmp(tok, "json") == 0) {
            form = PYW_FORM_JSON;
        }
        else if (strcmp(tok, "prometheus") == 0) {
            form = PYW_FORM_PROM;
        }
        else if (strncmp(tok, "refresh=", 8) == 0) {
            *refresh = atoi(tok + 8);
            if (*refresh < 1 || *refresh > PYW_STATUS_REFRESH_MAX) {
                *refresh = PYW_STATUS_REFRESH;
            }
        }
    }
    return form;
}

static int pyw_status_handler(request_rec *r)
{
    pyw_status_t *st;
    int refresh;
    pyw_form_e form;

    if (r->handler == NULL
        || strcmp(r->handler, PYW_STATUS_HANDLER_NAME) != 0) {
        return DECLINED;
    }
    r->allowed = AP_METHOD_BIT << M_GET;
    if (r->method_number != M_GET) {
        return HTTP_METHOD_NOT_ALLOWED;
    }
    form = pyw_status_args(r, &refresh);
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    st = pyw_status_collect(r);
    if (r->header_only) {
        ap_set_content_type(r, form == PYW_FORM_HTML ? "text/html" :
                            form == PYW_FORM_JSON ? "application/json"
                            : "text/plain; version=0.0.4");
        return OK;
    }
    switch (form) {
    case PYW_FORM_JSON:
        return pyw_status_json(r, st);
    case PYW_FORM_PROM:
        return pyw_status_prometheus(r, st);
    default:
        return pyw_status_html(r, st, refresh);
    }
}

/* mod_status with ExtendedStatus On: a line per group. */
static int pyw_status_mod_status(request_rec *r, int flags)
{
    pyw_status_t *st;
    int i;

    if (!(flags & AP_STATUS_EXTENDED) || pyw_globals.groups == NULL
        || pyw_globals.groups->nelts == 0) {
        return OK;
    }
    st = pyw_status_collect(r);
    if (!(flags & AP_STATUS_SHORT)) {
        ap_rputs("<hr /><h2>mod_pyworker daemon groups</h2>\n<dl>", r);
    }
    for (i = 0; i < st->n; i++) {
        const pyw_status_group_t *sg = &st->groups[i];

        ap_rprintf(r, (flags & AP_STATUS_SHORT)
                   ? "PyWorkerGroup: %s ready=%d/%d busy=%d idle=%d "
                     "queued=%d requests=%" APR_UINT64_T_FMT "\n"
                   : "<dt>PyWorker group %s: %d/%d processes ready, %d busy "
                     "and %d idle threads, %d queued, %" APR_UINT64_T_FMT
                     " requests</dt>\n",
                   ap_escape_html2(r->pool, sg->g->name, 1), sg->ready,
                   sg->g->processes, sg->busy, sg->idle, sg->queued,
                   sg->requests);
    }
    if (!(flags & AP_STATUS_SHORT)) {
        ap_rputs("</dl>\n", r);
    }
    return OK;
}

void pyw_status_register_hooks(apr_pool_t *p)
{
    ap_hook_handler(pyw_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
    /* Optional: works whether or not mod_status is loaded. */
    APR_OPTIONAL_HOOK(ap, status_hook, pyw_status_mod_status, NULL, NULL,
                      APR_HOOK_MIDDLE);
}

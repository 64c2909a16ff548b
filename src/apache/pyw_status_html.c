/*
 * pyw_status_html.c - the status snapshot as an HTML page that reloads
 * itself: a summary table of groups, then per group a table of processes
 * and one of worker threads.  Every string is HTML-escaped.
 */
#include "apr_strings.h"
#include "httpd.h"
#include "http_protocol.h"

#include "pyw_status_data.h"
#include "pyw_status_render.h"

static const char pyw_html_style[] =
    "<style>body{font-family:sans-serif;margin:1em}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "th,td{border:1px solid #999;padding:2px 8px;text-align:right}"
    "th{background:#dde}td.l{text-align:left}"
    "tr.busy td{background:#fec}tr.old td{color:#666}</style>\n";

static const char *pyw_html_esc(request_rec *r, const char *s)
{
    return ap_escape_html2(r->pool, s ? s : "", 1);
}

static const char *pyw_html_secs(request_rec *r, int64_t ms)
{
    return apr_psprintf(r->pool, "%.1f s", ms / 1e3);
}

static void pyw_html_summary_row(request_rec *r, const pyw_status_t *st,
                                 const pyw_status_group_t *sg)
{
    const pyw_metrics_err_t *e = &sg->m.err;
    uint64_t restarts = 0;
    int c;

    for (c = 0; c < PYW_CAUSES; c++) {
        restarts += sg->m.restarts[c];
    }
    ap_rprintf(r, "<tr><td class=l><a href=\"#g-%s\">%s</a></td>"
               "<td>%d/%d</td><td>%d</td><td>%d</td><td>%d</td><td>%s</td>"
               "<td class=requests>%" APR_UINT64_T_FMT "</td>",
               pyw_html_esc(r, sg->g->name), pyw_html_esc(r, sg->g->name),
               sg->ready, sg->g->processes, sg->busy, sg->idle, sg->queued,
               sg->backlog >= 0 ? apr_itoa(r->pool, sg->backlog) : "-",
               sg->requests);
    for (c = 1; c < PYW_METRICS_CLASSES; c++) {
        ap_rprintf(r, "<td>%" APR_UINT64_T_FMT "</td>", sg->m.requests[c]);
    }
    ap_rprintf(r, "<td>%" APR_UINT64_T_FMT "</td>", restarts);
    if (e->status) {
        ap_rprintf(r, "<td class=l>%d %s: %s (%s ago)</td></tr>\n",
                   (int)e->status, pyw_html_esc(r, e->uri),
                   pyw_html_esc(r, e->what),
                   pyw_html_secs(r, st->now_ms - e->ms));
    }
    else {
        ap_rputs("<td class=l>-</td></tr>\n", r);
    }
}

static void pyw_html_summary(request_rec *r, const pyw_status_t *st)
{
    int i;

    ap_rputs("<table id=groups><tr><th>group</th><th>ready</th>"
             "<th>busy</th><th>idle</th><th>queued</th><th>backlog</th>"
             "<th>requests</th>"
             "<th>1xx</th><th>2xx</th><th>3xx</th><th>4xx</th><th>5xx</th>"
             "<th>restarts</th><th>last error</th></tr>\n", r);
    for (i = 0; i < st->n; i++) {
        pyw_html_summary_row(r, st, &st->groups[i]);
    }
    ap_rputs("</table>\n", r);
}

static void pyw_html_restarts(request_rec *r, const pyw_status_group_t *sg)
{
    int c;

    ap_rputs("<p>Restarts by cause:", r);
    for (c = 0; c < PYW_CAUSES; c++) {
        ap_rprintf(r, " %s %" APR_UINT64_T_FMT "%s", pyw_cause_name(c),
                   sg->m.restarts[c], c + 1 < PYW_CAUSES ? "," : "");
    }
    ap_rputs("</p>\n", r);
}

/* queue-limit=: what Apache holds for the group against its cap. */
static void pyw_html_in_apache(request_rec *r, const pyw_status_group_t *sg)
{
    const pyw_group_t *g = sg->g;

    if (sg->in_apache < 0) {
        return;
    }
    ap_rprintf(r, "<p>Requests in Apache: %d of at most %ld (%d x %d "
               "workers + queue-limit %d)</p>\n", sg->in_apache,
               (long)g->processes * g->threads + g->queue_limit,
               g->processes, g->threads, g->queue_limit);
}

/* The slot's last error, on its current process's row. */
static void pyw_html_proc_error(request_rec *r, const pyw_status_t *st,
                                const pyw_status_proc_t *sp)
{
    const pyw_metrics_perr_t *e = &sp->pm.err;

    if (sp->old || e->code <= 0) {
        ap_rputs("<td class=l>-</td>", r);
        return;
    }
    ap_rprintf(r, "<td class=l>PYW%04d pid %ld: %s (%s ago)</td>",
               (int)e->code, (long)e->pid, pyw_html_esc(r, e->text),
               pyw_html_secs(r, st->now_ms - e->ms));
}

static void pyw_html_proc_row(request_rec *r, const pyw_status_t *st,
                              const pyw_status_proc_t *sp)
{
    ap_rprintf(r, "<tr%s><td>%d</td><td>%ld</td><td class=l>%s%s</td>"
               "<td>%s</td>", sp->old ? " class=old" : "", sp->index + 1,
               (long)sp->pm.pid, sp->state,
               sp->old && sp->pm.old_draining
               ? apr_pstrcat(r->pool, " for ",
                             pyw_html_secs(r, sp->draining_ms), NULL) : "",
               sp->pm.pid > 0 && sp->uptime_ms >= 0
               ? pyw_html_secs(r, sp->uptime_ms) : "-");
    if (sp->have_stat) {
        ap_rprintf(r, "<td>%.1f MB</td><td>%.2f s</td>",
                   sp->rss_bytes / 1048576.0, sp->cpu_s);
    }
    else {
        ap_rputs("<td>-</td><td>-</td>", r);
    }
    if (sp->have_workers) {
        ap_rprintf(r, "<td>%d</td><td>%" APR_UINT64_T_FMT "</td><td>%d</td>",
                   sp->busy, sp->requests, sp->queued);
    }
    else {
        ap_rputs("<td>-</td><td>-</td><td>-</td>", r);
    }
    ap_rprintf(r, "<td>%" APR_UINT64_T_FMT "</td><td class=l>%s</td>",
               sp->pm.restarts, sp->pm.last_cause[0]
               ? pyw_html_esc(r, sp->pm.last_cause) : "-");
    pyw_html_proc_error(r, st, sp);
    ap_rputs("</tr>\n", r);
}

/* The old process of slot i, if listed. */
static const pyw_status_proc_t *pyw_html_old_of(const pyw_status_group_t *sg,
                                                int i)
{
    int k;

    for (k = 0; k < sg->nold; k++) {
        if (sg->olds[k].index == i) {
            return &sg->olds[k];
        }
    }
    return NULL;
}

static void pyw_html_worker_rows(request_rec *r, const pyw_status_proc_t *sp)
{
    int t;

    for (t = 0; sp->have_workers && t < sp->threads; t++) {
        const pyw_wboard_worker_snap_t *w = &sp->workers[t];

        ap_rprintf(r, "<tr%s><td>%d%s</td><td>%d</td><td class=l>%s</td>"
                   "<td>%" APR_UINT64_T_FMT "</td><td>%s</td>"
                   "<td class=l>%s</td></tr>\n",
                   w->busy ? " class=busy" : "", sp->index + 1,
                   sp->old ? apr_pstrcat(r->pool, " (", sp->state, ")", NULL)
                           : "", t + 1,
                   w->busy ? "busy" : "idle", w->requests,
                   w->busy ? pyw_html_secs(r, w->busy_ms) : "-",
                   w->busy ? pyw_html_esc(r, w->uri) : "-");
    }
}

static void pyw_html_workers(request_rec *r, const pyw_status_group_t *sg)
{
    const pyw_status_proc_t *old;
    int i;

    ap_rputs("<table class=workers><tr><th>process</th><th>thread</th>"
             "<th>state</th><th>requests</th><th>for</th><th>URI</th></tr>\n",
             r);
    for (i = 0; i < sg->g->processes; i++) {
        pyw_html_worker_rows(r, &sg->procs[i]);
        if ((old = pyw_html_old_of(sg, i)) != NULL) {
            pyw_html_worker_rows(r, old);
        }
    }
    for (i = 0; i < sg->nold; i++) {
        if (sg->olds[i].index >= sg->g->processes) {    /* slot dropped */
            pyw_html_worker_rows(r, &sg->olds[i]);
        }
    }
    ap_rputs("</table>\n", r);
}

static void pyw_html_group(request_rec *r, const pyw_status_t *st,
                           const pyw_status_group_t *sg)
{
    const pyw_status_proc_t *old;
    int i;

    ap_rprintf(r, "<h2 id=\"g-%s\">Group %s</h2>\n",
               pyw_html_esc(r, sg->g->name), pyw_html_esc(r, sg->g->name));
    pyw_html_restarts(r, sg);
    pyw_html_in_apache(r, sg);
    ap_rputs("<table class=processes><tr><th>process</th><th>pid</th>"
             "<th>state</th><th>up</th><th>RSS</th><th>CPU</th>"
             "<th>busy</th><th>requests</th><th>queued</th><th>restarts</th>"
             "<th>last restart cause</th><th>last error</th></tr>\n", r);
    for (i = 0; i < sg->g->processes; i++) {
        pyw_html_proc_row(r, st, &sg->procs[i]);
        if ((old = pyw_html_old_of(sg, i)) != NULL) {
            pyw_html_proc_row(r, st, old);
        }
    }
    for (i = 0; i < sg->nold; i++) {
        if (sg->olds[i].index >= sg->g->processes) {    /* slot dropped */
            pyw_html_proc_row(r, st, &sg->olds[i]);
        }
    }
    ap_rputs("</table>\n", r);
    pyw_html_workers(r, sg);
}

int pyw_status_html(request_rec *r, const pyw_status_t *st, int refresh)
{
    int i;

    ap_set_content_type(r, "text/html; charset=utf-8");
    ap_rprintf(r, "<!DOCTYPE html>\n<html><head><meta charset=utf-8>"
               "<meta http-equiv=refresh content=\"%d\">"
               "<title>mod_pyworker status</title>\n%s</head><body>\n"
               "<h1>mod_pyworker status</h1>\n<p>%s; refreshes every %d s."
               " Also as <a href=\"?json\">JSON</a> and <a href=\"?"
               "prometheus\">Prometheus</a> text.</p>\n", refresh,
               pyw_html_style, pyw_html_esc(r, ap_ht_time(r->pool,
                   apr_time_now(), "%Y-%m-%d %H:%M:%S %Z", 0)), refresh);
    pyw_html_summary(r, st);
    for (i = 0; i < st->n; i++) {
        pyw_html_group(r, st, &st->groups[i]);
    }
    ap_rputs("</body></html>\n", r);
    return OK;
}

/*
 * pyw_status_json.c - the status snapshot as JSON (?json); the shape is
 * t/schema/status.schema.json, which the tests validate against.
 *
 * Every string goes through pyw_json_str: URIs come from daemons and are
 * already printable ASCII (pyw_wboard.c), but group names, URIs and
 * causes recorded by Apache may hold any byte.
 */
#include "apr_strings.h"
#include "httpd.h"
#include "http_protocol.h"

#include "pyw_status_data.h"
#include "pyw_status_render.h"

/* A JSON string: quotes, backslash and every byte outside printable
 * ASCII escaped as \u00XX (so the output is ASCII whatever came in). */
static void pyw_json_str(request_rec *r, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");

    ap_rputc('"', r);
    for (; *p; p++) {
        if (*p == '"' || *p == '\\') {
            ap_rputc('\\', r);
            ap_rputc(*p, r);
        }
        else if (*p < 0x20 || *p > 0x7e) {
            ap_rprintf(r, "\\u%04x", *p);
        }
        else {
            ap_rputc(*p, r);
        }
    }
    ap_rputc('"', r);
}

static void pyw_json_requests(request_rec *r, const pyw_status_group_t *sg)
{
    int c;

    ap_rprintf(r, "\"requests\":{\"total\":%" APR_UINT64_T_FMT,
               sg->requests);
    for (c = 0; c < PYW_METRICS_CLASSES; c++) {
        ap_rprintf(r, ",\"%s\":%" APR_UINT64_T_FMT,
                   pyw_status_class_name(c), sg->m.requests[c]);
    }
    ap_rputs("}", r);
}

static void pyw_json_duration(request_rec *r, const pyw_status_group_t *sg)
{
    uint64_t cum = 0;
    int i;

    ap_rputs(",\"duration\":{\"buckets\":[", r);
    for (i = 0; i < PYW_METRICS_BUCKETS; i++) {
        cum += sg->m.buckets[i];
        if (i < PYW_METRICS_BOUNDS) {
            ap_rprintf(r, "{\"le\":%s,\"count\":%" APR_UINT64_T_FMT "},",
                       pyw_metrics_bounds_text[i], cum);
        }
        else {
            ap_rprintf(r, "{\"le\":\"+Inf\",\"count\":%" APR_UINT64_T_FMT
                       "}", cum);
        }
    }
    ap_rprintf(r, "],\"count\":%" APR_UINT64_T_FMT ",\"sum_seconds\":%.6f}",
               cum, sg->m.duration_us / 1e6);
}

static void pyw_json_restarts(request_rec *r, const pyw_status_group_t *sg)
{
    int c;

    ap_rputs(",\"restarts\":{", r);
    for (c = 0; c < PYW_CAUSES; c++) {
        ap_rprintf(r, "%s\"%s\":%" APR_UINT64_T_FMT, c ? "," : "",
                   pyw_cause_name(c), sg->m.restarts[c]);
    }
    ap_rputs("}", r);
}

static void pyw_json_error(request_rec *r, const pyw_status_t *st,
                           const pyw_status_group_t *sg)
{
    const pyw_metrics_err_t *e = &sg->m.err;

    if (e->status == 0) {
        ap_rputs(",\"last_error\":null", r);
        return;
    }
    ap_rprintf(r, ",\"last_error\":{\"status\":%d,\"time\":%.3f,"
               "\"age_seconds\":%.3f,\"uri\":", (int)e->status, e->ms / 1e3,
               (st->now_ms - e->ms) / 1e3);
    pyw_json_str(r, e->uri);
    ap_rputs(",\"what\":", r);
    pyw_json_str(r, e->what);
    ap_rputs("}", r);
}

static void pyw_json_worker(request_rec *r, int t,
                            const pyw_wboard_worker_snap_t *w)
{
    ap_rprintf(r, "%s{\"thread\":%d,\"state\":\"%s\",\"requests\":%"
               APR_UINT64_T_FMT ",\"uri\":", t ? "," : "", t + 1,
               w->busy ? "busy" : "idle", w->requests);
    if (w->busy) {
        pyw_json_str(r, w->uri);
        ap_rprintf(r, ",\"busy_seconds\":%.3f}", w->busy_ms / 1e3);
    }
    else {
        ap_rputs("null,\"busy_seconds\":null}", r);
    }
}

static void pyw_json_proc_stats(request_rec *r, const pyw_status_proc_t *sp)
{
    if (sp->have_stat) {
        ap_rprintf(r, ",\"rss_bytes\":%" APR_INT64_T_FMT
                   ",\"cpu_seconds\":%.2f", sp->rss_bytes, sp->cpu_s);
    }
    else {
        ap_rputs(",\"rss_bytes\":null,\"cpu_seconds\":null", r);
    }
    if (sp->have_workers) {
        ap_rprintf(r, ",\"requests\":%" APR_UINT64_T_FMT
                   ",\"busy_threads\":%d,\"queue_length\":%d",
                   sp->requests, sp->busy, sp->queued);
    }
    else {
        ap_rputs(",\"requests\":null,\"busy_threads\":null,"
                 "\"queue_length\":null", r);
    }
}

/* The last error about a process of the slot (its current entry only). */
static void pyw_json_proc_error(request_rec *r, const pyw_status_t *st,
                                const pyw_status_proc_t *sp)
{
    const pyw_metrics_perr_t *e = &sp->pm.err;

    if (sp->old || e->code <= 0) {
        ap_rputs(",\"last_error\":null", r);
        return;
    }
    ap_rprintf(r, ",\"last_error\":{\"code\":\"PYW%04d\",\"pid\":%ld,"
               "\"time\":%.3f,\"age_seconds\":%.3f,\"text\":",
               (int)e->code, (long)e->pid, e->ms / 1e3,
               (st->now_ms - e->ms) / 1e3);
    pyw_json_str(r, e->text);
    ap_rputs("}", r);
}

static void pyw_json_proc(request_rec *r, const pyw_status_t *st,
                          const pyw_status_proc_t *sp, int first)
{
    int t;

    ap_rprintf(r, "%s{\"index\":%d,\"state\":\"%s\",", first ? "" : ",",
               sp->index + 1, sp->state);
    if (sp->pm.pid > 0) {
        ap_rprintf(r, "\"pid\":%ld,", (long)sp->pm.pid);
    }
    else {
        ap_rputs("\"pid\":null,", r);
    }
    if (sp->pm.pid > 0 && sp->uptime_ms >= 0) {
        ap_rprintf(r, "\"uptime_seconds\":%.3f", sp->uptime_ms / 1e3);
    }
    else {
        ap_rputs("\"uptime_seconds\":null", r);
    }
    if (sp->old && sp->pm.old_draining) {
        ap_rprintf(r, ",\"draining_seconds\":%.3f", sp->draining_ms / 1e3);
    }
    else {
        ap_rputs(",\"draining_seconds\":null", r);
    }
    pyw_json_proc_stats(r, sp);
    ap_rprintf(r, ",\"restarts\":%" APR_UINT64_T_FMT
               ",\"last_restart_cause\":", sp->pm.restarts);
    if (sp->pm.last_cause[0]) {
        pyw_json_str(r, sp->pm.last_cause);
    }
    else {
        ap_rputs("null", r);
    }
    pyw_json_proc_error(r, st, sp);
    ap_rputs(",\"workers\":[", r);
    for (t = 0; sp->have_workers && t < sp->threads; t++) {
        pyw_json_worker(r, t, &sp->workers[t]);
    }
    ap_rputs("]}", r);
}

static void pyw_json_group(request_rec *r, const pyw_status_t *st,
                           const pyw_status_group_t *sg)
{
    const pyw_group_t *g = sg->g;
    int i;

    ap_rputs("{\"name\":", r);
    pyw_json_str(r, g->name);
    ap_rprintf(r, ",\"process_count\":%d,\"threads_per_process\":%d,"
               "\"ready_processes\":%d,\"busy_threads\":%d,"
               "\"idle_threads\":%d,\"queue_length\":%d,",
               g->processes, g->threads, sg->ready, sg->busy, sg->idle,
               sg->queued);
    if (sg->backlog >= 0) {
        ap_rprintf(r, "\"backlog\":%d,", sg->backlog);
    }
    else {
        ap_rputs("\"backlog\":null,", r);
    }
    if (sg->in_apache >= 0) {
        ap_rprintf(r, "\"queue_limit\":%d,\"in_apache\":%d,",
                   g->queue_limit, sg->in_apache);
    }
    else {
        ap_rputs("\"queue_limit\":null,\"in_apache\":null,", r);
    }
    pyw_json_requests(r, sg);
    pyw_json_duration(r, sg);
    pyw_json_restarts(r, sg);
    pyw_json_error(r, st, sg);
    /* The current process of each slot first, in slot order, then those
     * they replace, so that processes[i] stays slot i + 1. */
    ap_rputs(",\"processes\":[", r);
    for (i = 0; i < g->processes; i++) {
        pyw_json_proc(r, st, &sg->procs[i], i == 0);
    }
    for (i = 0; i < sg->nold; i++) {
        pyw_json_proc(r, st, &sg->olds[i], 0);
    }
    ap_rputs("]}", r);
}

int pyw_status_json(request_rec *r, const pyw_status_t *st)
{
    int i;

    ap_set_content_type(r, "application/json");
    ap_rprintf(r, "{\"generated\":%.3f,\"groups\":[", st->now_ms / 1e3);
    for (i = 0; i < st->n; i++) {
        if (i) {
            ap_rputs(",", r);
        }
        pyw_json_group(r, st, &st->groups[i]);
    }
    ap_rputs("]}\n", r);
    return OK;
}

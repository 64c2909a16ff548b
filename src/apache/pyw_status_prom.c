/*
 * pyw_status_prom.c - the status snapshot in Prometheus' text exposition
 * format 0.0.4 (?prometheus): one family at a time, each sample labelled
 * with its group.  Only numbers Apache recorded itself, the kernel's
 * (RSS, CPU) and counts of worker entries appear here: no URI.
 */
#include "apr_strings.h"
#include "httpd.h"
#include "http_protocol.h"

#include "pyw_status_data.h"
#include "pyw_status_render.h"

/* A label value: backslash, quote and newline escaped. */
static const char *pyw_prom_label(apr_pool_t *p, const char *s)
{
    size_t n = strlen(s), i, o = 0;
    char *out = apr_palloc(p, 2 * n + 1);

    for (i = 0; i < n; i++) {
        if (s[i] == '\\' || s[i] == '"' || s[i] == '\n') {
            out[o++] = '\\';
            out[o++] = s[i] == '\n' ? 'n' : s[i];
        }
        else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

static void pyw_prom_head(request_rec *r, const char *name,
                          const char *type, const char *help)
{
    ap_rprintf(r, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void pyw_prom_requests(request_rec *r, const pyw_status_t *st,
                              const char **gl)
{
    int i, c;

    pyw_prom_head(r, "pyworker_requests_total", "counter", "Requests "
                  "answered for the group, by status class.");
    for (i = 0; i < st->n; i++) {
        for (c = 1; c <= PYW_METRICS_CLASSES; c++) {
            int k = c % PYW_METRICS_CLASSES;    /* "other" last */

            ap_rprintf(r, "pyworker_requests_total{group=\"%s\",class=\"%s\"}"
                       " %" APR_UINT64_T_FMT "\n", gl[i],
                       pyw_status_class_name(k),
                       st->groups[i].m.requests[k]);
        }
    }
}

static void pyw_prom_gauge(request_rec *r, const pyw_status_t *st,
                           const char **gl, const char *name,
                           const char *help, size_t offset)
{
    int i;

    pyw_prom_head(r, name, "gauge", help);
    for (i = 0; i < st->n; i++) {
        ap_rprintf(r, "%s{group=\"%s\"} %d\n", name, gl[i],
                   *(const int *)((const char *)&st->groups[i] + offset));
    }
}

static void pyw_prom_restarts(request_rec *r, const pyw_status_t *st,
                              const char **gl)
{
    int i, c;

    pyw_prom_head(r, "pyworker_restarts_total", "counter", "Daemon "
                  "processes restarted or replaced, by cause.");
    for (i = 0; i < st->n; i++) {
        for (c = 0; c < PYW_CAUSES; c++) {
            ap_rprintf(r, "pyworker_restarts_total{group=\"%s\",cause=\"%s\"}"
                       " %" APR_UINT64_T_FMT "\n", gl[i], pyw_cause_name(c),
                       st->groups[i].m.restarts[c]);
        }
    }
}

static void pyw_prom_histogram(request_rec *r, const pyw_status_t *st,
                               const char **gl)
{
    const char *n = "pyworker_request_duration_seconds";
    uint64_t cum;
    int i, b;

    pyw_prom_head(r, n, "histogram", "Time from the request's arrival to "
                  "the end of its response, as Apache saw it.");
    for (i = 0; i < st->n; i++) {
        const pyw_metrics_group_snap_t *m = &st->groups[i].m;

        for (cum = 0, b = 0; b < PYW_METRICS_BUCKETS; b++) {
            cum += m->buckets[b];
            if (b < PYW_METRICS_BOUNDS) {
                ap_rprintf(r, "%s_bucket{group=\"%s\",le=\"%s\"} %"
                           APR_UINT64_T_FMT "\n", n, gl[i],
                           pyw_metrics_bounds_text[b], cum);
            }
            else {
                ap_rprintf(r, "%s_bucket{group=\"%s\",le=\"+Inf\"} %"
                           APR_UINT64_T_FMT "\n", n, gl[i], cum);
            }
        }
        ap_rprintf(r, "%s_sum{group=\"%s\"} %.6f\n%s_count{group=\"%s\"} %"
                   APR_UINT64_T_FMT "\n", n, gl[i], m->duration_us / 1e6,
                   n, gl[i], cum);
    }
}

/* One process's sample; the one a slot's current process replaces has
 * state="retiring" (while it serves on or drains), so the current one's
 * labels stay {group, process}. */
static void pyw_prom_proc(request_rec *r, const char *n, const char *gl,
                          const pyw_status_proc_t *sp, int cpu)
{
    if (!sp->have_stat) {
        return;
    }
    ap_rprintf(r, cpu ? "%s{group=\"%s\",process=\"%d\"%s} %.2f\n"
                      : "%s{group=\"%s\",process=\"%d\"%s} %.0f\n",
               n, gl, sp->index + 1, sp->old ? ",state=\"retiring\"" : "",
               cpu ? sp->cpu_s : (double)sp->rss_bytes);
}

static void pyw_prom_procs(request_rec *r, const pyw_status_t *st,
                           const char **gl, int cpu)
{
    const char *n = cpu ? "pyworker_process_cpu_seconds_total"
                        : "pyworker_process_resident_memory_bytes";
    int i, k;

    pyw_prom_head(r, n, cpu ? "counter" : "gauge", cpu
                  ? "CPU time of the daemon process (user + system)."
                  : "Resident memory of the daemon process.");
    for (i = 0; i < st->n; i++) {
        for (k = 0; k < st->groups[i].g->processes; k++) {
            pyw_prom_proc(r, n, gl[i], &st->groups[i].procs[k], cpu);
        }
        for (k = 0; k < st->groups[i].nold; k++) {
            pyw_prom_proc(r, n, gl[i], &st->groups[i].olds[k], cpu);
        }
    }
}

/* A gauge only some groups have: the int at `offset` of each group, when
 * not negative (unknown, or not counted). */
static void pyw_prom_known(request_rec *r, const pyw_status_t *st,
                           const char **gl, const char *n,
                           const char *help, size_t offset)
{
    int i, v;

    pyw_prom_head(r, n, "gauge", help);
    for (i = 0; i < st->n; i++) {
        v = *(const int *)((const char *)&st->groups[i] + offset);
        if (v >= 0) {
            ap_rprintf(r, "%s{group=\"%s\"} %d\n", n, gl[i], v);
        }
    }
}

int pyw_status_prometheus(request_rec *r, const pyw_status_t *st)
{
    const char **gl = apr_pcalloc(r->pool, (st->n + 1) * sizeof(*gl));
    int i;

    for (i = 0; i < st->n; i++) {
        gl[i] = pyw_prom_label(r->pool, st->groups[i].g->name);
    }
    ap_set_content_type(r, "text/plain; version=0.0.4; charset=utf-8");
    pyw_prom_requests(r, st, gl);
    pyw_prom_histogram(r, st, gl);
    pyw_prom_gauge(r, st, gl, "pyworker_busy_threads", "Worker threads "
                   "running a request.", APR_OFFSETOF(pyw_status_group_t,
                                                      busy));
    pyw_prom_gauge(r, st, gl, "pyworker_idle_threads", "Worker threads "
                   "waiting for a request.",
                   APR_OFFSETOF(pyw_status_group_t, idle));
    pyw_prom_gauge(r, st, gl, "pyworker_queue_length", "Requests waiting "
                   "for a worker thread: accepted by a daemon, or in the "
                   "listen backlog.",
                   APR_OFFSETOF(pyw_status_group_t, queued));
    pyw_prom_known(r, st, gl, "pyworker_listen_backlog", "Connections in "
                   "the group's listen queue that no daemon accepted yet "
                   "(counted in pyworker_queue_length too).",
                   APR_OFFSETOF(pyw_status_group_t, backlog));
    pyw_prom_known(r, st, gl, "pyworker_requests_in_apache", "Requests of "
                   "the group Apache holds (running, waiting or sending "
                   "their response), for groups with a queue-limit.",
                   APR_OFFSETOF(pyw_status_group_t, in_apache));
    pyw_prom_gauge(r, st, gl, "pyworker_ready_processes", "Daemon "
                   "processes ready to serve.",
                   APR_OFFSETOF(pyw_status_group_t, ready));
    pyw_prom_restarts(r, st, gl);
    pyw_prom_procs(r, st, gl, 0);
    pyw_prom_procs(r, st, gl, 1);
    return OK;
}

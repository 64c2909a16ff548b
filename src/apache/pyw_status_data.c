/*
 * pyw_status_data.c - gather what the status page shows (see
 * pyw_status_data.h).  Runs in an Apache child, on a status request only.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "apr_strings.h"
#include "apr_time.h"

#include "pyw_procmgr.h"
#include "pyw_status_data.h"
#include "../common/pyw_io.h"

#define PYW_STAT_LINE  1024

const char *pyw_status_class_name(int cls)
{
    static const char *const names[PYW_METRICS_CLASSES] = {
        "other", "1xx", "2xx", "3xx", "4xx", "5xx"
    };

    return cls > 0 && cls < PYW_METRICS_CLASSES ? names[cls] : names[0];
}

/* RSS and CPU time from /proc/<pid>/stat; 0 if it cannot be read. */
static int pyw_status_proc_stat(pid_t pid, int64_t *rss, double *cpu)
{
    char path[64], line[PYW_STAT_LINE];
    unsigned long long utime, stime;
    long long pages;
    const char *p;
    FILE *f;
    int ok;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if ((f = fopen(path, "r")) == NULL) {
        return 0;
    }
    ok = fgets(line, sizeof(line), f) != NULL;
    fclose(f);
    /* The command may hold spaces and ')': fields resume after the last. */
    if (!ok || (p = strrchr(line, ')')) == NULL
        || sscanf(p + 1, " %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
                  "%llu %llu %*s %*s %*s %*s %*s %*s %*s %*s %lld",
                  &utime, &stime, &pages) != 3) {
        return 0;
    }
    *rss = pages * (int64_t)sysconf(_SC_PAGESIZE);
    *cpu = (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
    return 1;
}

static void pyw_status_workers(apr_pool_t *p, const pyw_group_t *g,
                               const pyw_wboard_t *w, pyw_status_proc_t *sp)
{
    pyw_wboard_proc_snap_t wp;
    int64_t now = pyw_io_now_ms();
    int t;

    if (w == NULL || sp->pm.pid <= 0
        || pyw_wboard_read_proc(w, sp->index, &wp) < 0
        || wp.pid != sp->pm.pid) {
        return;                 /* no entry, or not this process's own */
    }
    sp->have_workers = 1;
    sp->queued = wp.queued;
    sp->workers = apr_pcalloc(p, g->threads * sizeof(*sp->workers));
    for (t = 0; t < g->threads; t++) {
        pyw_wboard_read_worker(w, sp->index, t, now, &sp->workers[t]);
        sp->requests += sp->workers[t].requests;
        sp->busy += sp->workers[t].busy;
    }
}

static void pyw_status_proc(apr_pool_t *p, const pyw_group_t *g,
                            const pyw_wboard_t *w, pyw_status_proc_t *sp)
{
    pyw_metrics_read_proc(pyw_pm_metrics(g), sp->index, &sp->pm);
    sp->state = sp->pm.pid <= 0 ? "stopped"
                : sp->pm.ready ? "ready" : "starting";
    if (sp->pm.pid > 0) {
        sp->uptime_ms = pyw_io_now_ms() - sp->pm.started_ms;
        sp->have_stat = pyw_status_proc_stat(sp->pm.pid, &sp->rss_bytes,
                                             &sp->cpu_s);
    }
    pyw_status_workers(p, g, w, sp);
}

static void pyw_status_group(apr_pool_t *p, const pyw_group_t *g,
                             pyw_status_group_t *sg)
{
    int fd = pyw_pm_wboard_fd(g);
    pyw_wboard_t *w = fd >= 0 ? pyw_wboard_map(fd, g->processes,
                                               g->threads, 0) : NULL;
    pyw_status_proc_t *sp;
    int i;

    sg->g = g;
    pyw_metrics_read(pyw_pm_metrics(g), &sg->m);
    for (i = 0; i < PYW_METRICS_CLASSES; i++) {
        sg->requests += sg->m.requests[i];
    }
    sg->procs = apr_pcalloc(p, g->processes * sizeof(*sg->procs));
    for (i = 0; i < g->processes; i++) {
        sp = &sg->procs[i];
        sp->index = i;
        pyw_status_proc(p, g, w, sp);
        sg->ready += sp->pm.ready && sp->pm.pid > 0;
        if (sp->have_workers) {
            sg->busy += sp->busy;
            sg->idle += g->threads - sp->busy;
            sg->queued += sp->queued;
        }
    }
    pyw_wboard_destroy(w);
}

pyw_status_t *pyw_status_collect(request_rec *r)
{
    pyw_group_t **groups = (pyw_group_t **)pyw_globals.groups->elts;
    pyw_status_t *st = apr_pcalloc(r->pool, sizeof(*st));
    int i;

    st->now_ms = apr_time_as_msec(apr_time_now());
    st->groups = apr_pcalloc(r->pool, (pyw_globals.groups->nelts + 1)
                                      * sizeof(*st->groups));
    for (i = 0; i < pyw_globals.groups->nelts; i++) {
        if (pyw_config_group_visible(groups[i], r->server)) {
            pyw_status_group(r->pool, groups[i], &st->groups[st->n++]);
        }
    }
    return st;
}

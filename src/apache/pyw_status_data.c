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
#include "../common/pyw_sockdiag.h"

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

/* The boards a process may write to: the group's, and while daemons from
 * before a change of its shape drain, the previous one, where only such
 * an old process is looked for (a current one never has it). */
typedef struct {
    pyw_wboard_t *w;
    int           slots, threads;   /* its shape */
} pyw_status_board_t;

static pyw_status_board_t *pyw_status_board_of(pyw_status_board_t *b,
                                               const pyw_status_proc_t *sp,
                                               int *e)
{
    int i;

    for (i = 0; i < (sp->old ? 2 : 1); i++) {
        if ((*e = pyw_wboard_find(b[i].w, sp->index, sp->pm.pid)) >= 0) {
            return &b[i];
        }
    }
    return NULL;
}

static void pyw_status_workers(apr_pool_t *p, pyw_status_board_t *boards,
                               pyw_status_proc_t *sp)
{
    pyw_wboard_proc_snap_t wp;
    int64_t now = pyw_io_now_ms();
    pyw_status_board_t *b;
    int e, t;

    if ((b = pyw_status_board_of(boards, sp, &e)) == NULL
        || pyw_wboard_read_proc(b->w, e, &wp) < 0
        || wp.pid != sp->pm.pid) {
        return;                 /* no entry, or not this process's own */
    }
    sp->have_workers = 1;
    sp->queued = wp.queued;
    sp->threads = b->threads;
    sp->workers = apr_pcalloc(p, b->threads * sizeof(*sp->workers));
    for (t = 0; t < b->threads; t++) {
        pyw_wboard_read_worker(b->w, e, t, now, &sp->workers[t]);
        sp->requests += sp->workers[t].requests;
        sp->busy += sp->workers[t].busy;
    }
}

static void pyw_status_proc_common(apr_pool_t *p, pyw_status_board_t *w,
                                   pyw_status_proc_t *sp)
{
    sp->uptime_ms = -1;
    if (sp->pm.pid > 0) {
        if (sp->pm.started_ms > 0) {
            sp->uptime_ms = pyw_io_now_ms() - sp->pm.started_ms;
        }
        sp->have_stat = pyw_status_proc_stat(sp->pm.pid, &sp->rss_bytes,
                                             &sp->cpu_s);
    }
    pyw_status_workers(p, w, sp);
}

static void pyw_status_proc(apr_pool_t *p, const pyw_group_t *g,
                            pyw_status_board_t *w, pyw_status_proc_t *sp)
{
    pyw_metrics_read_proc(pyw_pm_metrics(g), sp->index, &sp->pm);
    sp->state = sp->pm.pid <= 0 ? "stopped"
                : sp->pm.ready ? "ready" : "starting";
    pyw_status_proc_common(p, w, sp);
}

/* The process slot cur's current process replaces, if it still lives:
 * 1 and *old filled (its workers too, from its own board lane). */
static int pyw_status_old(apr_pool_t *p, pyw_status_board_t *w,
                          const pyw_status_proc_t *cur,
                          pyw_status_proc_t *old)
{
    if (cur->pm.old_pid <= 0 || cur->pm.old_pid == cur->pm.pid) {
        return 0;
    }
    memset(old, 0, sizeof(*old));
    old->index = cur->index;
    old->old = 1;
    old->pm.pid = cur->pm.old_pid;
    old->pm.ready = 1;
    old->pm.started_ms = cur->pm.old_started_ms;
    old->pm.old_draining = cur->pm.old_draining;
    old->state = cur->pm.old_draining ? "draining" : "retiring";
    if (cur->pm.old_draining) {
        old->draining_ms = pyw_io_now_ms() - cur->pm.old_stop_ms;
    }
    pyw_status_proc_common(p, w, old);
    /* Gone (and its record not cleared, as when its group left the
     * configuration for a while): not listed. */
    return old->have_stat;
}

static void pyw_status_add(pyw_status_group_t *sg,
                           const pyw_status_proc_t *sp)
{
    if (sp->have_workers) {
        sg->busy += sp->busy;
        sg->queued += sp->queued;
        if (!sp->old) {
            sg->idle += sp->threads - sp->busy;
        }
    }
}

/* Connections waiting in the group's listen queue: Apache opened them,
 * no daemon has accepted them yet (each carries a request, or is about
 * to).  The kernel counts them; -1 if it cannot say. */
static int pyw_status_backlog(const pyw_group_t *g)
{
    int n = pyw_sockdiag_unix_backlog(pyw_pm_listen_ino(g));

    return n >= 0 ? n : -1;
}

/* Map the group's board, and the previous one if it has one. */
static void pyw_status_boards(const pyw_group_t *g, pyw_status_board_t *b)
{
    int fd = pyw_pm_wboard_fd(g);

    b[0].slots = g->processes;
    b[0].threads = g->threads;
    b[0].w = fd >= 0 ? pyw_wboard_map(fd, g->processes * PYW_WBOARD_LANES,
                                      g->threads, 0) : NULL;
    fd = pyw_pm_wboard_prev(g, &b[1].slots, &b[1].threads);
    b[1].w = fd >= 0 ? pyw_wboard_map(fd, b[1].slots * PYW_WBOARD_LANES,
                                      b[1].threads, 0) : NULL;
}

/* Slot `index`'s process, and the one it replaces if that still lives;
 * past g->processes (a slot a graceful restart dropped), only that one. */
static void pyw_status_slot(apr_pool_t *p, const pyw_group_t *g,
                            pyw_status_board_t *w, pyw_status_group_t *sg,
                            int index)
{
    pyw_status_proc_t dropped, *sp = index < g->processes
                                     ? &sg->procs[index] : &dropped;

    memset(sp, 0, sizeof(*sp));
    sp->index = index;
    if (sp == &dropped) {
        pyw_metrics_read_proc(pyw_pm_metrics(g), index, &sp->pm);
    }
    else {
        pyw_status_proc(p, g, w, sp);
        sg->ready += sp->pm.ready && sp->pm.pid > 0;
        pyw_status_add(sg, sp);
    }
    if (pyw_status_old(p, w, sp, &sg->olds[sg->nold])) {
        pyw_status_add(sg, &sg->olds[sg->nold++]);
    }
}

static void pyw_status_group(apr_pool_t *p, const pyw_group_t *g,
                             pyw_status_group_t *sg)
{
    pyw_status_board_t w[2];
    int i, slots;

    pyw_status_boards(g, w);
    /* The previous board's slots: some may have been dropped since. */
    slots = w[1].w != NULL && w[1].slots > g->processes ? w[1].slots
                                                        : g->processes;
    sg->g = g;
    pyw_metrics_read(pyw_pm_metrics(g), &sg->m);
    for (i = 0; i < PYW_METRICS_CLASSES; i++) {
        sg->requests += sg->m.requests[i];
    }
    sg->procs = apr_pcalloc(p, g->processes * sizeof(*sg->procs));
    sg->olds = apr_pcalloc(p, slots * sizeof(*sg->olds));
    for (i = 0; i < slots; i++) {
        pyw_status_slot(p, g, w, sg, i);
    }
    pyw_wboard_destroy(w[0].w);
    pyw_wboard_destroy(w[1].w);
    sg->backlog = pyw_status_backlog(g);
    sg->in_apache = g->queue_limit > 0 ? (int)pyw_pm_held(g) : -1;
    if (sg->backlog > 0) {
        sg->queued += sg->backlog;
    }
}

pyw_status_t *pyw_status_collect(request_rec *r)
{
    pyw_group_t **groups = (pyw_group_t **)pyw_globals.groups->elts;
    pyw_status_t *st = apr_pcalloc(r->pool, sizeof(*st));
    const char *allowed;
    int i;

    st->now_ms = apr_time_as_msec(apr_time_now());
    st->groups = apr_pcalloc(r->pool, (pyw_globals.groups->nelts + 1)
                                      * sizeof(*st->groups));
    /* Only what the host can use, and where PyWorkerRestrictProcess
     * applies (a tenant's .htaccess may SetHandler pyworker-status),
     * only the groups it allows: the page shows other sites' URIs. */
    for (i = 0; i < pyw_globals.groups->nelts; i++) {
        if (pyw_config_group_visible(groups[i], r->server)
            && pyw_config_group_allowed(r, groups[i]->name, &allowed)) {
            pyw_status_group(r->pool, groups[i], &st->groups[st->n++]);
        }
    }
    return st;
}

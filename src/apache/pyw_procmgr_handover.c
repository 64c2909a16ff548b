/*
 * pyw_procmgr_handover.c - what happens to the daemons when Apache exits
 * (stop them all: SIGTERM, shutdown-timeout, SIGKILL) or restarts (hand
 * them over, as plain data, to the next generation, which takes them
 * back).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apr_file_info.h"
#include "apr_hash.h"
#include "apr_portable.h"
#include "apr_signal.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "ap_mpm.h"
#include "mpm_common.h"
#include "unixd.h"

#include "pyw_config.h"
#include "pyw_log.h"
#include "pyw_pm.h"
#include "pyw_procmgr.h"
#include "../common/pyw_board.h"
#include "../common/pyw_metrics.h"
#include "../common/pyw_wboard.h"
#include "../common/pyw_spec.h"
#include "pyw_procmgr_int.h"

/* ---- Apache exits: stop every daemon ---- */

typedef struct {
    int        left;
    apr_time_t last_kill_at;    /* the latest SIGKILL deadline */
} pyw_reap_t;

/* Reap p's keeper if it exited; else tell p Apache stops, or SIGKILL it
 * once its deadline passed (pyw_proc_apache_stops). */
static void pyw_reap_one(pyw_proc_t *p, void *baton)
{
    pyw_reap_t *r = baton;
    pid_t pid = p->proc.pid, got;
    char cause[160];
    int st;

    if (pid <= 0 || p->keeper.proc.pid <= 0) {
        return;
    }
    got = waitpid(p->keeper.proc.pid, &st, WNOHANG);
    if (got == 0 || (got < 0 && errno == EINTR)) {
        pyw_proc_apache_stops(p);
        if (p->kill_at > r->last_kill_at) {
            r->last_kill_at = p->kill_at;
        }
        r->left++;
        return;
    }
    pyw_pm_death_cause(p, got == p->keeper.proc.pid ? APR_OC_REASON_DEATH
                                                    : APR_OC_REASON_LOST,
                       got <= 0 ? 0 : WIFEXITED(st) ? WEXITSTATUS(st)
                                                    : WTERMSIG(st),
                       cause, sizeof(cause));
    PYW_SLOG(APLOG_INFO, 0, pyw_pm.s, 24, p->group, (long)pid, "daemon "
             "process %d exited: %s%s", p->index + 1, cause,
             p->kill_sent ? ", after SIGKILL" : "");
    p->proc.pid = 0;
}

/*
 * Every daemon is told that Apache stops (unless the MPM's wait for its
 * children already did), has its group's shutdown-timeout plus the
 * margin, then SIGKILL (PYW0025, one line per daemon).  Returns once all
 * are reaped, or PYW_KILL_WAIT_MS after the last SIGKILL was due.
 */
static void pyw_pm_shutdown(void)
{
    pyw_reap_t r;

    for (;;) {
        r.left = 0;
        r.last_kill_at = 0;
        pyw_pm_each_proc(pyw_reap_one, &r);
        if (r.left == 0 || apr_time_now() >= r.last_kill_at
                                             + apr_time_from_msec(
                                                 PYW_KILL_WAIT_MS)) {
            return;
        }
        apr_sleep(apr_time_from_msec(20));
    }
}

/* ---- Apache restarts: hand the daemons over ---- */

static int pyw_handover_grow(pyw_retained_t *r)
{
    int cap = r->cap_handover ? r->cap_handover * 2 : 16;
    pyw_handover_t *h = realloc(r->handover, sizeof(*h) * (size_t)cap);

    if (h == NULL) {
        return -1;
    }
    r->handover = h;
    r->cap_handover = cap;
    return 0;
}

/*
 * One live daemon becomes plain data for the next generation.  It is
 * also registered with the MPM as an "extra" process: should the next
 * configuration not load this module, the MPM still reaps it and kills
 * it when Apache stops.  The next generation takes it back.
 */
static void pyw_handover_one(pyw_proc_t *p, void *baton)
{
    pyw_retained_t *r = pyw_pm.retained;
    pyw_handover_t *h;

    if (p->proc.pid <= 0) {
        return;
    }
    if (r->n_handover == r->cap_handover && pyw_handover_grow(r) < 0) {
        kill(p->proc.pid, SIGTERM);
        ap_register_extra_mpm_process(p->keeper.proc.pid,
                                      *(ap_generation_t *)baton);
        return;
    }
    h = &r->handover[r->n_handover++];
    memset(h, 0, sizeof(*h));
    h->pid = p->proc.pid;
    h->keeper_pid = p->keeper.proc.pid;
    h->report_fd = p->keeper.report_fd;
    p->keeper.report_fd = -1;
    h->status_fd = p->status_fd;
    p->status_fd = -1;
    h->index = p->index;
    h->lane = p->lane;
    h->ready = p->ready;
    h->why = p->why;
    h->term_at = p->term_at;
    h->kill_at = p->kill_at;
    apr_cpystrn(h->group, p->group, sizeof(h->group));
    /* The MPM reaps the keeper, the parent's child. */
    ap_register_extra_mpm_process(h->keeper_pid, *(ap_generation_t *)baton);
}

/* Graceful or not, a restart never waits for the daemons: requests that
 * run longer than the restart finish in them. */
static void pyw_pm_handover(void)
{
    ap_generation_t gen = 0;

    ap_mpm_query(AP_MPMQ_GENERATION, &gen);
    pyw_pm.retained->n_handover = 0;
    pyw_pm_each_proc(pyw_handover_one, &gen);
    PYW_SLOG(APLOG_INFO, 0, pyw_pm.s, 39, NULL, 0L, "restart: %d daemon "
             "process(es) handed over to the new configuration; they serve "
             "until their successors are ready",
             pyw_pm.retained->n_handover);
}

static pyw_slot_t *pyw_handover_slot(pyw_group_t *g, int index)
{
    if (g == NULL || g->rt == NULL || index < 0 || index >= g->processes) {
        return NULL;
    }
    return &g->rt->slots[index];
}

/* A ready daemon keeps serving as the old process of its slot; any other
 * is stopped (it may already have been). */
static void pyw_takeover_one(const pyw_handover_t *h)
{
    pyw_group_t *g = pyw_config_find_group(h->group);
    pyw_slot_t *slot = pyw_handover_slot(g, h->index);
    ap_generation_t gen;
    pyw_proc_t *p;
    pyw_why_e why;

    if (!ap_unregister_extra_mpm_process(h->keeper_pid, &gen)) {
        if (h->status_fd >= 0) {
            close(h->status_fd);    /* the MPM reaped it: gone */
        }
        if (h->report_fd >= 0) {
            close(h->report_fd);
        }
        return;
    }
    p = pyw_proc_alloc(g ? g->name : apr_pstrdup(pyw_pm.pconf, h->group),
                       h->index);
    p->proc.pid = h->pid;
    p->keeper.proc.pid = h->keeper_pid;
    p->keeper.report_fd = h->report_fd;
    p->lane = h->lane;
    p->status_fd = h->status_fd;
    p->ready = h->ready;
    p->why = h->why;
    p->term_at = h->term_at;
    p->kill_at = h->kill_at;
    pyw_proc_register(p);
    if (slot != NULL && p->lane >= 0 && p->lane < PYW_WBOARD_LANES) {
        slot->lane_pid[p->lane] = p->proc.pid;
    }
    if (p->term_at == 0 && p->ready && slot != NULL && slot->old == NULL) {
        p->slot = slot;
        p->why = PYW_WHY_GRACEFUL;
        slot->old = p;
        PYW_SLOG(APLOG_INFO, 0, pyw_pm.s, 40, p->group, (long)p->proc.pid,
                 "daemon process %d from before the restart serves until "
                 "its successor is ready", p->index + 1);
        return;
    }
    why = slot != NULL ? PYW_WHY_STALE : PYW_WHY_UNCONFIGURED;
    if (p->term_at == 0) {
        PYW_SLOG(APLOG_INFO, 0, pyw_pm.s, 41, p->group, (long)p->proc.pid,
                 "daemon process %d from before the restart is stopped: %s",
                 p->index + 1, pyw_pm_why_text(why));
    }
    pyw_proc_stop(p, why, pyw_group_stop_budget(g, why));
}

void pyw_pm_takeover(void)
{
    pyw_retained_t *r = pyw_pm.retained;
    int i;

    for (i = 0; i < r->n_handover; i++) {
        pyw_takeover_one(&r->handover[i]);
    }
    r->n_handover = 0;
}

/*
 * pconf cleanup: Apache exits, restarts, or failed to start.  Registered
 * before any daemon is forked, so it runs after the other_child cleanups
 * (which only note that they are unregistered).  Sockets stay open for
 * the next generation unless Apache is exiting.
 */
apr_status_t pyw_pm_stop_all(void *unused)
{
    int exiting = ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_EXITING;

    if (getpid() != pyw_pm.parent || pyw_pm.rts == NULL) {
        return APR_SUCCESS;
    }
    /* A daemon whose READY waits in its pipe is handed over as ready (it
     * serves on), not as one still starting (stopped). */
    if (!exiting) {
        pyw_pm_note_ready();
    }
    pyw_pm.stopping = 1;
    pyw_waker_stop();
    if (exiting) {
        pyw_pm_shutdown();
    }
    else {
        pyw_pm_handover();
    }
    pyw_chld_uninstall();
    if (exiting) {
        pyw_sock_sweep(pyw_pm.s, pyw_pm.pconf, 0, 1);
    }
    pyw_pm.rts = NULL;
    return APR_SUCCESS;
}

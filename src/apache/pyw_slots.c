/*
 * pyw_slots.c - the life of each daemon process, in the Apache parent:
 * fork with a status pipe, READY / RECYCLE / ROLLING from the daemon,
 * replacement with overlap, rolling restarts, deaths, deadlines.
 *
 * Replacement never leaves a gap: the new process is forked first; the
 * old one keeps accepting until the new one writes READY, and only then
 * gets SIGTERM (it stops accepting, says GOODBYE on idle connections and
 * finishes what it has, up to graceful-timeout).  SIGKILL follows if it
 * is still alive graceful-timeout + shutdown-timeout + a margin later.
 *
 * Invariants: slot->cur is never NULL; slot->old is set only while
 * slot->cur is not ready yet; a process on the stopping list has had
 * SIGTERM and belongs to no slot.  All of it runs in the parent's main
 * thread (see pyw_pm.h).
 *
 * This file: the pyw_proc_t records and stopping a process; the other
 * parts of its life have files of their own (pyw_slots_int.h).
 */
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <unistd.h>

#include "apr_strings.h"
#include "httpd.h"

#include "pyw_config.h"
#include "pyw_pm.h"
#include "pyw_slots_int.h"
#include "../common/pyw_io.h"
#include "../common/pyw_metrics.h"
#include "../common/pyw_spec.h"

/* ---- records ---- */

pyw_proc_t *pyw_proc_alloc(const char *group, int index)
{
    pyw_proc_t *p = pyw_pm.free_list;

    if (p != NULL) {
        pyw_pm.free_list = p->next;
    }
    else {
        p = apr_palloc(pyw_pm.pconf, sizeof(*p));
    }
    memset(p, 0, sizeof(*p));
    p->group = group;
    p->index = index;
    p->status_fd = -1;
    p->keeper.report_fd = -1;
    return p;
}

void pyw_proc_unregister(pyw_proc_t *p)
{
    if (p->registered) {
        p->registered = 0;
        apr_proc_other_child_unregister(p);
    }
}

void pyw_proc_close_status(pyw_proc_t *p)
{
    if (p->status_fd >= 0) {
        close(p->status_fd);
        p->status_fd = -1;
    }
}

void pyw_proc_release(pyw_proc_t *p)
{
    pyw_proc_unregister(p);
    pyw_proc_close_status(p);
    pyw_keeper_forget(&p->keeper);
    p->next = pyw_pm.free_list;
    pyw_pm.free_list = p;
}

void pyw_stopping_remove(pyw_proc_t *p)
{
    pyw_proc_t **pp;

    for (pp = &pyw_pm.stopping_list; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == p) {
            *pp = p->next;
            p->next = NULL;
            p->listed = 0;
            return;
        }
    }
}

pyw_slot_t *pyw_proc_home(const pyw_proc_t *p)
{
    const pyw_group_t *g;

    if (p->slot != NULL) {
        return p->slot;
    }
    g = pyw_config_find_group(p->group);
    return g != NULL && g->rt != NULL && p->index >= 0
           && p->index < g->processes ? &g->rt->slots[p->index] : NULL;
}

/* Where the page records p: its group's metrics, also for a daemon
 * whose slot a graceful restart dropped (processes= lowered), which the
 * page lists under its old slot number while it drains.  The mapping has
 * a record for every slot a group may have (pyw_metrics.h). */
static pyw_metrics_t *pyw_proc_metrics(const pyw_proc_t *p)
{
    pyw_slot_t *home = pyw_proc_home(p);
    const pyw_group_t *g;

    if (home != NULL) {
        return home->rt->metrics;
    }
    g = pyw_config_find_group(p->group);
    return g != NULL && g->rt != NULL ? g->rt->metrics : NULL;
}

/* p is gone: its lane is free, and the page forgets it, as an old
 * process or as its slot's current one (a daemon from before a restart
 * stopped while it was starting is still recorded as that). */
void pyw_proc_forget(pyw_proc_t *p)
{
    pyw_slot_t *home = pyw_proc_home(p);
    pyw_metrics_t *m = pyw_proc_metrics(p);

    if (p->proc.pid <= 0) {
        return;
    }
    if (home != NULL && p->lane >= 0 && p->lane < PYW_WBOARD_LANES
        && home->lane_pid[p->lane] == p->proc.pid) {
        home->lane_pid[p->lane] = 0;
    }
    pyw_metrics_proc_old_gone(m, p->index, p->proc.pid);
    pyw_metrics_proc_gone(m, p->index, p->proc.pid);
}

void pyw_proc_note_error(const pyw_proc_t *p, pid_t pid, int code,
                         const char *fmt, ...)
{
    pyw_slot_t *home = pyw_proc_home(p);
    char text[PYW_METRICS_TEXT];
    va_list ap;

    if (home == NULL) {
        return;
    }
    va_start(ap, fmt);
    apr_vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    pyw_metrics_proc_error(home->rt->metrics, p->index, pid, code,
                           apr_time_as_msec(apr_time_now()), text);
}

/* ---- stopping ---- */

/*
 * From SIGTERM to SIGKILL.  A replaced daemon may finish its requests
 * (graceful-timeout, or eviction-timeout for restarts asked from
 * outside), then has shutdown-timeout to exit, plus a margin so that it
 * can say what it was still running.  When Apache itself stops or
 * restarts hard, its children are going too: the daemon's requests and
 * atexit share shutdown-timeout, then the margin.  The daemon knows which
 * by the signal (pyw_spec.h) and computes the same (daemon_budget).
 */
int64_t pyw_group_stop_budget(const pyw_group_t *g, pyw_why_e why)
{
    int64_t graceful = g ? g->graceful_timeout_ms : PYW_DEFAULT_GRACEFUL_MS;
    int64_t shutdown = g ? g->shutdown_timeout_ms : PYW_DEFAULT_SHUTDOWN_MS;
    int evict = why == PYW_WHY_ROLLING || why == PYW_WHY_GRACEFUL
                || why == PYW_WHY_SIGNAL;

    if (why == PYW_WHY_APACHE_STOP) {
        return shutdown + PYW_KILL_MARGIN_MS;
    }
    if (evict && g != NULL && g->eviction_timeout_ms > 0) {
        graceful = g->eviction_timeout_ms;
    }
    return graceful + shutdown + PYW_KILL_MARGIN_MS;
}

/* The sigqueue() value of a stop (pyw_spec.h): its budget, and what the
 * daemon says (PYW0202).  IDLE, STALE and UNCONFIGURED have RECYCLE's
 * budget, so a daemon built before a value existed, which takes it for
 * RECYCLE, still computes the parent's.  SIGNAL has EVICT's: only a
 * daemon that knows it (it said PYW_STATUS_SIGNAL) is sent it. */
static int pyw_retire_value(pyw_why_e why)
{
    switch (why) {
    case PYW_WHY_ROLLING:
    case PYW_WHY_GRACEFUL:      return PYW_RETIRE_EVICT;
    case PYW_WHY_IDLE:          return PYW_RETIRE_IDLE;
    case PYW_WHY_STALE:         return PYW_RETIRE_STALE;
    case PYW_WHY_UNCONFIGURED:  return PYW_RETIRE_UNCONFIGURED;
    case PYW_WHY_SIGNAL:        return PYW_RETIRE_SIGNAL;
    default:                    return PYW_RETIRE_RECYCLE;
    }
}

/* Tell the daemon to stop, and why: the kind of stop is its budget. */
static void pyw_proc_signal_stop(pid_t pid, pyw_why_e why)
{
    union sigval v;

    if (why == PYW_WHY_APACHE_STOP) {
        kill(pid, PYW_SIG_APACHE_STOP);
        return;
    }
    v.sival_int = pyw_retire_value(why);
    if (sigqueue(pid, PYW_SIG_RETIRE, v) < 0) {
        kill(pid, PYW_SIG_RETIRE);
    }
}

/*
 * p leaves its slot to stop: the page lists it as the slot's draining old
 * process until it exits (pyw_proc_forget).  One that leaves without a
 * successor (idle-timeout) is still the slot's current process there,
 * "ready": the slot shows stopped instead, as for a group never started.
 */
static void pyw_proc_note_draining(const pyw_proc_t *p)
{
    pyw_metrics_t *m = pyw_proc_metrics(p);
    pyw_metrics_proc_snap_t snap;
    pid_t pid = p->proc.pid;

    if (pyw_metrics_read_proc(m, p->index, &snap) == 0 && snap.pid == pid) {
        /* old first, so that a reader finds it in one place or both */
        pyw_metrics_proc_old(m, p->index, pid, snap.started_ms);
        pyw_metrics_proc_gone(m, p->index, pid);
    }
    pyw_metrics_proc_old_stops(m, p->index, pid, pyw_io_now_ms());
}

void pyw_proc_note_stopping(void)
{
    pyw_proc_t *p;

    for (p = pyw_pm.stopping_list; p != NULL; p = p->next) {
        pyw_proc_note_draining(p);
    }
}

/*
 * Stop signal once, with a SIGKILL deadline budget_ms later; except that
 * Apache stopping reaches a daemon that was already retiring too, and
 * may bring its deadline forward.  A process that is not a slot's current
 * one goes to the stopping list; the current one stays put (Apache itself
 * stops or restarts).
 */
void pyw_proc_stop(pyw_proc_t *p, pyw_why_e why, int64_t budget_ms)
{
    pyw_slot_t *slot = p->slot;
    apr_time_t now, kill_at;

    if (p->proc.pid <= 0) {
        return;
    }
    if (p->term_at == 0 || (why == PYW_WHY_APACHE_STOP
                            && p->why != PYW_WHY_APACHE_STOP)) {
        now = apr_time_now();
        kill_at = now + apr_time_from_msec(budget_ms);
        if (p->term_at == 0 || kill_at < p->kill_at) {
            p->kill_at = kill_at;
        }
        p->why = why;
        p->term_at = now;
        pyw_proc_signal_stop(p->proc.pid, why);
    }
    if (slot != NULL && slot->cur == p) {
        return;
    }
    if (!p->listed) {
        pyw_proc_note_draining(p);
    }
    if (slot != NULL && slot->old == p) {
        slot->old = NULL;
    }
    p->slot = NULL;
    if (!p->listed) {
        p->listed = 1;
        p->next = pyw_pm.stopping_list;
        pyw_pm.stopping_list = p;
    }
}

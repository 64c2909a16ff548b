/*
 * pyw_slots_replace.c - replacing a serving daemon without a gap (a
 * recycle it asked for, or one step of a rolling restart): the new one
 * is forked while the old keeps serving, and READY from the new one
 * stops the old.  A rolling restart replaces a group's slots one at a
 * time.
 */
#include "httpd.h"
#include "http_log.h"

#include "pyw_config.h"
#include "pyw_log.h"
#include "pyw_pm.h"
#include "pyw_slots_int.h"
#include "../common/pyw_board.h"
#include "../common/pyw_metrics.h"

/* ---- replacement ---- */

/* Start a replacement for slot->cur; the current one keeps serving until
 * the new one is ready.  1 if started. */
int pyw_slot_replace(pyw_slot_t *slot, pyw_why_e why)
{
    const pyw_group_t *g = slot->rt->group;
    pyw_proc_t *cur = slot->cur;

    if (cur->proc.pid <= 0 || !cur->ready || cur->term_at != 0
        || slot->old != NULL || pyw_pm_stopping()) {
        return 0;
    }
    slot->old = cur;
    cur->why = why;
    slot->cur = pyw_proc_alloc(g->name, slot->index);
    slot->cur->slot = slot;
    if (pyw_slot_spawn(slot) != APR_SUCCESS) {
        pyw_proc_release(slot->cur);
        slot->cur = cur;
        slot->old = NULL;
        cur->why = PYW_WHY_NONE;
        return 0;
    }
    PYW_SLOG(APLOG_INFO, 0, pyw_pm.s, 30, g->name, (long)cur->proc.pid,
             "replacing daemon process %d (%s) by pid %ld; it keeps "
             "serving until the new one is ready", slot->index + 1,
             pyw_pm_why_text(why), (long)slot->cur->proc.pid);
    return 1;
}

/* A replacement is counted once it serves: the old process stops now. */
static void pyw_slots_count_replacement(pyw_slot_t *slot, pyw_why_e why)
{
    /* A replacement a signal asked for is the daemon's own request, as a
     * limit's is: "recycle". */
    pyw_cause_e cause = why == PYW_WHY_RECYCLE || why == PYW_WHY_SIGNAL
                        ? PYW_CAUSE_RECYCLE
                        : why == PYW_WHY_ROLLING ? PYW_CAUSE_ROLLING
                        : why == PYW_WHY_GRACEFUL ? PYW_CAUSE_GRACEFUL
                        : PYW_CAUSES;

    if (cause != PYW_CAUSES) {
        pyw_metrics_restart(slot->rt->metrics, slot->index, cause,
                            pyw_pm_why_text(why));
    }
}

void pyw_proc_ready(pyw_proc_t *p)
{
    pyw_slot_t *slot = p->slot;
    const pyw_group_t *g;
    pyw_proc_t *old;
    int64_t budget;

    if (p->ready || slot == NULL || slot->cur != p) {
        p->ready = 1;
        return;
    }
    p->ready = 1;
    g = slot->rt->group;
    pyw_board_note_ready(slot->rt->board,
                         apr_time_as_msec(apr_time_now()));
    pyw_metrics_proc_ready(slot->rt->metrics, slot->index, p->proc.pid);
    PYW_SLOG(APLOG_DEBUG, 0, pyw_pm.s, 48, g->name, (long)p->proc.pid,
             "daemon process %d ready after %ld ms", slot->index + 1,
             (long)apr_time_as_msec(apr_time_now() - p->forked_at));
    pyw_demand_ready(slot);
    if ((old = slot->old) != NULL) {
        budget = pyw_group_stop_budget(g, old->why);
        PYW_SLOG(APLOG_INFO, 0, pyw_pm.s, 31, g->name, (long)old->proc.pid,
                 "daemon process %d replaced by pid %ld (%s); stopping it "
                 "gracefully, SIGKILL after %ld ms", slot->index + 1,
                 (long)p->proc.pid, pyw_pm_why_text(old->why),
                 (long)budget);
        pyw_proc_stop(old, old->why, budget);
        pyw_slots_count_replacement(slot, old->why);
    }
    if (slot->rt->rolling) {
        pyw_rolling_step(slot->rt);
    }
}

/* ---- rolling restart of one group ---- */

static void pyw_rolling_start(struct pyw_group_rt *rt, long pid)
{
    rt->rolling = 1;
    rt->roll_next = 0;
    rt->roll_again = 0;
    rt->roll_started = apr_time_now();
    PYW_SLOG(APLOG_NOTICE, 0, pyw_pm.s, 35, rt->group->name, pid, "rolling "
             "restart requested: replacing the group's %d process(es) one "
             "at a time", rt->group->processes);
}

/*
 * Replace the slots in order, each only after the previous replacement
 * is ready.  Called again on every READY of the group and by the monitor
 * (after a failed fork).  A process forked after the restart began is
 * already new and is skipped.
 */
void pyw_rolling_step(struct pyw_group_rt *rt)
{
    const pyw_group_t *g = rt->group;
    pyw_proc_t *cur;

    while (rt->rolling && !pyw_pm_stopping()) {
        if (rt->roll_next >= g->processes) {
            rt->rolling = 0;
            PYW_SLOG(APLOG_NOTICE, 0, pyw_pm.s, 37, g->name, 0L, "rolling "
                     "restart finished");
            if (rt->roll_again) {
                pyw_rolling_start(rt, rt->roll_again);
            }
            continue;
        }
        cur = rt->slots[rt->roll_next].cur;
        if (cur->proc.pid <= 0 || !cur->ready) {
            return;             /* its READY calls us again */
        }
        if (cur->forked_at < rt->roll_started) {
            if (pyw_slot_replace(&rt->slots[rt->roll_next],
                                 PYW_WHY_ROLLING)) {
                PYW_SLOG(APLOG_INFO, 0, pyw_pm.s, 36, g->name,
                         (long)cur->proc.pid, "rolling restart: process "
                         "%d of %d", rt->roll_next + 1, g->processes);
            }
            return;
        }
        rt->roll_next++;
    }
}

/* Requests while one runs are coalesced; only a process that is already
 * new asking again (the script changed again) earns another round. */
void pyw_rolling_request(pyw_proc_t *p)
{
    struct pyw_group_rt *rt;

    if (p->slot == NULL || p->slot->cur != p) {
        return;                 /* being replaced anyway */
    }
    rt = p->slot->rt;
    if (!rt->rolling) {
        pyw_rolling_start(rt, (long)p->proc.pid);
        pyw_rolling_step(rt);
        return;
    }
    if (p->forked_at >= rt->roll_started && !rt->roll_again) {
        rt->roll_again = (long)p->proc.pid;
        PYW_SLOG(APLOG_INFO, 0, pyw_pm.s, 38, rt->group->name,
                 (long)p->proc.pid, "rolling restart requested again by a "
                 "new process; another round follows this one");
        return;
    }
    PYW_SLOG(APLOG_DEBUG, 0, pyw_pm.s, 38, rt->group->name,
             (long)p->proc.pid, "rolling restart already running; request "
             "coalesced");
}

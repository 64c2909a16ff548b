/*
 * pyw_slots_death.c - a daemon's death, as apr_proc_other_child reports
 * it: a slot's current process is restarted (with a back-off after quick
 * failures, or not at all when its on-demand group goes dormant), an old
 * one being replaced or a retired one is let go.  Also Apache stopping,
 * which the same callback announces.
 */
#include <stdio.h>
#include <unistd.h>

#include "httpd.h"
#include "http_log.h"

#include "pyw_config.h"
#include "pyw_log.h"
#include "pyw_pm.h"
#include "pyw_slots_int.h"
#include "../common/pyw_board.h"
#include "../common/pyw_metrics.h"
#include "../common/pyw_spec.h"

#define PYW_QUICK_DEATH         apr_time_from_sec(10)

/* ---- deaths ---- */

static void pyw_cur_died(pyw_proc_t *p, int kind, const char *cause)
{
    pyw_slot_t *slot = p->slot;
    const pyw_group_t *g = slot->rt->group;
    long pid = (long)p->proc.pid;
    /* 254 after READY is the application's own exit status. */
    int failed = ((kind & PYW_DEATH_NOT_STARTED) && !p->ready)
                 || p->startup_killed;
    int quick;
    char delay[32], early[224];

    p->proc.pid = 0;
    /* Siblings must not hand requests to a daemon that is gone. */
    pyw_board_leave(slot->rt->board, slot->index, (pid_t)pid);
    if (p->term_at != 0 || pyw_pm_stopping()) {
        PYW_SLOG(APLOG_INFO, 0, pyw_pm.s, 24, g->name, pid, "daemon "
                 "process %d exited (%s): %s%s", slot->index + 1,
                 pyw_pm_why_text(p->term_at != 0 ? p->why
                                                 : PYW_WHY_APACHE_STOP),
                 cause, p->kill_sent ? ", after SIGKILL" : "");
        return;
    }
    /* Dead before READY without a line of its own (exit 254 has one):
     * Python itself failed to start in its executable (a broken site or
     * .pth file, a missing library), or a signal took it.  What it
     * printed is just above in the error log. */
    if (!failed && !p->ready) {
        snprintf(early, sizeof(early), "exited before it was ready, %s; "
                 "its last output is just above", cause);
        cause = early;
        failed = 1;
    }
    quick = failed || apr_time_now() < p->forked_at
                     + apr_time_from_msec(p->delay_ms) + PYW_QUICK_DEATH;
    if (!quick) {
        slot->failures = slot->ready_deaths = 0;
    }
    else if (failed || !p->ready || slot->ready_deaths++ > 0) {
        slot->failures++;
        slot->failed_at = apr_time_now();
    }
    /* else: a daemon that was serving and died (a crash, os._exit) is
     * restarted at once; only repeated quick deaths back off. */
    if (failed) {
        pyw_board_note_failure(slot->rt->board,
                               apr_time_as_msec(apr_time_now()), cause);
    }
    pyw_metrics_restart(slot->rt->metrics, slot->index,
                        failed ? PYW_CAUSE_STARTUP : PYW_CAUSE_CRASH,
                        p->startup_killed ? "not ready within "
                                            "startup-timeout" : cause);
    delay[0] = '\0';
    if (slot->failures > 0) {
        snprintf(delay, sizeof(delay), " in %d ms",
                 pyw_backoff_ms(slot->failures));
    }
    pyw_proc_note_error(p, (pid_t)pid, failed ? 23 : 22, "%s (%s%s)",
                        failed ? "failed to start" : "died",
                        p->startup_killed ? "not ready within startup-"
                                            "timeout, " : "", cause);
    if (pyw_demand_after_death(slot)) {
        PYW_SLOG(APLOG_ERR, 0, pyw_pm.s, failed ? 23 : 22, g->name, pid,
                 "daemon process %d %s (%s%s); no request waits, so the "
                 "group is left stopped until the next one starts it%s",
                 slot->index + 1, failed ? "failed to start" : "died",
                 p->startup_killed ? "not ready within startup-timeout, "
                                   : "", cause,
                 slot->failures > 0 ? " (after a back-off)" : "");
        return;
    }
    PYW_SLOG(APLOG_ERR, 0, pyw_pm.s, failed ? 23 : 22, g->name, pid,
             "daemon process %d %s (%s%s); restarting it%s",
             slot->index + 1, failed ? "failed to start" : "died",
             p->startup_killed ? "not ready within startup-timeout, " : "",
             cause, delay);
    pyw_slot_spawn(slot);
}

/* The old process of a slot died while its replacement was starting. */
static void pyw_old_died(pyw_proc_t *p, int kind, const char *cause)
{
    int level = (kind & PYW_DEATH_CLEAN) ? APLOG_INFO : APLOG_WARNING;

    if (level == APLOG_WARNING) {
        pyw_proc_note_error(p, p->proc.pid, 46, "exited while being "
                            "replaced: %s", cause);
    }
    PYW_SLOG(level, 0, pyw_pm.s, 46, p->group, (long)p->proc.pid,
             "daemon process %d, being "
             "replaced (%s), exited before its replacement was ready: %s",
             p->index + 1, pyw_pm_why_text(p->why), cause);
    p->slot->old = NULL;
    pyw_proc_release(p);
}

static void pyw_stopping_died(pyw_proc_t *p, const char *cause)
{
    PYW_SLOG(APLOG_INFO, 0, pyw_pm.s, 32, p->group, (long)p->proc.pid,
             "retired daemon process %d exited after %ld ms (%s): %s%s",
             p->index + 1, (long)apr_time_as_msec(apr_time_now()
                                                  - p->term_at),
             pyw_pm_why_text(p->why), cause,
             p->kill_sent ? ", after SIGKILL" : "");
    pyw_stopping_remove(p);
    pyw_proc_release(p);
}

/* A READY left in the pipe of a daemon that died: it was serving (the
 * parent, busy, had not read it yet), so its death is no failure to
 * start.  Only noted: a READY from a process that is gone must not
 * retire its predecessor. */
static void pyw_proc_note_late_ready(pyw_proc_t *p)
{
    char buf[64];
    ssize_t n, i;

    while (!p->ready && p->status_fd >= 0
           && (n = read(p->status_fd, buf, sizeof(buf))) > 0) {
        for (i = 0; i < n; i++) {
            p->ready |= buf[i] == PYW_STATUS_READY;
        }
    }
}

/* What else a dead daemon left in its pipe is dropped. */
static void pyw_proc_died(pyw_proc_t *p, int reason, apr_wait_t status)
{
    char cause[160];
    int kind;

    kind = pyw_pm_death_cause(p, reason, status, cause,
                              sizeof(cause));
    pyw_proc_note_late_ready(p);
    pyw_proc_unregister(p);
    pyw_proc_close_status(p);
    pyw_proc_forget(p);
    if (p->slot != NULL && p->slot->cur == p) {
        pyw_cur_died(p, kind, cause);
    }
    else if (p->slot != NULL && p->slot->old == p) {
        pyw_old_died(p, kind, cause);
    }
    else {
        pyw_stopping_died(p, cause);
    }
}

/*
 * Apache stops or restarts hard: the MPM calls this about every second
 * while it waits for its own children, some of which may wait on us, and
 * the pconf cleanup while it reaps what is left (pyw_procmgr.c).  So the
 * SIGKILL deadline (shutdown-timeout and the margin) is kept here.
 */
void pyw_proc_apache_stops(pyw_proc_t *p)
{
    const pyw_group_t *g = pyw_config_find_group(p->group);

    if (p->term_at == 0 || p->why != PYW_WHY_APACHE_STOP) {
        pyw_proc_stop(p, PYW_WHY_APACHE_STOP,
                      pyw_group_stop_budget(g, PYW_WHY_APACHE_STOP));
        return;
    }
    pyw_check_kill(p, apr_time_now());
}

static void pyw_proc_maintenance(int reason, void *data, apr_wait_t status)
{
    pyw_proc_t *p = data;

    if (getpid() != pyw_pm.parent) {
        return;             /* a fork running the parent's cleanups */
    }
    switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST:
        pyw_proc_died(p, reason, status);
        pyw_pm_poll();
        break;
    case APR_OC_REASON_RESTART:
        pyw_proc_apache_stops(p);
        break;
    case APR_OC_REASON_UNREGISTER:
        p->registered = 0;  /* pconf cleanup: pyw_procmgr.c decides */
        break;
    default:                /* RUNNING, UNWRITABLE: nothing to do */
        break;
    }
}

void pyw_proc_register(pyw_proc_t *p)
{
    apr_proc_other_child_register(&p->keeper.proc, pyw_proc_maintenance, p,
                                  NULL, pyw_pm.pconf);
    p->registered = 1;
}

/*
 * pyw_slots_poll.c - "something may have happened": the status bytes in
 * each daemon's pipe (READY, RECYCLE, SIGNAL, ROLLING, IDLE, ACTIVE), the
 * deadlines (startup-timeout, SIGKILL of a daemon told to stop), and the
 * entry points the hooks and callbacks of the parent call.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "httpd.h"
#include "http_log.h"

#include "pyw_config.h"
#include "pyw_log.h"
#include "pyw_pm.h"
#include "pyw_slots_int.h"
#include "../common/pyw_io.h"
#include "../common/pyw_spec.h"

/* ---- status bytes ---- */

/* Act on one status byte; -1 for a byte no daemon program sends. */
static void pyw_proc_note_exe(pyw_proc_t *p);

static int pyw_proc_status(pyw_proc_t *p, char b)
{
    if (pyw_pm_stopping()) {
        return 0;
    }
    switch (b) {
    case PYW_STATUS_READY:
        pyw_proc_note_exe(p);
        pyw_proc_ready(p);
        break;
    case PYW_STATUS_QUIET:
        /* A replacement as for any limit, whose successor counts the
         * quiet that led to it towards idle-timeout. */
        if (p->slot != NULL && p->slot->cur == p) {
            p->slot->quiet_since = pyw_io_now_ms()
                                   - p->slot->rt->group->inactivity_timeout_ms;
            pyw_slot_replace(p->slot, PYW_WHY_RECYCLE);
        }
        break;
    case PYW_STATUS_RECYCLE:
    case PYW_STATUS_SIGNAL:
        /* Not the current one: it is being replaced already. */
        if (p->slot != NULL && p->slot->cur == p) {
            pyw_slot_replace(p->slot, b == PYW_STATUS_SIGNAL
                                      ? PYW_WHY_SIGNAL : PYW_WHY_RECYCLE);
        }
        break;
    case PYW_STATUS_ROLLING:
        pyw_rolling_request(p);
        break;
    case PYW_STATUS_IDLE:
        p->idle = 1;
        if (p->slot != NULL && p->slot->cur == p) {
            p->slot->rt->idle_check = 1;
        }
        break;
    case PYW_STATUS_ACTIVE:
        p->idle = 0;
        break;
    default:
        return -1;
    }
    return 0;
}

/* The file a process runs, by /proc/PID/exe; -1 if it is gone. */
static int pyw_proc_exe(pid_t pid, struct stat *st)
{
    char path[64];

    snprintf(path, sizeof(path), "/proc/%ld/exe", (long)pid);
    return stat(path, st);
}

static void pyw_proc_note_exe(pyw_proc_t *p)
{
    struct stat st;

    if (pyw_proc_exe(p->proc.pid, &st) == 0) {
        p->exe_dev = st.st_dev;
        p->exe_ino = st.st_ino;
    }
}

/*
 * The status pipe closed, and the process still runs something else
 * than when it said READY: its application exec'd another program
 * (which closed the pipe, close-on-exec), one that will never accept a
 * request while the group waits for it.  End it; its death restarts the
 * slot.  A daemon that exits keeps its program until it is gone.
 */
static void pyw_proc_check_exec(pyw_proc_t *p)
{
    char path[64], now[PATH_MAX];
    struct stat st;
    ssize_t n;

    if (p->proc.pid <= 0 || p->exe_ino == 0 || p->term_at != 0
        || pyw_proc_exe(p->proc.pid, &st) < 0
        || (st.st_dev == p->exe_dev && st.st_ino == p->exe_ino)) {
        return;
    }
    snprintf(path, sizeof(path), "/proc/%ld/exe", (long)p->proc.pid);
    n = readlink(path, now, sizeof(now) - 1);
    now[n > 0 ? n : 0] = '\0';
    PYW_SLOG(APLOG_ERR, 0, pyw_pm.s, 28, p->group, (long)p->proc.pid,
             "daemon process %d runs another program now (%s): its "
             "application exec'd it; killing it", p->index + 1,
             n > 0 ? now : "?");
    kill(p->proc.pid, SIGKILL);
}

/* Drain one pipe.  EOF: the daemon closed it (it is exiting).  A pipe
 * that cannot be read is closed too, or the waker would wake at once,
 * again and again. */
static void pyw_proc_read_status(pyw_proc_t *p)
{
    char buf[64];
    ssize_t n, i;

    while (p->status_fd >= 0) {
        n = read(p->status_fd, buf, sizeof(buf));
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;              /* drained */
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        pyw_pm.events++;        /* the waker did not wake us for nothing */
        if (n < 0) {
            PYW_SLOG(APLOG_WARNING, errno, pyw_pm.s, 42, p->group,
                     (long)p->proc.pid, "cannot read the status pipe; "
                     "closing it");
        }
        if (n == 0) {
            pyw_proc_check_exec(p);
        }
        if (n <= 0) {
            pyw_proc_close_status(p);
        }
        for (i = 0; i < n; i++) {
            if (pyw_proc_status(p, buf[i]) < 0) {
                /* Only the application's code writes such bytes (the
                 * pipe is its process's): one line, not one per byte,
                 * and no more reading of what it sends. */
                PYW_SLOG(APLOG_WARNING, 0, pyw_pm.s, 43, p->group,
                         (long)p->proc.pid, "unknown status byte 0x%02x "
                         "from daemon (its application wrote on the "
                         "status pipe); closing the pipe",
                         (unsigned char)buf[i]);
                pyw_proc_close_status(p);
                break;
            }
        }
    }
}

/* ---- deadlines ---- */

static apr_time_t pyw_earliest(apr_time_t a, apr_time_t b)
{
    return a == 0 || (b != 0 && b < a) ? b : a;
}

static apr_time_t pyw_check_startup(pyw_slot_t *slot, apr_time_t now)
{
    pyw_proc_t *p = slot->cur;
    const pyw_group_t *g = slot->rt->group;

    if (p->proc.pid <= 0 || p->ready || p->start_by == 0
        || p->startup_killed) {
        return 0;
    }
    if (now < p->start_by) {
        return p->start_by;
    }
    PYW_SLOG(APLOG_WARNING, 0, pyw_pm.s, 34, g->name, (long)p->proc.pid,
             "daemon process %d not ready within startup-timeout (%ld ms); "
             "killing it", slot->index + 1, (long)g->startup_timeout_ms);
    p->startup_killed = 1;
    pyw_pm.events++;
    kill(p->proc.pid, SIGKILL);
    return 0;
}

apr_time_t pyw_check_kill(pyw_proc_t *p, apr_time_t now)
{
    if (p->proc.pid <= 0 || p->kill_sent || p->kill_at == 0) {
        return 0;
    }
    if (now < p->kill_at) {
        return p->kill_at;
    }
    /* PYW0025 when Apache stops, PYW0033 for a retired daemon. */
    PYW_SLOG(APLOG_WARNING, 0, pyw_pm.s,
             p->why == PYW_WHY_APACHE_STOP ? 25 : 33, p->group,
             (long)p->proc.pid, "daemon process %d still running %ld ms "
             "after it was told to stop (%s); sending SIGKILL",
             p->index + 1, (long)apr_time_as_msec(now - p->term_at),
             pyw_pm_why_text(p->why));
    pyw_proc_note_error(p, p->proc.pid,
                        p->why == PYW_WHY_APACHE_STOP ? 25 : 33,
                        "SIGKILL: still running %ld ms after it was told "
                        "to stop", (long)apr_time_as_msec(now - p->term_at));
    p->kill_sent = 1;
    pyw_pm.events++;
    kill(p->proc.pid, SIGKILL);
    return 0;
}

/* Act on what is due; the next deadline, or 0 if none. */
static apr_time_t pyw_pm_deadlines(apr_time_t now)
{
    struct pyw_group_rt **rts = (struct pyw_group_rt **)pyw_pm.rts->elts;
    apr_time_t next = 0;
    pyw_proc_t *p;
    int i, j;

    for (i = 0; i < pyw_pm.rts->nelts; i++) {
        for (j = 0; j < rts[i]->group->processes; j++) {
            next = pyw_earliest(next, pyw_check_startup(&rts[i]->slots[j],
                                                        now));
        }
    }
    for (p = pyw_pm.stopping_list; p != NULL; p = p->next) {
        next = pyw_earliest(next, pyw_check_kill(p, now));
    }
    return next;
}

/* ---- the one entry point for "something may have happened" ---- */

void pyw_pm_each_proc(void (*fn)(pyw_proc_t *p, void *baton), void *baton)
{
    struct pyw_group_rt **rts;
    pyw_proc_t *p, *next;
    int i, j;

    if (pyw_pm.rts == NULL) {
        return;
    }
    rts = (struct pyw_group_rt **)pyw_pm.rts->elts;
    for (i = 0; i < pyw_pm.rts->nelts; i++) {
        for (j = 0; j < rts[i]->group->processes; j++) {
            if (rts[i]->slots[j].cur->proc.pid > 0) {
                fn(rts[i]->slots[j].cur, baton);
            }
            if (rts[i]->slots[j].old != NULL) {
                fn(rts[i]->slots[j].old, baton);
            }
        }
    }
    for (p = pyw_pm.stopping_list; p != NULL; p = next) {
        next = p->next;
        fn(p, baton);
    }
}

static void pyw_read_one(pyw_proc_t *p, void *baton)
{
    pyw_proc_read_status(p);
}

/* A daemon still starting: did its READY reach the pipe meanwhile?  The
 * bytes are consumed; before READY nothing else a daemon says matters to
 * a restart, which replaces every daemon anyway. */
static void pyw_note_ready(pyw_proc_t *p, void *baton)
{
    char buf[64];
    ssize_t n, i;

    while (!p->ready && p->status_fd >= 0
           && ((n = read(p->status_fd, buf, sizeof(buf))) > 0
               || (n < 0 && errno == EINTR))) {
        for (i = 0; i < n; i++) {
            p->ready |= buf[i] == PYW_STATUS_READY;
        }
    }
}

void pyw_pm_note_ready(void)
{
    if (pyw_pm.rts != NULL && getpid() == pyw_pm.parent) {
        pyw_pm_each_proc(pyw_note_ready, NULL);
    }
}

void pyw_pm_poll(void)
{
    apr_time_t next;

    if (pyw_pm.rts == NULL || getpid() != pyw_pm.parent || pyw_pm.in_poll) {
        return;
    }
    pyw_pm.in_poll = 1;
    /* Reading may replace processes; each_proc copes: new ones are
     * visited or not, moved ones at most twice (reads are idempotent). */
    pyw_pm_each_proc(pyw_read_one, NULL);
    if (!pyw_pm_stopping()) {
        pyw_demand_idle_checks();
        pyw_demand_wake();
    }
    next = pyw_pm_deadlines(apr_time_now());
    if (!pyw_pm_stopping()) {
        pyw_waker_arm(next);
    }
    pyw_pm.in_poll = 0;
}

/* Monitor hook: slots left empty by a failed fork, rolling restarts that
 * a failed fork held up. */
void pyw_pm_retry(void)
{
    struct pyw_group_rt **rts;
    int i, j;

    if (pyw_pm.rts == NULL || pyw_pm_stopping()) {
        return;
    }
    rts = (struct pyw_group_rt **)pyw_pm.rts->elts;
    for (i = 0; i < pyw_pm.rts->nelts; i++) {
        for (j = 0; j < rts[i]->group->processes && !rts[i]->dormant; j++) {
            if (rts[i]->slots[j].cur->proc.pid <= 0) {
                pyw_slot_spawn(&rts[i]->slots[j]);
            }
        }
        if (rts[i]->rolling) {
            pyw_rolling_step(rts[i]);
        }
    }
}

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
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "pyw_config.h"
#include "pyw_exec.h"
#include "pyw_log.h"
#include "pyw_pm.h"
#include "../common/pyw_board.h"
#include "../common/pyw_io.h"
#include "../common/pyw_metrics.h"

#define PYW_QUICK_DEATH         apr_time_from_sec(10)
#define PYW_BACKOFF_MIN_MS      1000
#define PYW_BACKOFF_MAX_MS      30000

static void pyw_rolling_step(struct pyw_group_rt *rt);
static apr_time_t pyw_check_kill(pyw_proc_t *p, apr_time_t now);

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
    return p;
}

static void pyw_proc_unregister(pyw_proc_t *p)
{
    if (p->registered) {
        p->registered = 0;
        apr_proc_other_child_unregister(p);
    }
}

static void pyw_proc_close_status(pyw_proc_t *p)
{
    if (p->status_fd >= 0) {
        close(p->status_fd);
        p->status_fd = -1;
    }
}

static void pyw_proc_release(pyw_proc_t *p)
{
    pyw_proc_unregister(p);
    pyw_proc_close_status(p);
    p->next = pyw_pm.free_list;
    pyw_pm.free_list = p;
}

static void pyw_stopping_remove(pyw_proc_t *p)
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

/* ---- the spec a daemon starts from ---- */

static const char *pyw_display_name(apr_pool_t *p, const pyw_group_t *g)
{
    static const char token[] = "%{GROUP}";
    const char *in = g->display_name, *hit;
    const char *out = "";

    if (in == NULL) {
        return NULL;
    }
    while ((hit = strstr(in, token)) != NULL) {
        out = apr_pstrcat(p, out, apr_pstrmemdup(p, in, hit - in),
                          "(pyworker:", g->name, ")", NULL);
        in = hit + sizeof(token) - 1;
    }
    return apr_pstrcat(p, out, in, NULL);
}

/* PyWorkerScriptReloading is a directory setting; the daemon gets the
 * value in force at the top of the server that defined the group. */
static int pyw_group_script_reloading(const pyw_group_t *g)
{
    const pyw_dir_conf_t *d;

    d = ap_get_module_config(g->server->lookup_defaults, &pyworker_module);
    return d == NULL || d->script_reloading != 0;
}

/* The group's options as written, then what the parent resolved. */
static void pyw_fill_spec(const pyw_slot_t *slot, const pyw_proc_t *p,
                          int status_fd, pyw_daemon_spec_t *spec)
{
    const pyw_group_t *g = slot->rt->group;

    memset(spec, 0, sizeof(*spec));
    PYW_OPTIONS_COPY(spec, g);
    spec->python_home = g->python_home ? g->python_home
                                       : pyw_globals.python_home;
    spec->python_path = g->python_path ? g->python_path
                                       : pyw_globals.python_path;
    spec->group = g->name;
    spec->process_index = slot->index;
    spec->drop_privileges = geteuid() == 0;
    spec->uid = g->uid;
    spec->gid = g->gid;
    spec->user_name = g->user_name;
    spec->supplementary_gids = g->supplementary_gids;
    spec->n_supplementary_gids = g->n_supplementary_gids;
    spec->import_scripts = (const char *const *)g->import_scripts->elts;
    spec->n_import_scripts = g->import_scripts->nelts;
    spec->import_app_groups =
        (const char *const *)g->import_app_groups->elts;
    spec->n_import_app_groups = g->import_app_groups->nelts;
    /* mod_wsgi: response-socket-timeout, by default socket-timeout. */
    spec->response_write_timeout_ms = g->response_socket_timeout_ms > 0
                                      ? g->response_socket_timeout_ms
                                      : g->socket_timeout_ms;
    spec->script_reloading = pyw_group_script_reloading(g);
    spec->log_level = ap_get_server_module_loglevel(pyw_pm.s,
                                                    APLOG_MODULE_INDEX);
    spec->startup_delay_ms = p->delay_ms;
    spec->listen_fd = slot->rt->listen_fd;
    spec->status_fd = status_fd;
    spec->log_fd = pyw_pm.log_fd;
}

/* ---- starting a daemon ---- */

static int pyw_backoff_ms(int failures)
{
    int ms = PYW_BACKOFF_MIN_MS;

    if (failures <= 0) {
        return 0;
    }
    while (--failures > 0 && ms < PYW_BACKOFF_MAX_MS) {
        ms *= 2;
    }
    return ms < PYW_BACKOFF_MAX_MS ? ms : PYW_BACKOFF_MAX_MS;
}

/* One pipe per daemon: the parent reads, the daemon writes.  Without it
 * the daemon still runs, but is taken as ready at once. */
static void pyw_status_pipe(const pyw_group_t *g, int fds[2])
{
    if (pipe2(fds, O_CLOEXEC) < 0) {
        PYW_SLOG(APLOG_WARNING, errno, pyw_pm.s, 42, g->name, 0L, "cannot "
                 "create a status pipe; the new daemon will be taken as "
                 "ready as soon as it is forked");
        fds[0] = fds[1] = -1;
        return;
    }
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
}

static void pyw_proc_reset(pyw_proc_t *p)
{
    p->ready = 0;
    p->idle = 0;
    p->startup_killed = 0;
    p->why = PYW_WHY_NONE;
    p->term_at = p->kill_at = 0;
    p->kill_sent = 0;
    p->start_by = 0;
}

/* Fork slot->cur, which must be empty.  On failure the slot stays empty
 * and the monitor hook tries again. */
apr_status_t pyw_slot_spawn(pyw_slot_t *slot)
{
    const pyw_group_t *g = slot->rt->group;
    pyw_proc_t *p = slot->cur;
    pyw_daemon_spec_t spec;
    apr_status_t rv;
    int fds[2];

    if (pyw_pm_stopping()) {
        return APR_EINVAL;
    }
    pyw_proc_reset(p);
    p->delay_ms = pyw_backoff_ms(slot->failures);
    pyw_status_pipe(g, fds);
    rv = apr_proc_fork(&p->proc, pyw_pm.pconf);
    if (rv == APR_INCHILD) {
        if (fds[0] >= 0) {
            close(fds[0]);
        }
        pyw_fill_spec(slot, p, fds[1], &spec);
        pyw_exec_daemon(pyw_pm.pconf, &spec, g->daemon_program,
                        pyw_display_name(pyw_pm.pconf, g),
                        slot->rt->board_fd,
                        slot->rt->wboard_fd);
    }
    if (fds[1] >= 0) {
        close(fds[1]);
    }
    if (rv != APR_INPARENT) {
        p->proc.pid = 0;
        if (fds[0] >= 0) {
            close(fds[0]);
        }
        PYW_SLOG(APLOG_ERR, rv, pyw_pm.s, 20, g->name, 0L, "cannot fork "
                 "daemon process %d; trying again later", slot->index + 1);
        return rv;
    }
    p->status_fd = fds[0];
    p->ready = fds[0] < 0;
    p->forked_at = apr_time_now();
    if (g->startup_timeout_ms > 0) {
        p->start_by = p->forked_at + apr_time_from_msec(p->delay_ms)
                      + apr_time_from_msec(g->startup_timeout_ms);
    }
    pyw_proc_register(p);
    pyw_metrics_proc_start(slot->rt->metrics, slot->index, p->proc.pid,
                           pyw_io_now_ms());
    if (p->ready) {
        pyw_metrics_proc_ready(slot->rt->metrics, slot->index, p->proc.pid);
    }
    PYW_SLOG(APLOG_INFO, 0, pyw_pm.s, 21, g->name, (long)p->proc.pid,
             "daemon process %d of %d started (start-up delay %d ms)",
             slot->index + 1, g->processes, p->delay_ms);
    return APR_SUCCESS;
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
    int evict = why == PYW_WHY_ROLLING || why == PYW_WHY_GRACEFUL;

    if (why == PYW_WHY_APACHE_STOP) {
        return shutdown + PYW_KILL_MARGIN_MS;
    }
    if (evict && g != NULL && g->eviction_timeout_ms > 0) {
        graceful = g->eviction_timeout_ms;
    }
    return graceful + shutdown + PYW_KILL_MARGIN_MS;
}

/* Tell the daemon to stop, and why: the kind of stop is its budget. */
static void pyw_proc_signal_stop(pid_t pid, pyw_why_e why)
{
    union sigval v;

    if (why == PYW_WHY_APACHE_STOP) {
        kill(pid, PYW_SIG_APACHE_STOP);
        return;
    }
    v.sival_int = why == PYW_WHY_ROLLING || why == PYW_WHY_GRACEFUL
                  ? PYW_RETIRE_EVICT
                  : why == PYW_WHY_IDLE ? PYW_RETIRE_IDLE : PYW_RETIRE_RECYCLE;
    if (sigqueue(pid, PYW_SIG_RETIRE, v) < 0) {
        kill(pid, PYW_SIG_RETIRE);
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

/* ---- deaths ---- */

static void pyw_cur_died(pyw_proc_t *p, int kind, const char *cause)
{
    pyw_slot_t *slot = p->slot;
    const pyw_group_t *g = slot->rt->group;
    long pid = (long)p->proc.pid;
    int failed = (kind & PYW_DEATH_NOT_STARTED) || p->startup_killed;
    int quick;
    char delay[32];

    p->proc.pid = 0;
    /* Siblings must not hand requests to a daemon that is gone. */
    pyw_board_leave(slot->rt->board, slot->index, (pid_t)pid);
    pyw_metrics_proc_gone(slot->rt->metrics, slot->index, (pid_t)pid);
    if (p->term_at != 0 || pyw_pm_stopping()) {
        PYW_SLOG(APLOG_INFO, 0, pyw_pm.s, 24, g->name, pid, "daemon "
                 "process %d exited (%s): %s%s", slot->index + 1,
                 pyw_pm_why_text(p->term_at != 0 ? p->why
                                                 : PYW_WHY_APACHE_STOP),
                 cause, p->kill_sent ? ", after SIGKILL" : "");
        return;
    }
    quick = failed || apr_time_now() < p->forked_at
                     + apr_time_from_msec(p->delay_ms) + PYW_QUICK_DEATH;
    if (!quick) {
        slot->failures = slot->ready_deaths = 0;
    }
    else if (failed || !p->ready || slot->ready_deaths++ > 0) {
        slot->failures++;
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

/* Bytes a dead daemon left in its pipe are dropped: a READY from a
 * process that is gone must not retire its predecessor. */
static void pyw_proc_died(pyw_proc_t *p, int reason, apr_wait_t status)
{
    char cause[160];
    int kind;

    kind = pyw_pm_death_cause(p->proc.pid, reason, status, cause,
                              sizeof(cause));
    pyw_proc_unregister(p);
    pyw_proc_close_status(p);
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
    apr_proc_other_child_register(&p->proc, pyw_proc_maintenance, p, NULL,
                                  pyw_pm.pconf);
    p->registered = 1;
}

/* ---- replacement ---- */

/* Start a replacement for slot->cur; the current one keeps serving until
 * the new one is ready.  1 if started. */
static int pyw_slot_replace(pyw_slot_t *slot, pyw_why_e why)
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
    pyw_cause_e cause = why == PYW_WHY_RECYCLE ? PYW_CAUSE_RECYCLE
                        : why == PYW_WHY_ROLLING ? PYW_CAUSE_ROLLING
                        : why == PYW_WHY_GRACEFUL ? PYW_CAUSE_GRACEFUL
                        : PYW_CAUSES;

    if (cause != PYW_CAUSES) {
        pyw_metrics_restart(slot->rt->metrics, slot->index, cause,
                            pyw_pm_why_text(why));
    }
}

static void pyw_proc_ready(pyw_proc_t *p)
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
static void pyw_rolling_step(struct pyw_group_rt *rt)
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
static void pyw_rolling_request(pyw_proc_t *p)
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

/* ---- status bytes ---- */

static void pyw_proc_status(pyw_proc_t *p, char b)
{
    if (pyw_pm_stopping()) {
        return;
    }
    switch (b) {
    case PYW_STATUS_READY:
        pyw_proc_ready(p);
        break;
    case PYW_STATUS_RECYCLE:
        if (p->slot != NULL && p->slot->cur == p) {
            pyw_slot_replace(p->slot, PYW_WHY_RECYCLE);
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
        PYW_SLOG(APLOG_WARNING, 0, pyw_pm.s, 43, p->group,
                 (long)p->proc.pid, "unknown status byte 0x%02x from "
                 "daemon; ignored", (unsigned char)b);
        break;
    }
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
        if (n <= 0) {
            pyw_proc_close_status(p);
        }
        for (i = 0; i < n; i++) {
            pyw_proc_status(p, buf[i]);
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

static apr_time_t pyw_check_kill(pyw_proc_t *p, apr_time_t now)
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

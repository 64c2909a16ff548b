/*
 * pyw_slots_spawn.c - starting a slot's daemon: the spec it starts from
 * (its group's options as written, then what the parent resolved), a
 * status pipe, the back-off after quick failures, and the fork that
 * execs the daemon program (pyw_exec.c).
 */
#include <errno.h>
#include <fcntl.h>
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
#include "pyw_slots_int.h"
#include "../common/pyw_board.h"
#include "../common/pyw_io.h"
#include "../common/pyw_metrics.h"

#define PYW_BACKOFF_MIN_MS      1000
#define PYW_BACKOFF_MAX_MS      30000

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
    spec->wboard_lane = p->lane;
    spec->drop_privileges = geteuid() == 0;
    spec->uid = g->uid;
    spec->gid = g->gid;
    spec->user_name = g->user_name;
    spec->script_uid = g->script_uid;
    spec->script_gid = g->script_gid;
    spec->supplementary_gids = g->supplementary_gids;
    spec->n_supplementary_gids = g->n_supplementary_gids;
    spec->import_scripts = (const char *const *)g->import_scripts->elts;
    spec->n_import_scripts = g->import_scripts->nelts;
    spec->import_app_groups =
        (const char *const *)g->import_app_groups->elts;
    spec->n_import_app_groups = g->import_app_groups->nelts;
    spec->import_modes = (const char *const *)g->import_modes->elts;
    spec->n_import_modes = g->import_modes->nelts;
    spec->response_write_timeout_ms = pyw_config_response_write_ms(g);
    spec->script_reloading = pyw_group_script_reloading(g);
    /* A group defined in a vhost logs as that vhost does: its error log
     * (pyw_pm_add_group), level and format. */
    spec->log_level = ap_get_server_module_loglevel(g->server,
                                                    APLOG_MODULE_INDEX);
    spec->startup_delay_ms = p->delay_ms;
    spec->quiet_since_ms = slot->quiet_since;
    /* slot->old is set only while it serves (pyw_slot_replace, a
     * handover): a deploy must not retire it for a daemon whose
     * application failed to load. */
    spec->replacing = slot->old != NULL;
    spec->listen_fd = slot->rt->listen_fd;
    spec->status_fd = status_fd;
    /* Where the group's server logs: its file or pipe (else stderr,
     * which Apache points at the main log), or syslog. */
    spec->log_fd = slot->rt->log.fd >= 0 ? slot->rt->log.fd : pyw_pm.log_fd;
    spec->log_format = slot->rt->log.format;
    spec->log_server = g->server->server_hostname;
    spec->log_syslog = slot->rt->log.syslog;
    spec->syslog_facility = slot->rt->log.facility;
    spec->syslog_tag = slot->rt->log.tag;
}

/* ---- starting a daemon ---- */

int pyw_backoff_ms(int failures)
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

/* The back-off spaces a failing slot's starts: what already passed
 * since its last failure counts (a dormant group woken long after its
 * last failed start starts at once). */
static int pyw_slot_delay_ms(const pyw_slot_t *slot)
{
    int64_t waited = apr_time_as_msec(apr_time_now() - slot->failed_at);
    int64_t ms = pyw_backoff_ms(slot->failures);

    return ms > waited ? (int)(ms - waited) : 0;
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
    p->exe_dev = 0;
    p->exe_ino = 0;
    p->idle = 0;
    p->startup_killed = 0;
    p->why = PYW_WHY_NONE;
    p->term_at = p->kill_at = 0;
    p->kill_sent = 0;
    p->start_by = 0;
}

/* A worker board lane for the slot's new process: a free one that the
 * old process (if any) does not hold; else the one a process that drains
 * longer holds (the page then loses sight of that one). */
static int pyw_slot_lane(const pyw_slot_t *slot)
{
    int keep = slot->old != NULL ? slot->old->lane : -1;
    int lane;

    for (lane = 0; lane < PYW_WBOARD_LANES; lane++) {
        if (slot->lane_pid[lane] == 0 && lane != keep) {
            return lane;
        }
    }
    return keep == 0 ? 1 : 0;
}

/* The status page lists the process being replaced beside its successor
 * (pyw_metrics.h): its start is the one its slot recorded for it. */
static void pyw_slot_note_old(const pyw_slot_t *slot)
{
    pid_t pid = slot->old != NULL ? slot->old->proc.pid : 0;
    pyw_metrics_proc_snap_t snap;

    if (pid <= 0 || pyw_metrics_read_proc(slot->rt->metrics, slot->index,
                                          &snap) < 0
        || snap.old_pid == pid) {
        return;                 /* none, or recorded at an earlier try */
    }
    pyw_metrics_proc_old(slot->rt->metrics, slot->index, pid,
                         snap.pid == pid ? snap.started_ms : 0);
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
    p->lane = pyw_slot_lane(slot);
    p->delay_ms = pyw_slot_delay_ms(slot);
    pyw_status_pipe(g, fds);
    rv = pyw_keeper_fork(&p->keeper, &p->proc.pid, pyw_pm.pconf);
    if (rv == APR_INCHILD) {
        if (fds[0] >= 0) {
            close(fds[0]);
        }
        pyw_fill_spec(slot, p, fds[1], &spec);
        spec.keeper_pid = (int)p->keeper.proc.pid;
        spec.apache_pid = (int)pyw_pm.parent;
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
    slot->quiet_since = 0;      /* handed to this process, or stale */
    if (g->startup_timeout_ms > 0) {
        p->start_by = p->forked_at + apr_time_from_msec(p->delay_ms)
                      + apr_time_from_msec(g->startup_timeout_ms);
    }
    pyw_proc_register(p);
    slot->lane_pid[p->lane] = p->proc.pid;
    pyw_slot_note_old(slot);
    pyw_metrics_proc_start(slot->rt->metrics, slot->index, p->proc.pid,
                           pyw_io_now_ms());
    pyw_board_note_starting(slot->rt->board,
                            apr_time_as_msec(p->forked_at) + p->delay_ms);
    if (p->ready) {
        pyw_metrics_proc_ready(slot->rt->metrics, slot->index, p->proc.pid);
    }
    PYW_SLOG(APLOG_INFO, 0, pyw_pm.s, 21, g->name, (long)p->proc.pid,
             "daemon process %d of %d started (start-up delay %d ms)",
             slot->index + 1, g->processes, p->delay_ms);
    return APR_SUCCESS;
}

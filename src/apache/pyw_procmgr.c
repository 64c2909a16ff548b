/*
 * pyw_procmgr.c - the Apache parent owns the daemon processes: group
 * sockets, the hooks, and what happens to the daemons when Apache stops
 * or restarts.  The life of each process (fork, status pipe, replacement,
 * rolling restart, deaths) is in pyw_slots*.c; the waker that brings
 * status bytes to the parent's attention is in pyw_waker.c.
 *
 * Lifetimes:
 *  - sockets live in the process pool (ap_retained_data), keyed by path,
 *    so they outlive daemon restarts and graceful restarts: a request that
 *    arrives meanwhile waits in the listen backlog.  This DSO is unloaded
 *    and loaded again at every restart, so only plain data is kept there:
 *    no cleanup or callback of ours may be registered on that pool.
 *  - processes, other_child records and the SIGCHLD handler belong to one
 *    generation (pconf).  At a restart the pconf cleanup does not wait for
 *    the daemons: it hands their pids and status pipes over, as plain
 *    data, to the next generation, which lets them serve until their
 *    successors are ready (see pyw_pm_handover).  Only when Apache exits
 *    does the cleanup stop them: SIGTERM, shutdown-timeout, SIGKILL.
 *
 * Apache's children and our daemons are forks of the parent: they carry
 * copies of pconf's cleanups and of the other_child list.  Every callback
 * here therefore acts only when getpid() is the parent's.
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

pyw_pm_t pyw_pm;

struct pyw_metrics *pyw_pm_metrics(const pyw_group_t *g)
{
    return g->rt != NULL ? g->rt->metrics : NULL;
}

int pyw_pm_wboard_fd(const pyw_group_t *g)
{
    return g->rt != NULL ? g->rt->wboard_fd : -1;
}

int pyw_pm_wboard_prev(const pyw_group_t *g, int *processes, int *threads)
{
    if (g->rt == NULL || g->rt->wboard_prev_fd < 0) {
        return -1;
    }
    *processes = g->rt->wb_prev_processes;
    *threads = g->rt->wb_prev_threads;
    return g->rt->wboard_prev_fd;
}

uint64_t pyw_pm_listen_ino(const pyw_group_t *g)
{
    return g->rt != NULL ? g->rt->listen_ino : 0;
}

/* An Apache child has no mapping of the boards (pyw_pm_child_init): it
 * maps the group's for this one look, on a request that already failed. */
int pyw_pm_last_start_failure(const pyw_group_t *g, char *cause,
                              size_t len, int64_t *age_ms)
{
    pyw_board_t *b;
    int rv;

    if (g->rt == NULL) {
        return 0;
    }
    b = g->rt->board != NULL ? g->rt->board
        : g->rt->board_fd >= 0 ? pyw_board_map(g->rt->board_fd) : NULL;
    rv = pyw_board_last_failure(b, apr_time_as_msec(apr_time_now()), cause,
                                len, age_ms);
    if (b != g->rt->board) {
        pyw_board_destroy(b);
    }
    return rv;
}

/* The balancer and the connection cache ask on every request, so a
 * child maps a group's board the first time and keeps it; threads may
 * race to map it, and the loser unmaps its own. */
pyw_board_t *pyw_pm_group_board(const pyw_group_t *g)
{
    pyw_board_t *b, *mine, *none = NULL;

    b = g->rt ? __atomic_load_n(&g->rt->board, __ATOMIC_ACQUIRE) : NULL;
    if (b == NULL && g->rt != NULL && g->rt->board_fd >= 0
        && (mine = pyw_board_map(g->rt->board_fd)) != NULL) {
        if (__atomic_compare_exchange_n(&g->rt->board, &none, mine, 0,
                                        __ATOMIC_ACQ_REL,
                                        __ATOMIC_ACQUIRE)) {
            b = mine;
        }
        else {
            pyw_board_destroy(mine);
            b = none;
        }
    }
    return b;
}

void pyw_pm_group_load(const pyw_group_t *g, pyw_board_load_t *load)
{
    pyw_board_load(pyw_pm_group_board(g), g->processes, load);
}

int pyw_pm_stopping(void)
{
    int state;

    if (pyw_pm.stopping) {
        return 1;
    }
    return ap_mpm_query(AP_MPMQ_MPM_STATE, &state) == APR_SUCCESS
           && state == AP_MPMQ_STOPPING;
}

/* ---- hooks ---- */

/* The argv strings are contiguous from argv[0]; /proc says how far.  The
 * waker (a plain fork) writes its title there. */
static void pyw_pm_title_area(process_rec *proc)
{
    char buf[4096];
    ssize_t n = 0;
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);

    if (fd >= 0) {
        n = read(fd, buf, sizeof(buf));
        close(fd);
    }
    pyw_pm.title_area = (char *)proc->argv[0];
    pyw_pm.title_len = strlen(proc->argv[0]) + 1;
    if (n > (ssize_t)pyw_pm.title_len
        && memcmp(buf, proc->argv[0], pyw_pm.title_len) == 0) {
        pyw_pm.title_len = (size_t)n;
    }
}

static void pyw_pm_init(apr_pool_t *pconf, server_rec *s)
{
    apr_os_file_t fd;

    memset(&pyw_pm, 0, sizeof(pyw_pm));
    pyw_pm.s = s;
    pyw_pm.pconf = pconf;
    pyw_pm.parent = getpid();
    pyw_pm.rts = apr_array_make(pconf, 4, sizeof(struct pyw_group_rt *));
    pyw_pm.retained = ap_retained_data_get(PYW_RETAINED_KEY);
    if (pyw_pm.retained == NULL) {
        pyw_pm.retained = ap_retained_data_create(PYW_RETAINED_KEY,
                                                  sizeof(pyw_retained_t));
        pyw_pm.retained->socks = apr_hash_make(s->process->pool);
    }
    pyw_pm.log_fd = STDERR_FILENO;
    if (s->error_log && apr_os_file_get(&fd, s->error_log) == APR_SUCCESS) {
        pyw_pm.log_fd = fd;
    }
    pyw_pm_title_area(s->process);
}

static void pyw_pm_add_group(apr_pool_t *pconf, pyw_group_t *g)
{
    struct pyw_group_rt *rt = apr_pcalloc(pconf, sizeof(*rt));
    int i;

    rt->group = g;
    rt->listen_fd = -1;
    rt->board_fd = -1;
    rt->wboard_fd = -1;
    rt->wboard_prev_fd = -1;
    rt->inflight_row = -1;
    pyw_errlog_of(pconf, g->server, pyw_pm.s, &rt->log);
    g->send_log_id = rt->log.log_id;
    rt->slots = apr_pcalloc(pconf, g->processes * sizeof(pyw_slot_t));
    for (i = 0; i < g->processes; i++) {
        rt->slots[i].rt = rt;
        rt->slots[i].index = i;
        rt->slots[i].cur = pyw_proc_alloc(g->name, i);
        rt->slots[i].cur->slot = &rt->slots[i];
    }
    *(struct pyw_group_rt **)apr_array_push(pyw_pm.rts) = rt;
    g->rt = rt;
    if (geteuid() != 0 && (g->user != NULL || g->unix_group != NULL)) {
        PYW_SLOG(APLOG_WARNING, 0, pyw_pm.s, 26, g->name, 0L, "user= and "
                 "group= are ignored: Apache does not run as root");
    }
}

/*
 * The parent holds three descriptors per group (socket, boards) and the
 * children two (boards): with hundreds of groups the usual soft limit of
 * 1024 would run out.  Raise it towards the hard limit when it is short;
 * the children inherit it.
 */
/* Per group its socket, board and worker board; per daemon process a
 * status pipe and its keeper's report pipe, twice while it is being
 * replaced. */
static void pyw_pm_raise_nofile(server_rec *s, pyw_group_t **g, int groups)
{
    struct rlimit rl;
    rlim_t want = PYW_NOFILE_SPARE;
    int i;

    for (i = 0; i < groups; i++) {
        want += 3 + (rlim_t)g[i]->processes * 2 * 2;
    }

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want
        || rl.rlim_cur >= rl.rlim_max) {
        return;
    }
    want = want * 2 < rl.rlim_max ? want * 2 : rl.rlim_max;
    PYW_SLOG(APLOG_INFO, 0, s, 54, NULL, 0L, "%d groups: raising the open "
             "files limit from %lu to %lu", groups,
             (unsigned long)rl.rlim_cur, (unsigned long)want);
    rl.rlim_cur = want;
    setrlimit(RLIMIT_NOFILE, &rl);
}

static void pyw_pm_spawn_all(void)
{
    struct pyw_group_rt **rts = (struct pyw_group_rt **)pyw_pm.rts->elts;
    int i;

    for (i = 0; i < pyw_pm.rts->nelts; i++) {
        pyw_demand_start_or_sleep(rts[i]);
    }
}

static int pyw_pm_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp, server_rec *s)
{
    pyw_group_t **groups = (pyw_group_t **)pyw_globals.groups->elts;
    int generation = ap_state_query(AP_SQ_CONFIG_GEN);
    int i;

    /* Nothing on the preflight read, nor for configtest / -S / -M. */
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG
        || ap_state_query(AP_SQ_RUN_MODE) != AP_SQ_RM_NORMAL) {
        return OK;
    }
    pyw_pm_init(pconf, s);
    pyw_errlog_formats_load(pconf);
    /* First: whatever fails below, this stops what started. */
    apr_pool_cleanup_register(pconf, NULL, pyw_pm_stop_all,
                              apr_pool_cleanup_null);
    pyw_chld_install();
    pyw_pm_raise_nofile(s, groups, pyw_globals.groups->nelts);
    for (i = 0; i < pyw_globals.groups->nelts; i++) {
        pyw_pm_add_group(pconf, groups[i]);
    }
    /* Before anything can fail: the cleanup then stops these too. */
    pyw_pm_takeover();
    for (i = 0; i < pyw_globals.groups->nelts; i++) {
        if (pyw_sock_open(s, ptemp, groups[i], generation) != APR_SUCCESS) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    pyw_proc_note_stopping();
    pyw_sock_sweep(s, ptemp, generation, 0);
    pyw_pm_spawn_all();
    pyw_pm_poll();
    return OK;
}

/* The monitor hook comes about every 10 s; the waker (pyw_waker.c) is
 * what makes the process manager prompt.  This is the safety net. */
static int pyw_pm_monitor(apr_pool_t *p, server_rec *s)
{
    if (pyw_pm.rts == NULL || getpid() != pyw_pm.parent
        || pyw_pm_stopping()) {
        return DECLINED;
    }
    pyw_pm_retry();
    pyw_waker_reset();
    pyw_pm_poll();
    pyw_inflight_sweep_all();
    return DECLINED;
}

static void pyw_close_pipes(pyw_proc_t *p, void *baton)
{
    if (p->status_fd >= 0) {
        close(p->status_fd);
        p->status_fd = -1;
    }
    if (p->keeper.report_fd >= 0) {
        close(p->keeper.report_fd);
        p->keeper.report_fd = -1;
    }
}

/* Apache's children must not hold the daemons' listening sockets, nor
 * the status pipes.  Nor a mapping of every group's board: they keep
 * its descriptor and map it only to say why a connect failed, so many
 * groups do not mean as many mappings in every child.  They keep the
 * metrics mapped (each request counts itself) and the worker board's
 * descriptor (the status page maps it), and claim their row in the
 * tables of requests they hold (queue-limit=). */
static void pyw_pm_child_init(apr_pool_t *p, server_rec *s)
{
    struct pyw_group_rt **rts;
    apr_hash_index_t *hi;
    pyw_sock_t *k;
    int i;

    if (pyw_pm.retained == NULL || getpid() == pyw_pm.parent) {
        return;             /* -X: this child is the parent */
    }
    for (hi = apr_hash_first(p, pyw_pm.retained->socks); hi;
         hi = apr_hash_next(hi)) {
        k = apr_hash_this_val(hi);
        if (k->fd >= 0) {
            close(k->fd);
            k->fd = -1;
        }
        pyw_board_destroy(k->board);
        k->board = NULL;
    }
    rts = pyw_pm.rts ? (struct pyw_group_rt **)pyw_pm.rts->elts : NULL;
    for (i = 0; rts != NULL && i < pyw_pm.rts->nelts; i++) {
        rts[i]->board = NULL;
        rts[i]->listen_fd = -1;
        pyw_inflight_child_init(p, rts[i]);
    }
    pyw_pm_each_proc(pyw_close_pipes, NULL);
    pyw_chld_uninstall();
}

void pyw_procmgr_register_hooks(apr_pool_t *p)
{
    ap_hook_post_config(pyw_pm_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(pyw_pm_child_init, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_monitor(pyw_pm_monitor, NULL, NULL, APR_HOOK_MIDDLE);
    pyw_inflight_register_hooks(p);
}

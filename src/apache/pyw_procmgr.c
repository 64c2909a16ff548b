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

#define PYW_KILL_WAIT_MS        1000
/* Bump the suffix whenever pyw_retained_t changes: a graceful restart
 * into a new build must not read an old block of another size. */
#define PYW_RETAINED_KEY        "mod_pyworker.procmgr.6"
#define PYW_CHLD_RING           64
#define PYW_HANDOVER_NAME_MAX   80
#define PYW_NOFILE_SPARE        1024    /* for Apache's own descriptors */

/* A listening socket; plain data in the process pool (see above). */
typedef struct {
    const char *path;
    const char *group;          /* the group it was made for */
    int         fd;             /* -1: closed */
    dev_t       dev;            /* the file bind() created, to notice */
    ino_t       ino;            /* a removed or replaced one           */
    int         generation;     /* last configuration that used it */
    int         backlog;        /* given to listen() */
    pyw_board_t *board;         /* the group's load board, or NULL */
    int         board_fd;       /* its memfd, handed to each daemon */
    pyw_metrics_t *metrics;     /* Apache's own numbers, or NULL */
    int         wboard_fd;      /* worker board for wb_processes x */
    int         wb_processes;   /* wb_threads, or -1                 */
    int         wb_threads;
} pyw_sock_t;

/* A daemon passed from one generation to the next; plain data. */
typedef struct {
    pid_t       pid;
    int         status_fd;
    int         index;
    int         ready;
    pyw_why_e   why;
    apr_time_t  term_at;
    apr_time_t  kill_at;
    char        group[PYW_HANDOVER_NAME_MAX];
} pyw_handover_t;

typedef struct pyw_retained {
    apr_hash_t     *socks;      /* path -> pyw_sock_t * */
    pyw_handover_t *handover;   /* malloc()ed */
    int             n_handover;
    int             cap_handover;
} pyw_retained_t;

pyw_pm_t pyw_pm;

/* ---- exact exit causes ----
 *
 * The MPM reaps our daemons and passes the maintenance callback only
 * WEXITSTATUS or WTERMSIG, without saying which (nor "core dumped").  A
 * SIGCHLD handler in the parent records the kernel's own report per pid;
 * it only stores integers.  Installed per generation and removed in the
 * pconf cleanup, before this DSO is unloaded.
 */
static struct {
    volatile sig_atomic_t pid, code, status;
} pyw_chld_ring[PYW_CHLD_RING];
static volatile sig_atomic_t pyw_chld_next;
static struct sigaction pyw_chld_prev;
static int pyw_chld_installed;

static void pyw_chld_handler(int sig, siginfo_t *si, void *uc)
{
    int i = pyw_chld_next;

    pyw_chld_next = (i + 1) % PYW_CHLD_RING;
    pyw_chld_ring[i].pid = si->si_pid;
    pyw_chld_ring[i].code = si->si_code;
    pyw_chld_ring[i].status = si->si_status;
    if (pyw_chld_prev.sa_flags & SA_SIGINFO) {
        pyw_chld_prev.sa_sigaction(sig, si, uc);
    }
    else if (pyw_chld_prev.sa_handler != SIG_DFL
             && pyw_chld_prev.sa_handler != SIG_IGN) {
        pyw_chld_prev.sa_handler(sig);
    }
}

static void pyw_chld_install(void)
{
    struct sigaction sa;

    if (pyw_chld_installed) {
        return;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = pyw_chld_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&sa.sa_mask);
    pyw_chld_installed = sigaction(SIGCHLD, &sa, &pyw_chld_prev) == 0;
}

static void pyw_chld_uninstall(void)
{
    if (pyw_chld_installed) {
        sigaction(SIGCHLD, &pyw_chld_prev, NULL);
        pyw_chld_installed = 0;
    }
}

/* The newest record for pid, consumed; 0 if none (signals coalesce). */
static int pyw_chld_take(pid_t pid, int *code, int *status)
{
    int i, n;

    for (n = 1; n <= PYW_CHLD_RING; n++) {
        i = (pyw_chld_next - n + PYW_CHLD_RING) % PYW_CHLD_RING;
        if (pyw_chld_ring[i].pid == pid) {
            *code = pyw_chld_ring[i].code;
            *status = pyw_chld_ring[i].status;
            pyw_chld_ring[i].pid = 0;
            return 1;
        }
    }
    return 0;
}

/* how: CLD_EXITED / CLD_KILLED / CLD_DUMPED, or 0 when unknown which. */
static void pyw_exit_format(int how, int value, char *buf, size_t len)
{
    if (how == CLD_EXITED) {
        snprintf(buf, len, "exit status %d", value);
    }
    else if (how == CLD_KILLED || how == CLD_DUMPED) {
        snprintf(buf, len, "killed by signal %d (%s)%s", value,
                 apr_signal_description_get(value),
                 how == CLD_DUMPED ? ", core dumped" : "");
    }
    else if (value > 0 && value < NSIG
             && value != PYW_DAEMON_EXIT_STARTUP_FAILED) {
        snprintf(buf, len, "exit status %d or signal %d (%s)", value, value,
                 apr_signal_description_get(value));
    }
    else {
        pyw_exit_format(CLD_EXITED, value, buf, len);
    }
}

/* A raw waitpid() status, from our own reaping. */
static void pyw_wait_format(int st, char *buf, size_t len)
{
    if (WIFEXITED(st)) {
        pyw_exit_format(CLD_EXITED, WEXITSTATUS(st), buf, len);
    }
    else {
        pyw_exit_format(WCOREDUMP(st) ? CLD_DUMPED : CLD_KILLED,
                        WTERMSIG(st), buf, len);
    }
}

/* Cause of a death the MPM reported, as words, and PYW_DEATH_* flags. */
int pyw_pm_death_cause(pid_t pid, int reason, apr_wait_t status,
                       char *buf, size_t len)
{
    int code, value;

    if (reason == APR_OC_REASON_LOST) {
        snprintf(buf, len, "lost (reaped elsewhere, cause unknown)");
        return 0;
    }
    if (!pyw_chld_take(pid, &code, &value)) {
        /* Only the value: exit status or signal, the MPM does not say. */
        code = 0;
        value = status;
    }
    pyw_exit_format(code, value, buf, len);
    if (code != 0 && code != CLD_EXITED) {
        return 0;
    }
    if (value == PYW_DAEMON_EXIT_STARTUP_FAILED) {
        return PYW_DEATH_NOT_STARTED;
    }
    return value == 0 ? PYW_DEATH_CLEAN : 0;
}

const char *pyw_pm_why_text(pyw_why_e why)
{
    switch (why) {
    case PYW_WHY_RECYCLE:      return "it asked to be replaced: a limit was "
                                      "reached";
    case PYW_WHY_ROLLING:      return "rolling restart of its group";
    case PYW_WHY_GRACEFUL:     return "Apache restarted gracefully";
    case PYW_WHY_UNCONFIGURED: return "its group or process slot is no "
                                      "longer configured";
    case PYW_WHY_STALE:        return "it was still starting when Apache "
                                      "restarted";
    case PYW_WHY_APACHE_STOP:  return "Apache is stopping or restarting";
    case PYW_WHY_IDLE:         return "its group had no request for "
                                      "idle-timeout";
    default:                   return "stopped";
    }
}

struct pyw_metrics *pyw_pm_metrics(const pyw_group_t *g)
{
    return g->rt != NULL ? g->rt->metrics : NULL;
}

int pyw_pm_wboard_fd(const pyw_group_t *g)
{
    return g->rt != NULL ? g->rt->wboard_fd : -1;
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

/* ---- listening sockets ---- */

static apr_status_t pyw_sock_make_dir(const char *path, apr_pool_t *p)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL || slash == path) {
        return APR_SUCCESS;
    }
    return apr_dir_make_recursive(apr_pstrmemdup(p, path, slash - path),
                                  APR_FPROT_UREAD | APR_FPROT_UWRITE
                                  | APR_FPROT_UEXECUTE | APR_FPROT_GREAD
                                  | APR_FPROT_GEXECUTE | APR_FPROT_WREAD
                                  | APR_FPROT_WEXECUTE, p);
}

/* bind() + listen(), mode 0600 from the start (umask around bind). */
static apr_status_t pyw_sock_listen(pyw_sock_t *k, int backlog)
{
    struct sockaddr_un sa;
    struct stat st;
    apr_status_t rv = APR_SUCCESS;
    mode_t old;
    int fd;

    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    if (strlen(k->path) >= sizeof(sa.sun_path)) {
        return APR_ENAMETOOLONG;
    }
    strcpy(sa.sun_path, k->path);
    if (lstat(k->path, &st) == 0
        && (!S_ISSOCK(st.st_mode) || unlink(k->path) < 0)) {
        return S_ISSOCK(st.st_mode) ? errno : APR_EEXIST;
    }
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
        return errno;
    }
    old = umask(0177);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        rv = errno;
    }
    umask(old);
    if (rv == APR_SUCCESS && (listen(fd, backlog) < 0
                              || lstat(k->path, &st) < 0)) {
        rv = errno;
        unlink(k->path);
    }
    if (rv != APR_SUCCESS) {
        close(fd);
        return rv;
    }
    k->fd = fd;
    k->backlog = backlog;
    k->dev = st.st_dev;
    k->ino = st.st_ino;
    return APR_SUCCESS;
}

/* Still our file at k->path?  Someone may have removed or replaced it. */
static int pyw_sock_intact(const pyw_sock_t *k)
{
    struct stat st;

    return k->fd >= 0 && lstat(k->path, &st) == 0 && S_ISSOCK(st.st_mode)
           && st.st_dev == k->dev && st.st_ino == k->ino;
}

static void pyw_sock_close(server_rec *s, pyw_sock_t *k, int remove_file)
{
    if (remove_file && pyw_sock_intact(k) && unlink(k->path) < 0) {
        PYW_SLOG(APLOG_WARNING, errno, s, 13, k->group, 0L,
                 "cannot remove %s", k->path);
    }
    if (k->fd >= 0) {
        close(k->fd);
        k->fd = -1;
    }
    pyw_board_destroy(k->board);    /* daemons keep their own mapping */
    k->board = NULL;
    if (k->board_fd >= 0) {
        close(k->board_fd);
        k->board_fd = -1;
    }
    pyw_metrics_destroy(k->metrics);
    k->metrics = NULL;
    if (k->wboard_fd >= 0) {
        close(k->wboard_fd);
        k->wboard_fd = -1;
    }
}

/* A group that grew past its board at a restart gets a bigger one with
 * the same news; daemons of the old one keep their own mapping. */
static void pyw_sock_board_grow(pyw_sock_t *k, const pyw_group_t *g)
{
    pyw_board_t *old = k->board;
    int old_fd = k->board_fd;

    if (old == NULL || pyw_board_slots(old) >= g->processes) {
        return;
    }
    k->board = pyw_board_create(&k->board_fd, g->processes);
    pyw_board_copy_news(k->board, old);
    pyw_board_destroy(old);
    close(old_fd);
}

/* Every group has one: Apache's children read its start-up news and
 * (byfreeworkers) its load; every daemon publishes there, and with
 * processes > 1 asks it whether a sibling has room.  Without it the
 * group still works; a saturated daemon then queues instead of handing
 * requests to a free sibling.  One page for up to 249 processes. */
static void pyw_sock_board(server_rec *s, pyw_sock_t *k, pyw_group_t *g)
{
    pyw_sock_board_grow(k, g);
    if (k->board == NULL
        && (k->board = pyw_board_create(&k->board_fd, g->processes))
           == NULL) {
        PYW_SLOG(APLOG_WARNING, errno, s, 14, g->name, 0L, "cannot map the "
                 "load board: requests will not be balanced between the "
                 "group's processes");
    }
    g->rt->board = k->board;
    g->rt->board_fd = k->board_fd;
}

/* What the status page reads (pyw_status_data.c): the metrics, kept
 * across restarts so that counters only grow, and a worker board of the
 * group's shape, made anew when the shape changes (a graceful restart
 * replaces every daemon anyway).  Without them the group still serves;
 * its status shows no numbers. */
static void pyw_sock_status(server_rec *s, pyw_sock_t *k, pyw_group_t *g)
{
    k->metrics = k->metrics != NULL
                 ? pyw_metrics_fit(k->metrics, g->processes)
                 : pyw_metrics_create(g->processes);
    if (k->wboard_fd >= 0 && (k->wb_processes != g->processes
                              || k->wb_threads != g->threads)) {
        close(k->wboard_fd);
        k->wboard_fd = -1;
    }
    if (k->wboard_fd < 0) {
        k->wboard_fd = pyw_wboard_create(g->processes, g->threads);
        k->wb_processes = g->processes;
        k->wb_threads = g->threads;
    }
    if (k->metrics == NULL || k->wboard_fd < 0) {
        PYW_SLOG(APLOG_WARNING, errno, s, 60, g->name, 0L, "cannot map "
                 "the %s: the status page will not show it",
                 k->metrics == NULL ? "group's metrics" : "worker board");
    }
    g->rt->metrics = k->metrics;
    g->rt->wboard_fd = k->wboard_fd;
}

/* Only Apache's child user (or socket-user=, for children that switch
 * user per vhost) may connect; the daemons only accept(). */
static apr_status_t pyw_sock_owner(const pyw_sock_t *k, const pyw_group_t *g)
{
    uid_t uid = g->socket_uid != (uid_t)-1 ? g->socket_uid
                                           : ap_unixd_config.user_id;

    if (chmod(k->path, 0600) < 0) {
        return errno;
    }
    if (geteuid() == 0 && chown(k->path, uid, ap_unixd_config.group_id) < 0) {
        return errno;
    }
    return APR_SUCCESS;
}

static pyw_sock_t *pyw_sock_get(server_rec *s, const char *path,
                                const char *group)
{
    apr_pool_t *pp = s->process->pool;
    pyw_sock_t *k = apr_hash_get(pyw_pm.retained->socks, path,
                                 APR_HASH_KEY_STRING);

    if (k == NULL) {
        k = apr_pcalloc(pp, sizeof(*k));
        k->path = apr_pstrdup(pp, path);
        k->group = apr_pstrdup(pp, group);
        k->fd = -1;
        k->board_fd = -1;
        k->wboard_fd = -1;
        apr_hash_set(pyw_pm.retained->socks, k->path, APR_HASH_KEY_STRING,
                     k);
    }
    else if (!pyw_sock_intact(k)) {
        pyw_sock_close(s, k, 0);
    }
    return k;
}

/* listen-backlog changed across a restart: listen() again with the new
 * value (Linux applies it to the listening socket in place). */
static apr_status_t pyw_sock_backlog(pyw_sock_t *k, const pyw_group_t *g)
{
    if (k->backlog == (int)g->listen_backlog) {
        return APR_SUCCESS;
    }
    if (listen(k->fd, (int)g->listen_backlog) < 0) {
        return errno;
    }
    PYW_SLOG(APLOG_DEBUG, 0, pyw_pm.s, 49, g->name, 0L, "listen backlog of "
             "%s changed from %d to %d", k->path, k->backlog,
             (int)g->listen_backlog);
    k->backlog = (int)g->listen_backlog;
    return APR_SUCCESS;
}

/* <prefix>.<parent pid>.<group>.sock: the same across graceful restarts. */
static apr_status_t pyw_sock_open(server_rec *s, apr_pool_t *ptemp,
                                  pyw_group_t *g, int generation)
{
    const char *path = apr_psprintf(ptemp, "%s.%ld.%s.sock",
                                    pyw_globals.socket_prefix,
                                    (long)getpid(), g->name);
    pyw_sock_t *k = pyw_sock_get(s, path, g->name);
    const char *what = NULL;
    apr_status_t rv = APR_SUCCESS;
    int reused = k->fd >= 0;

    if (!reused && (rv = pyw_sock_make_dir(path, ptemp)) != APR_SUCCESS) {
        what = "cannot create the directory of";
    }
    else if (!reused
             && (rv = pyw_sock_listen(k, (int)g->listen_backlog))
                != APR_SUCCESS) {
        what = rv == APR_EEXIST ? "a file that is not a socket is in the way"
               " of" : "cannot create the listening socket";
    }
    else if ((rv = pyw_sock_owner(k, g)) != APR_SUCCESS) {
        what = "cannot set the owner and mode 0600 of";
    }
    else if (reused && (rv = pyw_sock_backlog(k, g)) != APR_SUCCESS) {
        what = "cannot change the listen backlog of";
    }
    if (what != NULL) {
        PYW_SLOG(APLOG_EMERG, rv, s, 10, g->name, 0L, "%s %s", what, path);
        return rv;
    }
    PYW_SLOG(APLOG_DEBUG, 0, s, 11, g->name, 0L, "%s %s (fd %d)",
             reused ? "reusing" : "listening on", path, k->fd);
    k->generation = generation;
    g->socket_path = k->path;
    g->rt->listen_fd = k->fd;
    pyw_sock_board(s, k, g);
    pyw_sock_status(s, k, g);
    return APR_SUCCESS;
}

/* Close (and unlink) sockets no group of this generation uses; all of
 * them when Apache exits. */
static void pyw_sock_sweep(server_rec *s, apr_pool_t *p, int generation,
                           int all)
{
    apr_hash_index_t *hi;
    pyw_sock_t *k;

    for (hi = apr_hash_first(p, pyw_pm.retained->socks); hi;
         hi = apr_hash_next(hi)) {
        k = apr_hash_this_val(hi);
        if (all || k->generation != generation) {
            PYW_SLOG(APLOG_DEBUG, 0, s, 12, k->group, 0L, "closing and "
                     "removing %s", k->path);
            pyw_sock_close(s, k, 1);
            apr_hash_set(pyw_pm.retained->socks, k->path,
                         APR_HASH_KEY_STRING, NULL);
        }
    }
}

/* ---- Apache exits: stop every daemon ---- */

typedef struct {
    int        left;
    apr_time_t last_kill_at;    /* the latest SIGKILL deadline */
} pyw_reap_t;

/* Reap p if it exited; else tell it Apache stops, or SIGKILL it once its
 * deadline passed (pyw_proc_apache_stops). */
static void pyw_reap_one(pyw_proc_t *p, void *baton)
{
    pyw_reap_t *r = baton;
    pid_t pid = p->proc.pid, got;
    char cause[128];
    int st;

    if (pid <= 0) {
        return;
    }
    got = waitpid(pid, &st, WNOHANG);
    if (got == 0 || (got < 0 && errno == EINTR)) {
        pyw_proc_apache_stops(p);
        if (p->kill_at > r->last_kill_at) {
            r->last_kill_at = p->kill_at;
        }
        r->left++;
        return;
    }
    if (got == pid) {
        pyw_wait_format(st, cause, sizeof(cause));
    }
    else {
        apr_cpystrn(cause, "reaped elsewhere", sizeof(cause));
    }
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
        ap_register_extra_mpm_process(p->proc.pid, *(ap_generation_t *)baton);
        return;
    }
    h = &r->handover[r->n_handover++];
    memset(h, 0, sizeof(*h));
    h->pid = p->proc.pid;
    h->status_fd = p->status_fd;
    p->status_fd = -1;
    h->index = p->index;
    h->ready = p->ready;
    h->why = p->why;
    h->term_at = p->term_at;
    h->kill_at = p->kill_at;
    apr_cpystrn(h->group, p->group, sizeof(h->group));
    ap_register_extra_mpm_process(p->proc.pid, *(ap_generation_t *)baton);
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

    if (!ap_unregister_extra_mpm_process(h->pid, &gen)) {
        if (h->status_fd >= 0) {
            close(h->status_fd);    /* the MPM reaped it: gone */
        }
        return;
    }
    p = pyw_proc_alloc(g ? g->name : apr_pstrdup(pyw_pm.pconf, h->group),
                       h->index);
    p->proc.pid = h->pid;
    p->status_fd = h->status_fd;
    p->ready = h->ready;
    p->why = h->why;
    p->term_at = h->term_at;
    p->kill_at = h->kill_at;
    pyw_proc_register(p);
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

static void pyw_pm_takeover(void)
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
static apr_status_t pyw_pm_stop_all(void *unused)
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
static void pyw_pm_raise_nofile(server_rec *s, int groups)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)groups * 3 + PYW_NOFILE_SPARE;

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
    /* First: whatever fails below, this stops what started. */
    apr_pool_cleanup_register(pconf, NULL, pyw_pm_stop_all,
                              apr_pool_cleanup_null);
    pyw_chld_install();
    pyw_pm_raise_nofile(s, pyw_globals.groups->nelts);
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
    return DECLINED;
}

static void pyw_close_status(pyw_proc_t *p, void *baton)
{
    if (p->status_fd >= 0) {
        close(p->status_fd);
        p->status_fd = -1;
    }
}

/* Apache's children must not hold the daemons' listening sockets, nor
 * the status pipes.  Nor a mapping of every group's board: they keep
 * its descriptor and map it only to say why a connect failed, so many
 * groups do not mean as many mappings in every child.  They keep the
 * metrics mapped (each request counts itself) and the worker board's
 * descriptor (the status page maps it). */
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
    }
    pyw_pm_each_proc(pyw_close_status, NULL);
    pyw_chld_uninstall();
}

void pyw_procmgr_register_hooks(apr_pool_t *p)
{
    ap_hook_post_config(pyw_pm_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(pyw_pm_child_init, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_monitor(pyw_pm_monitor, NULL, NULL, APR_HOOK_MIDDLE);
}

/*
 * pyw_procmgr_sock.c - the groups' listening sockets and the shared
 * pages made with them (load board, metrics, worker board), kept in the
 * process pool across restarts, keyed by path.
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
#include "../common/pyw_inflight.h"
#include "../common/pyw_metrics.h"
#include "../common/pyw_wboard.h"
#include "../common/pyw_spec.h"
#include "pyw_procmgr_int.h"

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

static void pyw_sock_wboard_drop_prev(pyw_sock_t *k)
{
    if (k->wboard_prev_fd >= 0) {
        close(k->wboard_prev_fd);
    }
    k->wboard_prev_fd = -1;
    k->wb_prev_processes = k->wb_prev_threads = -1;
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
    pyw_inflight_destroy(k->inflight);
    k->inflight = NULL;
    if (k->wboard_fd >= 0) {
        close(k->wboard_fd);
        k->wboard_fd = -1;
    }
    pyw_sock_wboard_drop_prev(k);
}

/* Does a live process still write to the previous worker board?  Its
 * entries' pids are the daemons' word, so at worst a lie keeps one
 * descriptor open. */
static int pyw_sock_wboard_prev_used(const pyw_sock_t *k)
{
    pyw_wboard_t *w = pyw_wboard_map(k->wboard_prev_fd, k->wb_prev_processes
                                     * PYW_WBOARD_LANES, k->wb_prev_threads,
                                     0);
    pyw_wboard_proc_snap_t wp;
    int e, used = 0;

    for (e = 0; w != NULL && !used
                && e < k->wb_prev_processes * PYW_WBOARD_LANES; e++) {
        used = pyw_wboard_read_proc(w, e, &wp) == 0 && wp.pid > 0
               && (kill(wp.pid, 0) == 0 || errno == EPERM);
    }
    pyw_wboard_destroy(w);
    return used;
}

/*
 * A graceful restart that changes the group's shape gives it a new worker
 * board; its daemons from before keep writing to theirs while they drain,
 * so that board stays, as the previous one, until a restart finds none of
 * them left (or the shape changes again: an earlier one then leaves the
 * page early, as an earlier old process of a slot does).  Only restarts
 * change it: Apache's children hold the descriptor numbers of their
 * generation.
 */
static void pyw_sock_wboard_shape(pyw_sock_t *k, const pyw_group_t *g)
{
    if (k->wboard_fd >= 0 && (k->wb_processes != g->processes
                              || k->wb_threads != g->threads)) {
        pyw_sock_wboard_drop_prev(k);
        k->wboard_prev_fd = k->wboard_fd;
        k->wb_prev_processes = k->wb_processes;
        k->wb_prev_threads = k->wb_threads;
        k->wboard_fd = -1;
    }
    else if (k->wboard_prev_fd >= 0 && !pyw_sock_wboard_prev_used(k)) {
        pyw_sock_wboard_drop_prev(k);
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
 * group's shape, made anew when the shape changes (the previous one
 * kept while its daemons drain).  Without them the group still serves;
 * its status shows no numbers. */
static void pyw_sock_status(server_rec *s, pyw_sock_t *k, pyw_group_t *g)
{
    if (k->metrics == NULL) {
        k->metrics = pyw_metrics_create(g->processes);
    }
    pyw_sock_wboard_shape(k, g);
    if (k->wboard_fd < 0) {
        k->wboard_fd = pyw_wboard_create(g->processes * PYW_WBOARD_LANES,
                                          g->threads);
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
    g->rt->wboard_prev_fd = k->wboard_prev_fd;
    g->rt->wb_prev_processes = k->wb_prev_processes;
    g->rt->wb_prev_threads = k->wb_prev_threads;
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
        k->wboard_prev_fd = -1;
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
apr_status_t pyw_sock_open(server_rec *s, apr_pool_t *ptemp,
                           pyw_group_t *g, int generation)
{
    const char *path = apr_psprintf(ptemp, "%s.%ld.%s.sock",
                                    pyw_globals.socket_prefix,
                                    (long)getpid(), g->name);
    pyw_sock_t *k = pyw_sock_get(s, path, g->name);
    const char *what = NULL;
    apr_status_t rv = APR_SUCCESS;
    int reused = k->fd >= 0;
    struct stat st;

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
    g->rt->listen_ino = fstat(k->fd, &st) == 0 ? (uint64_t)st.st_ino : 0;
    pyw_sock_board(s, k, g);
    pyw_sock_status(s, k, g);
    pyw_sock_inflight(s, k, g);
    return APR_SUCCESS;
}

/* Close (and unlink) sockets no group of this generation uses; all of
 * them when Apache exits. */
void pyw_sock_sweep(server_rec *s, apr_pool_t *p, int generation,
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

/*
 * pyw_conn.c - per-child cache of idle daemon connections, per group.
 *
 * Each Apache child keeps, for every daemon group, a small LIFO stack of
 * connections whose last exchange ended cleanly.  The stacks are created
 * in child_init from the group registry (read-only afterwards, so lookups
 * need no lock); one mutex guards pushing and popping, which are a few
 * instructions each.  Every syscall (peer check, connect, close) happens
 * outside the lock.
 *
 * Backends are malloc'd, not pool-allocated: a cached connection outlives
 * the request that opened it.  The pchild cleanup closes what is idle.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "apr_hash.h"
#include "apr_strings.h"
#include "apr_thread_mutex.h"
#include "httpd.h"
#include "http_config.h"
#include "ap_mpm.h"

#include "../common/pyw_board.h"
#include "../common/pyw_io.h"
#include "../common/pyw_proto.h"
#include "pyw_conn.h"
#include "pyw_log.h"
#include "pyw_procmgr.h"

#define PYW_CONN_IDLE_DEFAULT    64   /* idle cap if the MPM will not say */
#define PYW_CONN_BACKOFF_MAX_MS  50

/* Up to one idle connection per thread of the child: every thread may be
 * in a request to the group at once, and a smaller cap would close and
 * reconnect the surplus on every request under that load. */
typedef struct {
    const pyw_group_t *group;
    int                n_idle;
    int                max_idle;
    pyw_backend_t    **idle;
} pyw_conn_slot_t;

typedef struct {
    server_rec         *server;
#if APR_HAS_THREADS
    apr_thread_mutex_t *mutex;      /* guards every slot's idle stack */
#endif
    apr_hash_t         *slots;      /* group name -> pyw_conn_slot_t * */
} pyw_conn_cache_t;

/* NULL until child_init and again once pchild is being destroyed: then
 * nothing is cached and every connection is closed on release. */
static pyw_conn_cache_t *pyw_conn_cache;

static void pyw_conn_lock(pyw_conn_cache_t *c)
{
#if APR_HAS_THREADS
    apr_thread_mutex_lock(c->mutex);
#endif
}

static void pyw_conn_unlock(pyw_conn_cache_t *c)
{
#if APR_HAS_THREADS
    apr_thread_mutex_unlock(c->mutex);
#endif
}

static pyw_conn_slot_t *pyw_conn_slot(pyw_conn_cache_t *c,
                                      const pyw_group_t *g)
{
    if (c == NULL || g == NULL || g->name == NULL) {
        return NULL;
    }
    return apr_hash_get(c->slots, g->name, APR_HASH_KEY_STRING);
}

void pyw_conn_close(pyw_backend_t *b)
{
    if (b == NULL) {
        return;
    }
    pyw_stream_free(&b->stream);
    if (b->fd >= 0) {
        close(b->fd);
    }
    free(b);
}

/* ---- the idle cache ---- */

/* Why an idle connection cannot be reused, for the debug line: the
 * daemon said GOODBYE (it stopped or closed the idle connection), or it
 * went away without a word (it died). */
static const char *pyw_conn_stale_why(int fd)
{
    unsigned char hdr[PYW_FRAME_HEADER_SIZE];
    ssize_t n = recv(fd, hdr, sizeof(hdr), MSG_PEEK | MSG_DONTWAIT);

    if (n == (ssize_t)sizeof(hdr) && hdr[0] == PYW_FRAME_GOODBYE) {
        return "the daemon said GOODBYE";
    }
    return n == 0 ? "the daemon closed it" : "the daemon is gone";
}

/*
 * Which idle connection to use (its index), or -1 for a new one.  The
 * stack top is the most recently used, but its daemon may have every
 * worker taken while a sibling idles: a request sent there would queue
 * behind a running one.  So the connection whose process has the most
 * room on the group's load board wins (join the shortest queue), ties
 * to the most recent.  If no idle connection leads to a process with a
 * free worker but the board shows one, a new connection goes there:
 * only a daemon with a free worker accepts while a sibling has one
 * (pyw_poller.c).  Without a board: the top.  Called under the lock.
 */
static int pyw_conn_pick(pyw_conn_slot_t *slot, const pyw_board_t *board)
{
    int i, room, best = slot->n_idle - 1, best_room = PYW_BOARD_NO_ROOM;
    int n = slot->group->processes;
    pyw_backend_t *b;

    if (board == NULL || best < 0) {
        return best;
    }
    for (i = slot->n_idle - 1; i >= 0; i--) {
        b = slot->idle[i];
        room = pyw_board_room(board, n, (pid_t)b->daemon_pid,
                              &b->board_index);
        if (room > best_room) {
            best = i;
            best_room = room;
            if (room >= slot->group->threads) {
                break;          /* an idle daemon: none can do better */
            }
        }
    }
    if (best_room <= 0 && pyw_board_other_has_room(board, -1, n)) {
        return -1;
    }
    return best;
}

static pyw_backend_t *pyw_conn_pop(pyw_conn_slot_t *slot, int i)
{
    pyw_backend_t *b = slot->idle[i];

    slot->n_idle--;
    memmove(&slot->idle[i], &slot->idle[i + 1],
            (size_t)(slot->n_idle - i) * sizeof(*slot->idle));
    return b;
}

/* Take the best idle connection that is still open; stale ones (the
 * daemon restarted or closed an idle connection) are closed and
 * skipped.  NULL: open a new one. */
static pyw_backend_t *pyw_conn_take_idle(const pyw_group_t *g)
{
    pyw_conn_cache_t *c = pyw_conn_cache;
    pyw_conn_slot_t *slot = pyw_conn_slot(c, g);
    const pyw_board_t *board;
    pyw_backend_t *b;
    int i;

    if (slot == NULL) {
        return NULL;
    }
    board = g->processes > 1 ? pyw_pm_group_board(g) : NULL;
    for (;;) {
        pyw_conn_lock(c);
        i = pyw_conn_pick(slot, board);
        b = i >= 0 ? pyw_conn_pop(slot, i) : NULL;
        pyw_conn_unlock(c);
        if (b == NULL) {
            return NULL;
        }
        if (!pyw_io_peer_gone(b->fd)) {
            b->reused = 1;
            return b;
        }
        PYW_SLOG(APLOG_DEBUG, 0, c->server, 131, g->name, b->daemon_pid,
                 "idle connection discarded: %s", pyw_conn_stale_why(b->fd));
        pyw_conn_close(b);
    }
}

void pyw_conn_release(pyw_backend_t *b)
{
    pyw_conn_cache_t *c = pyw_conn_cache;
    pyw_conn_slot_t *slot;

    if (b == NULL) {
        return;
    }
    slot = pyw_conn_slot(c, b->group);
    /* Bytes left over after END/ERROR mean the exchange was not clean. */
    if (slot != NULL && pyw_stream_buffered(&b->stream) == 0
        && b->stream.payload_left == 0) {
        pyw_stream_idle(&b->stream);
        pyw_conn_lock(c);
        if (pyw_conn_cache == c && slot->n_idle < slot->max_idle) {
            slot->idle[slot->n_idle++] = b;
            b = NULL;
        }
        pyw_conn_unlock(c);
    }
    pyw_conn_close(b);
}

/* ---- new connections ---- */

static int pyw_conn_connect_once(const struct sockaddr_un *sa, int *fdp)
{
    int rc, fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        0);

    if (fd < 0) {
        return -errno;
    }
    if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0) {
        *fdp = fd;
        return 0;
    }
    rc = -errno;
    close(fd);
    return rc;
}

/*
 * The parent keeps every group's listening socket for its whole life, so
 * connect() normally succeeds at once and the connection waits in the
 * backlog while a daemon (re)starts.  A full backlog (EAGAIN on a
 * non-blocking AF_UNIX connect) means the daemons are alive but busy;
 * refused / missing socket can happen around a restart of Apache itself.
 * Both are retried with a short back-off until the deadline
 * (connect-timeout).
 */
static int pyw_conn_connect(const char *path, int64_t deadline, int *fdp)
{
    struct sockaddr_un sa;
    int64_t now, delay = 2;
    int rc;

    if (strlen(path) >= sizeof(sa.sun_path)) {
        return -ENAMETOOLONG;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, path);
    for (;;) {
        rc = pyw_conn_connect_once(&sa, fdp);
        if (rc != -ECONNREFUSED && rc != -ENOENT && rc != -EAGAIN
            && rc != -EINTR) {
            return rc;
        }
        now = pyw_io_now_ms();
        if (now >= deadline) {
            return rc;
        }
        apr_sleep(apr_time_from_msec(delay < deadline - now
                                     ? delay : deadline - now));
        delay = delay * 2 < PYW_CONN_BACKOFF_MAX_MS
                ? delay * 2 : PYW_CONN_BACKOFF_MAX_MS;
    }
}

static const char *pyw_conn_strerror(apr_pool_t *p, int rc)
{
    char buf[128];

    return apr_pstrdup(p, apr_strerror(APR_FROM_OS_ERROR(-rc), buf,
                                       sizeof(buf)));
}

/* A connection waits in the backlog past connect-timeout, until
 * grace_end, while a daemon of its group is on its way up: a slow
 * import or preload, or an on-demand group's first start.  Looked at
 * again every PYW_CONN_STARTING_LOOK_MS. */
#define PYW_CONN_STARTING_LOOK_MS 250

static int pyw_conn_still_starting(const pyw_group_t *g, int64_t grace_end,
                                   int64_t *deadline)
{
    int64_t now = pyw_io_now_ms();

    if (now >= grace_end || !pyw_board_starting(pyw_pm_group_board(g))) {
        return 0;
    }
    *deadline = now + PYW_CONN_STARTING_LOOK_MS < grace_end
                ? now + PYW_CONN_STARTING_LOOK_MS : grace_end;
    return 1;
}

/*
 * Whether a connection should stop waiting for its greeting, when no
 * daemon of the group serves: -EHOSTDOWN when its daemons keep failing
 * to start (the parent knows that none comes before the next back-off,
 * and the request would hold an Apache thread until connect-timeout for
 * a 503); -ESHUTDOWN when this child stops with Apache (the daemons
 * drain and stop too, and the wait would outlast the MPM's SIGKILL; at
 * a graceful restart the old daemons serve until their successors do).
 * Looked at from the first look on, which leaves the parent time to
 * start a dormant group that our connection woke.  0: wait on.
 */
static int pyw_conn_nobody_comes(const pyw_group_t *g)
{
    pyw_board_t *board = pyw_pm_group_board(g);
    pyw_board_load_t load;
    int why = pyw_board_failing(board, pyw_io_now_ms()) ? -EHOSTDOWN
              : pyw_pm_stopping() ? -ESHUTDOWN : 0;

    if (why == 0) {
        return 0;
    }
    pyw_board_load(board, g->processes, &load);
    return load.threads == 0 ? why : 0;
}

static int64_t pyw_conn_next_look(int64_t deadline)
{
    int64_t look = pyw_io_now_ms() + PYW_CONN_STARTING_LOOK_MS;

    return look < deadline ? look : deadline;
}

/* Read the daemon's HELLO: it arrives once the daemon accept()ed us. */
static int pyw_conn_hello(pyw_backend_t *b, int64_t deadline,
                          int64_t grace_end, const char **err)
{
    pyw_frame_t f;
    pyw_hello_t h;
    const unsigned char *payload;
    int rc, why;

    rc = pyw_stream_next(&b->stream, &f, pyw_conn_next_look(deadline));
    while (rc == -ETIMEDOUT) {
        if ((why = pyw_conn_nobody_comes(b->group)) < 0) {
            rc = why;
            break;
        }
        if (pyw_io_now_ms() >= deadline
            && !pyw_conn_still_starting(b->group, grace_end, &deadline)) {
            break;
        }
        rc = pyw_stream_next(&b->stream, &f, pyw_conn_next_look(deadline));
    }
    if (rc == -EPROTO) {
        *err = b->stream.err;
    }
    if (rc < 0) {
        return rc;
    }
    if (f.type != PYW_FRAME_HELLO) {
        *err = "the first frame is not HELLO";
        return -EPROTO;
    }
    rc = pyw_stream_payload(&b->stream, &payload, deadline);
    if (rc < 0) {
        return rc;
    }
    /* Checks magic and version: a daemon from another build is refused. */
    if (pyw_hello_decode(payload, f.length, &h, err) < 0) {
        return -EPROTO;
    }
    b->daemon_pid = (long)h.pid;
    return 0;
}

static const char *pyw_conn_hello_why(apr_pool_t *p, const pyw_group_t *g,
                                      int rc, const char *err,
                                      apr_interval_time_t timeout)
{
    switch (rc) {
    case -ETIMEDOUT:
        return apr_psprintf(p, "no daemon accepted the connection on %s "
                            "within %.1f seconds (connect-timeout; the "
                            "daemons are still starting or cannot keep up)",
                            g->socket_path,
                            (double)timeout / APR_USEC_PER_SEC);
    case -ECONNRESET:
        return apr_psprintf(p, "the daemon closed the connection on %s "
                            "before greeting (it is probably restarting)",
                            g->socket_path);
    case -ESHUTDOWN:
        return "Apache stops, and so do the group's daemons: none will "
               "greet";
    case -EHOSTDOWN:
        return "the group's daemons keep failing to start and none "
               "serves; not waiting for the next try, which waits out its "
               "back-off";
    case -EPROTO:
        return apr_psprintf(p, "the daemon on %s sent an invalid greeting: "
                            "%s", g->socket_path, err ? err : "?");
    default:
        return apr_psprintf(p, "reading the daemon greeting on %s failed: "
                            "%s", g->socket_path, pyw_conn_strerror(p, rc));
    }
}

static int pyw_conn_open_once(const pyw_group_t *g,
                              apr_interval_time_t timeout, int64_t deadline,
                              int64_t grace_end, apr_pool_t *p,
                              pyw_backend_t **out, const char **why)
{
    const char *err = NULL;
    pyw_backend_t *b;
    int fd = -1, rc;

    if (g->socket_path == NULL) {
        *why = "the group has no socket (its daemons were not started)";
        return -ENOENT;
    }
    rc = pyw_conn_connect(g->socket_path, deadline, &fd);
    if (rc < 0) {
        *why = apr_psprintf(p, "cannot connect to daemon socket %s: %s%s",
                            g->socket_path, pyw_conn_strerror(p, rc),
                            rc == -EAGAIN || rc == -ECONNREFUSED
                            || rc == -ENOENT ? " (until connect-timeout)"
                            : "");
        return rc == -EAGAIN ? -ETIMEDOUT : rc;
    }
    b = calloc(1, sizeof(*b));
    if (b == NULL || pyw_stream_init(&b->stream, fd) < 0) {
        free(b);
        close(fd);
        *why = "out of memory for a daemon connection";
        return -ENOMEM;
    }
    b->fd = fd;
    b->group = g;
    b->board_index = -1;
    rc = pyw_conn_hello(b, deadline, grace_end, &err);
    if (rc < 0) {
        *why = pyw_conn_hello_why(p, g, rc, err, timeout);
        pyw_conn_close(b);
        return rc;
    }
    *out = b;
    return 0;
}

/* A connection closed before its greeting, by the parent clearing a
 * dormant group's backlog (pyw_demand.c) or a daemon that died as it
 * accepted: connect again, until connect-timeout. */
#define PYW_CONN_REGREET_MS 10

static int pyw_conn_open(const pyw_group_t *g, apr_interval_time_t timeout,
                         apr_interval_time_t starting, apr_pool_t *p,
                         pyw_backend_t **out, const char **why)
{
    int64_t deadline = pyw_io_deadline(apr_time_as_msec(timeout));
    int64_t grace_end = deadline + apr_time_as_msec(starting);
    int rc;

    while ((rc = pyw_conn_open_once(g, timeout, deadline, grace_end, p, out,
                                    why))
           == -ECONNRESET && pyw_io_now_ms() + PYW_CONN_REGREET_MS
                             < deadline) {
        apr_sleep(apr_time_from_msec(PYW_CONN_REGREET_MS));
    }
    return rc;
}

int pyw_conn_acquire(const pyw_group_t *g, apr_interval_time_t timeout,
                     apr_interval_time_t starting,
                     int allow_idle, apr_pool_t *p,
                     pyw_backend_t **out, const char **why)
{
    pyw_backend_t *b = allow_idle ? pyw_conn_take_idle(g) : NULL;

    if (b != NULL) {
        *out = b;
        return 0;
    }
    return pyw_conn_open(g, timeout, starting, p, out, why);
}

/* ---- child life cycle ---- */

static apr_status_t pyw_conn_cache_cleanup(void *data)
{
    pyw_conn_cache_t *c = data;
    apr_hash_index_t *hi;
    pyw_conn_slot_t *slot;

    pyw_conn_lock(c);
    pyw_conn_cache = NULL;
    for (hi = apr_hash_first(NULL, c->slots); hi; hi = apr_hash_next(hi)) {
        slot = apr_hash_this_val(hi);
        while (slot->n_idle > 0) {
            pyw_conn_close(slot->idle[--slot->n_idle]);
        }
    }
    pyw_conn_unlock(c);
    return APR_SUCCESS;
}

static void pyw_conn_child_init(apr_pool_t *pchild, server_rec *s)
{
    pyw_conn_cache_t *c = apr_pcalloc(pchild, sizeof(*c));
    pyw_group_t **groups;
    pyw_conn_slot_t *slot;
    apr_status_t rv;
    int i, threads = 0;

    c->server = s;
    if (ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads) != APR_SUCCESS
        || threads < 1) {
        threads = PYW_CONN_IDLE_DEFAULT;
    }
#if APR_HAS_THREADS
    rv = apr_thread_mutex_create(&c->mutex, APR_THREAD_MUTEX_DEFAULT,
                                 pchild);
    if (rv != APR_SUCCESS) {
        PYW_SLOG(APLOG_ERR, rv, s, 130, NULL, 0L, "cannot create the "
                 "connection cache mutex; daemon connections will not be "
                 "reused in this child");
        return;
    }
#endif
    c->slots = apr_hash_make(pchild);
    groups = pyw_globals.groups
             ? (pyw_group_t **)pyw_globals.groups->elts : NULL;
    for (i = 0; groups && i < pyw_globals.groups->nelts; i++) {
        slot = apr_pcalloc(pchild, sizeof(*slot));
        slot->group = groups[i];
        slot->max_idle = threads;
        slot->idle = apr_pcalloc(pchild, threads * sizeof(*slot->idle));
        apr_hash_set(c->slots, groups[i]->name, APR_HASH_KEY_STRING, slot);
    }
    apr_pool_cleanup_register(pchild, c, pyw_conn_cache_cleanup,
                              apr_pool_cleanup_null);
    pyw_conn_cache = c;
}

void pyw_conn_register_hooks(apr_pool_t *p)
{
    ap_hook_child_init(pyw_conn_child_init, NULL, NULL, APR_HOOK_MIDDLE);
}

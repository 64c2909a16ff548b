/*
 * pyw_waker.c - wake the Apache parent when a daemon writes a status
 * byte or a process-manager deadline comes.
 *
 * The parent's main thread belongs to the MPM; it runs module code only
 * in hooks and apr_proc_other_child callbacks.  The monitor hook comes
 * every tenth turn of ap_wait_or_timeout(), about every 10 seconds: too
 * slow to retire a replaced daemon promptly, to take the next step of a
 * rolling restart, or to honour a startup-timeout.  A dead child, though,
 * is reaped at once (SIGCHLD cuts the MPM's one-second sleep short) and
 * handed to its other_child callback.
 *
 * So a tiny forked "waker" sits in poll() on the read ends of the status
 * pipes (it never reads them), and on the listening sockets of dormant
 * groups (pyw_demand.c; it never accepts: POLLIN there means a connection
 * waits), until one is readable or the next deadline passes, then exits.  Its death callback runs pyw_pm_poll() in the
 * parent, which reads the pipes, acts, and arms a new waker.  It holds no
 * other descriptor, stays root (out of the daemons' reach), and dies
 * with the parent.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "httpd.h"
#include "http_log.h"

#include "pyw_log.h"
#include "pyw_pm.h"

#define PYW_WAKER_TITLE "pyworker: waker"
#define PYW_FNV_PRIME   1099511628211UL
#define PYW_WAKER_IDLE_MAX  20

typedef struct {
    int          *fds;
    int           n;
    int           cap;
    unsigned long sig;          /* which (fd, pid) pairs: a reused fd
                                   number is another pipe */
} pyw_fdset_t;

static void pyw_fdset_count(pyw_proc_t *p, void *baton)
{
    if (p->status_fd >= 0) {
        ((pyw_fdset_t *)baton)->cap++;
    }
}

static void pyw_fdset_put(pyw_fdset_t *set, int fd, long tag)
{
    if (set->n >= set->cap) {
        return;
    }
    set->fds[set->n++] = fd;
    set->sig = (set->sig ^ (unsigned long)fd) * PYW_FNV_PRIME;
    set->sig = (set->sig ^ (unsigned long)tag) * PYW_FNV_PRIME;
}

static void pyw_fdset_add(pyw_proc_t *p, void *baton)
{
    if (p->status_fd >= 0) {
        pyw_fdset_put(baton, p->status_fd, (long)p->proc.pid);
    }
}

/* The listening sockets of dormant groups (tag -1: no pid). */
static void pyw_fdset_listeners(pyw_fdset_t *set, int count_only)
{
    struct pyw_group_rt **rts;
    int i;

    if (pyw_pm.rts == NULL) {
        return;
    }
    rts = (struct pyw_group_rt **)pyw_pm.rts->elts;
    for (i = 0; i < pyw_pm.rts->nelts; i++) {
        if (!rts[i]->dormant || rts[i]->listen_fd < 0) {
            continue;
        }
        if (count_only) {
            set->cap++;
        }
        else {
            pyw_fdset_put(set, rts[i]->listen_fd, -1L);
        }
    }
}

/* ---- in the waker ---- */

static int pyw_int_cmp(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

/* Keep 0-2, the pipes and the dormant groups' sockets: Apache's
 * listeners and logs stay out. */
static void pyw_waker_close_others(int *fds, int n)
{
    unsigned int from = 3;
    int i;

    qsort(fds, (size_t)n, sizeof(int), pyw_int_cmp);
    for (i = 0; i < n; i++) {
        if ((unsigned int)fds[i] > from) {
            close_range(from, (unsigned int)fds[i] - 1, 0);
        }
        from = (unsigned int)fds[i] + 1;
    }
    close_range(from, ~0U, 0);
}

static void pyw_waker_identity(void)
{
    struct sigaction sa;
    sigset_t none;
    int sig;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    for (sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) {
            sigaction(sig, &sa, NULL);
        }
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* It stays root, as the parent is: as Apache's User it could be
     * stopped by any daemon that runs as that user too (a group without
     * user=), and with it the start of every on-demand group and every
     * deadline.  Not dumpable: it is a copy of the parent. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (getppid() != pyw_pm.parent) {
        _exit(0);
    }
    prctl(PR_SET_NAME, "pyw-waker", 0, 0, 0);
    if (pyw_pm.title_area != NULL && pyw_pm.title_len > 0) {
        memset(pyw_pm.title_area, 0, pyw_pm.title_len);
        strncpy(pyw_pm.title_area, PYW_WAKER_TITLE, pyw_pm.title_len - 1);
    }
}

static int pyw_waker_timeout(apr_time_t deadline)
{
    apr_interval_time_t left;

    if (deadline == 0) {
        return -1;
    }
    left = deadline - apr_time_now();
    if (left <= 0) {
        return 0;
    }
    left = (left + 999) / 1000;
    return left > INT_MAX ? INT_MAX : (int)left;
}

static void pyw_waker_main(int *fds, int n, apr_time_t deadline)
    __attribute__((noreturn));

static void pyw_waker_main(int *fds, int n, apr_time_t deadline)
{
    struct pollfd *pfd = calloc((size_t)(n > 0 ? n : 1), sizeof(*pfd));
    int i;

    pyw_waker_identity();
    pyw_waker_close_others(fds, n);
    for (i = 0; pfd != NULL && i < n; i++) {
        pfd[i].fd = fds[i];
        pfd[i].events = POLLIN;
    }
    while (pfd != NULL
           && poll(pfd, (nfds_t)n, pyw_waker_timeout(deadline)) < 0
           && errno == EINTR) {
        /* signals are at their defaults: should not happen */
    }
    _exit(0);
}

/* ---- in the parent ---- */

/* SIGKILL and reap at once: left to the MPM, an unregistered child would
 * be logged as a "long lost child". */
void pyw_waker_stop(void)
{
    pyw_waker_t *w = &pyw_pm.waker;
    pid_t pid = w->proc.pid;
    int st;

    if (pid <= 0) {
        return;
    }
    if (w->registered) {
        w->registered = 0;
        apr_proc_other_child_unregister(w);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    w->proc.pid = 0;
}

/*
 * A waker that keeps waking for nothing (a pipe the parent cannot drain,
 * a deadline it does not act on) would have the parent fork in a loop.
 * After PYW_WAKER_IDLE_MAX such wake-ups in a row, no new waker until
 * the next monitor hook: at worst that many forks every 10 seconds.
 */
static int pyw_waker_woke_for_nothing(pyw_waker_t *w)
{
    if (!w->died) {
        return 0;
    }
    w->died = 0;
    if (pyw_pm.events != w->armed_events) {
        w->idle = 0;
        return 0;
    }
    if (++w->idle == PYW_WAKER_IDLE_MAX) {
        PYW_SLOG(APLOG_WARNING, 0, pyw_pm.s, 45, NULL, 0L, "the waker woke "
                 "%d times in a row with nothing to do; status changes are "
                 "now noticed only by the monitor hook (about every 10 s)",
                 w->idle);
    }
    return w->idle >= PYW_WAKER_IDLE_MAX;
}

/* Monitor hook: let the waker run again. */
void pyw_waker_reset(void)
{
    pyw_pm.waker.idle = 0;
}

static void pyw_waker_maintenance(int reason, void *data, apr_wait_t status)
{
    pyw_waker_t *w = data;

    if (getpid() != pyw_pm.parent) {
        return;
    }
    switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST:
        w->proc.pid = 0;
        if (w->registered) {
            w->registered = 0;
            apr_proc_other_child_unregister(w);
        }
        w->died = 1;
        pyw_pm_poll();
        break;
    case APR_OC_REASON_RESTART:
        kill(w->proc.pid, SIGKILL);     /* reaped by the same loop */
        break;
    case APR_OC_REASON_UNREGISTER:
        w->registered = 0;
        break;
    default:
        break;
    }
}

static int pyw_waker_current(const pyw_waker_t *w, unsigned long sig,
                             apr_time_t deadline)
{
    if (w->proc.pid <= 0 || w->fd_sig != sig) {
        return 0;
    }
    /* One that wakes too early only costs a re-arm. */
    return deadline == 0 || (w->deadline != 0 && w->deadline <= deadline);
}

/* Make sure a waker watches every status pipe and dormant socket and
 * wakes by deadline (0: none).  Keeps the running one when it already
 * does. */
void pyw_waker_arm(apr_time_t deadline)
{
    pyw_waker_t *w = &pyw_pm.waker;
    pyw_fdset_t set = { NULL, 0, 0, 0 };
    apr_status_t rv;

    pyw_pm_each_proc(pyw_fdset_count, &set);
    pyw_fdset_listeners(&set, 1);
    set.fds = malloc(sizeof(int) * (size_t)(set.cap > 0 ? set.cap : 1));
    if (set.fds == NULL) {
        return;
    }
    pyw_pm_each_proc(pyw_fdset_add, &set);
    pyw_fdset_listeners(&set, 0);
    if (pyw_waker_woke_for_nothing(w) || w->idle >= PYW_WAKER_IDLE_MAX
        || pyw_waker_current(w, set.sig, deadline)) {
        free(set.fds);
        return;
    }
    pyw_waker_stop();
    if (set.n == 0 && deadline == 0) {
        free(set.fds);
        return;
    }
    rv = apr_proc_fork(&w->proc, pyw_pm.pconf);
    if (rv == APR_INCHILD) {
        pyw_waker_main(set.fds, set.n, deadline);
    }
    free(set.fds);
    if (rv != APR_INPARENT) {
        w->proc.pid = 0;
        PYW_SLOG(APLOG_WARNING, rv, pyw_pm.s, 45, NULL, 0L, "cannot fork "
                 "the waker; daemon status changes are noticed only by "
                 "the monitor hook (about every 10 s)");
        return;
    }
    w->armed_events = pyw_pm.events;
    w->deadline = deadline;
    w->fd_sig = set.sig;
    apr_proc_other_child_register(&w->proc, pyw_waker_maintenance, w, NULL,
                                  pyw_pm.pconf);
    w->registered = 1;
}

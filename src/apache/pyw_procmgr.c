/*
 * pyw_procmgr.c - the Apache parent owns the daemon processes.
 *
 * Per group: one listening Unix socket, `processes` slots, each holding
 * at most one forked daemon.  The parent supervises them through
 * apr_proc_other_child (the MPM reaps every child and hands ours back);
 * a dead daemon is logged with its cause and restarted, with a growing
 * start-up delay after quick failures (the new process sleeps, so the
 * parent never waits).
 *
 * Lifetimes:
 *  - sockets live in the process pool (ap_retained_data), keyed by path,
 *    so they outlive daemon restarts and graceful restarts: a request that
 *    arrives meanwhile waits in the listen backlog.  This DSO is unloaded
 *    and loaded again at every restart, so only plain data is kept there:
 *    no cleanup or callback of ours may be registered on that pool.
 *  - slots, other_child records and the SIGCHLD handler belong to one
 *    generation (pconf).  The pconf cleanup stops and reaps the daemons;
 *    at exit it also closes and unlinks the sockets.
 *
 * Apache's children and our daemons are forks of the parent: they carry
 * copies of pconf's cleanups and of the other_child list.  Every callback
 * here therefore acts only when getpid() is the parent's.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
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
#include "pyw_procmgr.h"
#include "../daemon/pyw_daemon.h"

#define PYW_LISTEN_BACKLOG      511
#define PYW_SHUTDOWN_TIMEOUT_MS 5000    /* daemon: in-flight requests    */
#define PYW_STOP_WAIT_MS        (PYW_SHUTDOWN_TIMEOUT_MS + 1000)
#define PYW_KILL_WAIT_MS        1000
#define PYW_QUICK_DEATH         apr_time_from_sec(10)
#define PYW_BACKOFF_MIN_MS      1000
#define PYW_BACKOFF_MAX_MS      30000
#define PYW_RETAINED_KEY        "mod_pyworker.procmgr"
#define PYW_CHLD_RING           64

/* A listening socket; plain data in the process pool (see above). */
typedef struct {
    const char *path;
    int         fd;             /* -1: closed */
    dev_t       dev;            /* the file bind() created, to notice */
    ino_t       ino;            /* a removed or replaced one           */
    int         generation;     /* last configuration that used it */
} pyw_sock_t;

typedef struct {
    apr_hash_t *socks;          /* path -> pyw_sock_t * */
} pyw_retained_t;

typedef struct {
    struct pyw_group_rt *rt;
    int         index;
    apr_proc_t  proc;           /* proc.pid 0: no process in this slot */
    int         registered;     /* with apr_proc_other_child */
    int         term_sent;      /* we asked it to stop */
    int         failures;       /* consecutive quick failures */
    int         delay_ms;       /* start-up delay of the current process */
    apr_time_t  ready_at;       /* fork time + delay */
} pyw_slot_t;

struct pyw_group_rt {
    pyw_group_t *group;
    int          listen_fd;
    pyw_slot_t  *slots;         /* group->processes of them */
};

/* This generation; reset in post_config. */
static struct {
    server_rec         *s;
    apr_pool_t         *pconf;
    pid_t               parent;
    int                 stopping;
    apr_array_header_t *slots;  /* pyw_slot_t * */
    pyw_retained_t     *retained;
    char               *title_area;
    size_t              title_len;
    int                 log_fd;
} pyw_pm;

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

/* Cause of a death the MPM reported; 1 if the daemon failed to start. */
static int pyw_death_cause(pid_t pid, int reason, apr_wait_t status,
                           char *buf, size_t len)
{
    int code, value;

    if (reason == APR_OC_REASON_LOST) {
        snprintf(buf, len, "lost (reaped elsewhere, cause unknown)");
        return 0;
    }
    if (pyw_chld_take(pid, &code, &value)) {
        pyw_exit_format(code, value, buf, len);
        return code == CLD_EXITED
               && value == PYW_DAEMON_EXIT_STARTUP_FAILED;
    }
    pyw_exit_format(0, status, buf, len);
    return status == PYW_DAEMON_EXIT_STARTUP_FAILED;
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
static apr_status_t pyw_sock_listen(pyw_sock_t *k)
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
    if (rv == APR_SUCCESS && (listen(fd, PYW_LISTEN_BACKLOG) < 0
                              || lstat(k->path, &st) < 0)) {
        rv = errno;
        unlink(k->path);
    }
    if (rv != APR_SUCCESS) {
        close(fd);
        return rv;
    }
    k->fd = fd;
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
        PYW_SLOG(APLOG_WARNING, errno, s, 13, NULL, 0L, "cannot remove %s",
                 k->path);
    }
    if (k->fd >= 0) {
        close(k->fd);
        k->fd = -1;
    }
}

/* Only Apache's child user may connect; the daemons only accept(). */
static apr_status_t pyw_sock_owner(const pyw_sock_t *k)
{
    if (chmod(k->path, 0600) < 0) {
        return errno;
    }
    if (geteuid() == 0 && chown(k->path, ap_unixd_config.user_id,
                                ap_unixd_config.group_id) < 0) {
        return errno;
    }
    return APR_SUCCESS;
}

static pyw_sock_t *pyw_sock_get(server_rec *s, const char *path)
{
    apr_pool_t *pp = s->process->pool;
    pyw_sock_t *k = apr_hash_get(pyw_pm.retained->socks, path,
                                 APR_HASH_KEY_STRING);

    if (k == NULL) {
        k = apr_pcalloc(pp, sizeof(*k));
        k->path = apr_pstrdup(pp, path);
        k->fd = -1;
        apr_hash_set(pyw_pm.retained->socks, k->path, APR_HASH_KEY_STRING,
                     k);
    }
    else if (!pyw_sock_intact(k)) {
        pyw_sock_close(s, k, 0);
    }
    return k;
}

/* <prefix>.<parent pid>.<group>.sock: the same across graceful restarts. */
static apr_status_t pyw_sock_open(server_rec *s, apr_pool_t *ptemp,
                                  pyw_group_t *g, int generation)
{
    const char *path = apr_psprintf(ptemp, "%s.%ld.%s.sock",
                                    pyw_globals.socket_prefix,
                                    (long)getpid(), g->name);
    pyw_sock_t *k = pyw_sock_get(s, path);
    const char *what = NULL;
    apr_status_t rv = APR_SUCCESS;
    int reused = k->fd >= 0;

    if (!reused && (rv = pyw_sock_make_dir(path, ptemp)) != APR_SUCCESS) {
        what = "cannot create the directory of";
    }
    else if (!reused && (rv = pyw_sock_listen(k)) != APR_SUCCESS) {
        what = rv == APR_EEXIST ? "a file that is not a socket is in the way"
               " of" : "cannot create the listening socket";
    }
    else if ((rv = pyw_sock_owner(k)) != APR_SUCCESS) {
        what = "cannot set the owner and mode 0600 of";
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
            PYW_SLOG(APLOG_DEBUG, 0, s, 12, NULL, 0L, "closing and "
                     "removing %s", k->path);
            pyw_sock_close(s, k, 1);
            apr_hash_set(pyw_pm.retained->socks, k->path,
                         APR_HASH_KEY_STRING, NULL);
        }
    }
}

/* ---- starting a daemon ---- */

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

static void pyw_fill_spec(const pyw_slot_t *slot, pyw_daemon_spec_t *spec)
{
    const pyw_group_t *g = slot->rt->group;

    memset(spec, 0, sizeof(*spec));
    spec->group = g->name;
    spec->process_index = slot->index;
    spec->threads = g->threads;
    spec->drop_privileges = geteuid() == 0;
    spec->uid = g->uid;
    spec->gid = g->gid;
    spec->user_name = g->user_name;
    spec->home = g->home;
    spec->python_home = g->python_home ? g->python_home
                                       : pyw_globals.python_home;
    spec->python_path = g->python_path ? g->python_path
                                       : pyw_globals.python_path;
    spec->lang = g->lang;
    spec->locale = g->locale;
    spec->umask = g->umask;
    spec->display_name = pyw_display_name(pyw_pm.pconf, g);
    spec->title_area = pyw_pm.title_area;
    spec->title_len = pyw_pm.title_len;
    spec->import_scripts = (const char *const *)g->import_scripts->elts;
    spec->n_import_scripts = g->import_scripts->nelts;
    spec->listen_fd = slot->rt->listen_fd;
    spec->log_fd = pyw_pm.log_fd;
    spec->log_level = ap_get_server_module_loglevel(pyw_pm.s,
                                                    APLOG_MODULE_INDEX);
    spec->startup_delay_ms = slot->delay_ms;
    spec->shutdown_timeout_ms = PYW_SHUTDOWN_TIMEOUT_MS;
}

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

static void pyw_slot_maintenance(int reason, void *data, apr_wait_t status);

/* Fork the slot's daemon.  On failure the slot stays empty and the
 * monitor hook tries again. */
static apr_status_t pyw_slot_spawn(pyw_slot_t *slot)
{
    const pyw_group_t *g = slot->rt->group;
    pyw_daemon_spec_t spec;
    apr_status_t rv;

    slot->delay_ms = pyw_backoff_ms(slot->failures);
    slot->term_sent = 0;
    rv = apr_proc_fork(&slot->proc, pyw_pm.pconf);
    if (rv == APR_INCHILD) {
        pyw_fill_spec(slot, &spec);
        pyw_daemon_main(&spec);         /* never returns */
    }
    if (rv != APR_INPARENT) {
        slot->proc.pid = 0;
        PYW_SLOG(APLOG_ERR, rv, pyw_pm.s, 20, g->name, 0L, "cannot fork "
                 "daemon process %d; trying again later", slot->index);
        return rv;
    }
    slot->ready_at = apr_time_now() + apr_time_from_msec(slot->delay_ms);
    apr_proc_other_child_register(&slot->proc, pyw_slot_maintenance, slot,
                                  NULL, pyw_pm.pconf);
    slot->registered = 1;
    PYW_SLOG(APLOG_INFO, 0, pyw_pm.s, 21, g->name, (long)slot->proc.pid,
             "daemon process %d of %d started (start-up delay %d ms)",
             slot->index + 1, g->processes, slot->delay_ms);
    return APR_SUCCESS;
}

/* ---- supervision ---- */

static int pyw_stopping(void)
{
    int state;

    if (pyw_pm.stopping) {
        return 1;
    }
    return ap_mpm_query(AP_MPMQ_MPM_STATE, &state) == APR_SUCCESS
           && state == AP_MPMQ_STOPPING;
}

static void pyw_slot_terminate(pyw_slot_t *slot)
{
    if (slot->proc.pid > 0 && !slot->term_sent) {
        kill(slot->proc.pid, SIGTERM);
        slot->term_sent = 1;
    }
}

/* APR calls us back with UNREGISTER, which must then find no process. */
static void pyw_slot_unregister(pyw_slot_t *slot)
{
    if (slot->registered) {
        slot->registered = 0;
        apr_proc_other_child_unregister(slot);
    }
}

static void pyw_slot_died(pyw_slot_t *slot, int reason, apr_wait_t status)
{
    const pyw_group_t *g = slot->rt->group;
    long pid = (long)slot->proc.pid;
    int expected = slot->term_sent || pyw_stopping();
    int failed, quick;
    char cause[128], delay[32];

    failed = pyw_death_cause(slot->proc.pid, reason, status, cause,
                             sizeof(cause));
    slot->proc.pid = 0;
    pyw_slot_unregister(slot);
    if (expected) {
        PYW_SLOG(APLOG_INFO, 0, pyw_pm.s, 24, g->name, pid, "daemon "
                 "process exited: %s", cause);
        return;
    }
    quick = failed || apr_time_now() < slot->ready_at + PYW_QUICK_DEATH;
    slot->failures = quick ? slot->failures + 1 : 0;
    delay[0] = '\0';
    if (slot->failures > 0) {
        snprintf(delay, sizeof(delay), " in %d ms",
                 pyw_backoff_ms(slot->failures));
    }
    PYW_SLOG(APLOG_ERR, 0, pyw_pm.s, failed ? 23 : 22, g->name, pid,
             "daemon process %d %s (%s); restarting it%s",
             slot->index + 1, failed ? "failed to start" : "died", cause,
             delay);
    pyw_slot_spawn(slot);
}

static void pyw_slot_maintenance(int reason, void *data, apr_wait_t status)
{
    pyw_slot_t *slot = data;

    if (getpid() != pyw_pm.parent) {
        return;             /* a fork running the parent's cleanups */
    }
    switch (reason) {
    case APR_OC_REASON_DEATH:
    case APR_OC_REASON_LOST:
        pyw_slot_died(slot, reason, status);
        break;
    case APR_OC_REASON_RESTART:
        /* Apache stops or restarts; the pconf cleanup reaps. */
        pyw_slot_terminate(slot);
        pyw_slot_unregister(slot);
        break;
    case APR_OC_REASON_UNREGISTER:
        slot->registered = 0;
        pyw_slot_terminate(slot);
        break;
    default:                /* RUNNING, UNWRITABLE: nothing to do */
        break;
    }
}

/* Slots left empty by a failed fork get another chance (about every
 * 10 s, when the MPM runs the monitor hook). */
static int pyw_pm_monitor(apr_pool_t *p, server_rec *s)
{
    pyw_slot_t **slots;
    int i;

    if (pyw_pm.slots == NULL || getpid() != pyw_pm.parent || pyw_stopping()) {
        return DECLINED;
    }
    slots = (pyw_slot_t **)pyw_pm.slots->elts;
    for (i = 0; i < pyw_pm.slots->nelts; i++) {
        if (slots[i]->proc.pid == 0) {
            pyw_slot_spawn(slots[i]);
        }
    }
    return DECLINED;
}

/* ---- stopping ---- */

/* One pass of waitpid(WNOHANG); returns how many are still running. */
static int pyw_reap_once(int log_level)
{
    pyw_slot_t **slots = (pyw_slot_t **)pyw_pm.slots->elts;
    char cause[128];
    int i, st, left = 0;
    pid_t pid, r;

    for (i = 0; i < pyw_pm.slots->nelts; i++) {
        if ((pid = slots[i]->proc.pid) <= 0) {
            continue;
        }
        r = waitpid(pid, &st, WNOHANG);
        if (r == 0 || (r < 0 && errno == EINTR)) {
            left++;
            continue;
        }
        if (r == pid) {
            pyw_wait_format(st, cause, sizeof(cause));
        }
        else {
            apr_cpystrn(cause, "reaped elsewhere", sizeof(cause));
        }
        PYW_SLOG(log_level, 0, pyw_pm.s, 24, slots[i]->rt->group->name,
                 (long)pid, "daemon process exited: %s", cause);
        slots[i]->proc.pid = 0;
    }
    return left;
}

static int pyw_reap(int wait_ms, int log_level)
{
    apr_time_t deadline = apr_time_now() + apr_time_from_msec(wait_ms);
    int left;

    while ((left = pyw_reap_once(log_level)) > 0
           && apr_time_now() < deadline) {
        apr_sleep(apr_time_from_msec(20));
    }
    return left;
}

static void pyw_signal_all(int sig)
{
    pyw_slot_t **slots = (pyw_slot_t **)pyw_pm.slots->elts;
    int i;

    for (i = 0; i < pyw_pm.slots->nelts; i++) {
        if (sig == SIGTERM) {
            pyw_slot_terminate(slots[i]);
        }
        else if (slots[i]->proc.pid > 0) {
            kill(slots[i]->proc.pid, sig);
        }
    }
}

/*
 * pconf cleanup: Apache stops, restarts, or failed to start.  Registered
 * before any daemon is forked, so it runs after the other_child cleanups
 * (which already sent SIGTERM).  Daemons get their shutdown timeout to
 * finish requests, then SIGKILL.  Sockets stay open for the next
 * generation unless Apache is exiting.
 */
static apr_status_t pyw_pm_stop_all(void *unused)
{
    int left;

    if (getpid() != pyw_pm.parent) {
        return APR_SUCCESS;
    }
    pyw_pm.stopping = 1;
    pyw_signal_all(SIGTERM);
    left = pyw_reap(PYW_STOP_WAIT_MS, APLOG_INFO);
    if (left > 0) {
        PYW_SLOG(APLOG_WARNING, 0, pyw_pm.s, 25, NULL, 0L, "%d daemon "
                 "process(es) still running %d ms after SIGTERM; sending "
                 "SIGKILL", left, PYW_STOP_WAIT_MS);
        pyw_signal_all(SIGKILL);
        pyw_reap(PYW_KILL_WAIT_MS, APLOG_WARNING);
    }
    pyw_chld_uninstall();
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_EXITING) {
        pyw_sock_sweep(pyw_pm.s, pyw_pm.pconf, 0, 1);
    }
    pyw_pm.slots = NULL;
    return APR_SUCCESS;
}

/* ---- hooks ---- */

/* The argv strings are contiguous from argv[0]; /proc says how far. */
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
    pyw_pm.slots = apr_array_make(pconf, 4, sizeof(pyw_slot_t *));
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
    rt->slots = apr_pcalloc(pconf, g->processes * sizeof(pyw_slot_t));
    for (i = 0; i < g->processes; i++) {
        rt->slots[i].rt = rt;
        rt->slots[i].index = i;
        *(pyw_slot_t **)apr_array_push(pyw_pm.slots) = &rt->slots[i];
    }
    g->rt = rt;
    if (geteuid() != 0 && (g->user != NULL || g->group != NULL)) {
        PYW_SLOG(APLOG_WARNING, 0, pyw_pm.s, 26, g->name, 0L, "user= and "
                 "group= are ignored: Apache does not run as root");
    }
}

static int pyw_pm_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp, server_rec *s)
{
    pyw_group_t **groups = (pyw_group_t **)pyw_globals.groups->elts;
    int generation = ap_state_query(AP_SQ_CONFIG_GEN);
    pyw_slot_t **slots;
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
    for (i = 0; i < pyw_globals.groups->nelts; i++) {
        pyw_pm_add_group(pconf, groups[i]);
        if (pyw_sock_open(s, ptemp, groups[i], generation) != APR_SUCCESS) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    pyw_sock_sweep(s, ptemp, generation, 0);
    if (pyw_pm.slots->nelts > 0) {
        pyw_chld_install();
    }
    slots = (pyw_slot_t **)pyw_pm.slots->elts;
    for (i = 0; i < pyw_pm.slots->nelts; i++) {
        pyw_slot_spawn(slots[i]);
    }
    return OK;
}

/* Apache's children must not hold the daemons' listening sockets. */
static void pyw_pm_child_init(apr_pool_t *p, server_rec *s)
{
    apr_hash_index_t *hi;
    pyw_sock_t *k;

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
    }
    pyw_chld_uninstall();
}

void pyw_procmgr_register_hooks(apr_pool_t *p)
{
    ap_hook_post_config(pyw_pm_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(pyw_pm_child_init, NULL, NULL, APR_HOOK_REALLY_FIRST);
    ap_hook_monitor(pyw_pm_monitor, NULL, NULL, APR_HOOK_MIDDLE);
}

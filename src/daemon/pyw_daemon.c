/*
 * pyw_daemon.c - main thread of a daemon process: turn the freshly exec'd
 * daemon program (started as root) into an unprivileged one, start the
 * application (Python, through pyw_app_t), the workers and the poller,
 * then wait for signals and stop in order.
 *
 * Signals: the handlers only bump sig_atomic_t counters and write a byte
 * to a self-pipe; the main thread sleeps in poll() on that pipe and acts.
 * SIGTERM/SIGINT: graceful stop, with the budget the kind of stop gives
 * (see pyw_spec.h: being replaced, or Apache stopping).  SIGUSR2: ask the
 * parent to restart the whole group one process at a time.  SIGRTMIN+6
 * (PYW_DAEMON_STACK_SIGNAL): every thread's Python stack to the log.
 * SIGHUP/SIGUSR1 (Apache signals its process group): ignored.
 * Signals stay unblocked in every thread (a blocked mask would be
 * inherited by processes the application spawns), so the handler may run
 * on any thread; SA_RESTART and pyw_io's EINTR loops make that harmless.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <locale.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/pyw_io.h"
#include "pyw_app.h"
#include "pyw_daemon.h"
#include "pyw_dlog.h"
#include "pyw_dconn.h"
#include "pyw_dlogno.h"
#include "pyw_resources.h"
#include "pyw_poller.h"
#include "pyw_status.h"
#include "pyw_watchdog.h"
#include "pyw_workers.h"

/* Where the listening socket lives in the daemon: right after stderr,
 * then the status pipe to the parent. */
#define DAEMON_LISTEN_FD   3
#define DAEMON_STATUS_FD   4
/* atexit callbacks get this long when shutdown-timeout is not set. */
#define DAEMON_ATEXIT_MS   5000
/* While requests finish, a later stop signal is looked at this often. */
#define DAEMON_STOP_STEP_MS 100
/* The watchdog's backstop (PYW0253) waits this long past the requests'
 * deadline, so that the main thread is first to say which requests it
 * cuts off; the parent's SIGKILL comes later still (2 s). */
#define DAEMON_CUT_MARGIN_MS 1000

/* Why the daemon was told to stop (pyw_spec.h).  Each kind gives the
 * requests in flight its own time (daemon_budget). */
typedef enum {
    STOP_TERM = 0,      /* plain SIGTERM (kill(1), the daemon itself)  */
    STOP_RECYCLE,       /* replaced: a limit was reached               */
    STOP_EVICT,         /* replaced: rolling or Apache restart         */
    STOP_APACHE,        /* Apache stops or restarts hard               */
    STOP_IDLE,          /* the group was idle for idle-timeout         */
    STOP_KINDS
} daemon_stop_e;

static volatile sig_atomic_t sig_stop[STOP_KINDS]; /* count per kind    */
static volatile sig_atomic_t sig_term;      /* any stop signal came     */
static volatile sig_atomic_t sig_other;     /* SIGHUP / SIGUSR1 count   */
static volatile sig_atomic_t sig_other_no;
static volatile sig_atomic_t sig_rolling;   /* SIGUSR2 count            */
static volatile sig_atomic_t sig_stacks;    /* SIGRTMIN+6 count         */
static int wake_r = -1, wake_w = -1;        /* self-pipe                */

/* The signals the daemon catches (daemon_on_signal); the last one,
 * PYW_DAEMON_STACK_SIGNAL, is no constant: daemon_reset_signals sets it. */
static int daemon_signals[] = { PYW_SIG_RETIRE, PYW_SIG_APACHE_STOP,
                                SIGHUP, SIGUSR1, SIGUSR2, 0 };
#define DAEMON_NSIGNALS (sizeof(daemon_signals) / sizeof(daemon_signals[0]))

/* Async-signal-safe: the kind of stop a signal asks for. */
static int daemon_stop_kind(int sig, const siginfo_t *si)
{
    if (sig == PYW_SIG_APACHE_STOP) {
        return STOP_APACHE;
    }
    if (si == NULL || si->si_code != SI_QUEUE) {
        return STOP_TERM;
    }
    switch (si->si_value.sival_int) {
    case PYW_RETIRE_EVICT:
        return STOP_EVICT;
    case PYW_RETIRE_IDLE:
        return STOP_IDLE;
    default:
        return STOP_RECYCLE;
    }
}

static void daemon_on_signal(int sig, siginfo_t *si, void *uc)
{
    int saved_errno = errno;
    char b = 0;

    (void)uc;
    if (sig == PYW_SIG_RETIRE || sig == PYW_SIG_APACHE_STOP) {
        sig_stop[daemon_stop_kind(sig, si)]++;
        sig_term = 1;
    }
    else if (sig == SIGUSR2) {
        sig_rolling++;
    }
    else if (sig == PYW_DAEMON_STACK_SIGNAL) {
        sig_stacks++;
    }
    else {
        sig_other_no = sig;
        sig_other++;
    }
    if (wake_w >= 0 && write(wake_w, &b, 1) < 0) {
        /* pipe full: the main thread is awake anyway */
    }
    errno = saved_errno;
}

/* A process the application forks (os.fork, multiprocessing) is not the
 * daemon: it gets the default action for the signals the daemon catches,
 * so SIGTERM ends it and it may install handlers of its own. */
static void daemon_atfork_child(void)
{
    struct sigaction sa;
    size_t i;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < DAEMON_NSIGNALS; i++) {
        sigaction(daemon_signals[i], &sa, NULL);
    }
}

/* exec keeps the signal mask and ignored signals of Apache's parent. */
static void daemon_reset_signals(void)
{
    struct sigaction sa;
    sigset_t none;
    size_t i;
    int sig;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) {
            sigaction(sig, &sa, NULL);  /* EINVAL for libc's own: fine */
        }
    }
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);

    /* Our handlers block each other, so the counters cannot tear. */
    daemon_signals[DAEMON_NSIGNALS - 1] = PYW_DAEMON_STACK_SIGNAL;
    sa.sa_sigaction = daemon_on_signal;
    sa.sa_flags = SA_RESTART | SA_SIGINFO;
    for (i = 0; i < DAEMON_NSIGNALS; i++) {
        sigaddset(&sa.sa_mask, daemon_signals[i]);
    }
    for (i = 0; i < DAEMON_NSIGNALS; i++) {
        sigaction(daemon_signals[i], &sa, NULL);
    }
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    pthread_atfork(NULL, NULL, daemon_atfork_child);
}

/* Restart back-off; a stop request ends it early. */
static void daemon_delay(int ms)
{
    struct timespec ts;

    if (ms <= 0) {
        return;
    }
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR && !sig_term) {
        /* another signal: sleep the rest */
    }
    if (sig_term) {
        _exit(PYW_DAEMON_EXIT_OK);
    }
}

static int daemon_close_from(int lowfd)
{
    int fd, max;

    if (close_range((unsigned)lowfd, ~0u, 0) == 0) {
        return 0;
    }
    max = (int)sysconf(_SC_OPEN_MAX);   /* kernel before 5.9 */
    for (fd = lowfd; fd < (max > 0 ? max : 65536); fd++) {
        close(fd);
    }
    return 0;
}

/*
 * 0 stdin </dev/null, 1 and 2 the error log, 3 the listening socket, 4
 * the status pipe if any (close-on-exec), nothing else: the parent's
 * listeners, log files and pipes must not stay open here.  *status_fd:
 * 4, or -1 without a pipe (fds 0-2 are never one: a spec that was only
 * zeroed says 0).  Nothing can be logged yet: -1 on error.
 */
static int daemon_setup_fds(const pyw_daemon_spec_t *spec, int *status_fd)
{
    int lfd, logfd, nullfd, sfd = -1;

    if (spec->status_fd > 2
        && (sfd = fcntl(spec->status_fd, F_DUPFD_CLOEXEC, 10)) < 0) {
        return -1;
    }
    *status_fd = sfd >= 0 ? DAEMON_STATUS_FD : -1;
    lfd = fcntl(spec->listen_fd, F_DUPFD_CLOEXEC, 10);
    logfd = spec->log_fd >= 0 ? fcntl(spec->log_fd, F_DUPFD_CLOEXEC, 10)
                              : open("/dev/null", O_WRONLY | O_CLOEXEC);
    nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (lfd < 0 || logfd < 0 || nullfd < 0
        || dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0
        || dup3(lfd, DAEMON_LISTEN_FD, O_CLOEXEC) < 0
        || (sfd >= 0 && dup3(sfd, DAEMON_STATUS_FD, O_CLOEXEC) < 0)) {
        return -1;
    }
    return daemon_close_from(sfd >= 0 ? DAEMON_STATUS_FD + 1
                                      : DAEMON_LISTEN_FD + 1);
}

/* Name in top: comm (15 chars, inherited by the threads created later).
 * ps shows argv, which the parent made the title already (pyw_exec.c). */
static void daemon_set_title(const pyw_daemon_spec_t *spec)
{
    char comm[16];

    if (spec->display_name == NULL || spec->display_name[0] == '\0') {
        return;
    }
    if (strcmp(spec->display_name, "%{GROUP}") == 0) {
        snprintf(comm, sizeof(comm), "(pyworker:%s)",
                 spec->group ? spec->group : "-");
    }
    else {
        snprintf(comm, sizeof(comm), "%s", spec->display_name);
    }
    prctl(PR_SET_NAME, comm, 0, 0, 0);
}

static void daemon_environment(const pyw_daemon_spec_t *spec)
{
    if (spec->umask >= 0) {
        umask((mode_t)spec->umask);
    }
    if (spec->lang) {
        setenv("LANG", spec->lang, 1);
    }
    if (spec->locale) {
        setenv("LC_ALL", spec->locale, 1);
        if (setlocale(LC_ALL, spec->locale) == NULL) {
            pyw_dlog(PYW_LOG_WARNING, PYW_LOG_LOCALE, NULL,
                     "setlocale(LC_ALL, \"%s\") failed; locale not "
                     "installed?", spec->locale);
        }
    }
}

/* chdir(home= or, when switching user, the user's home directory) and,
 * when switching user, HOME/USER/LOGNAME for that user. */
static void daemon_chdir(const pyw_daemon_spec_t *spec)
{
    const char *home = spec->home;
    struct passwd *pw = NULL;

    if (spec->drop_privileges && (pw = getpwuid(spec->uid)) != NULL) {
        setenv("HOME", pw->pw_dir, 1);
        setenv("USER", pw->pw_name, 1);
        setenv("LOGNAME", pw->pw_name, 1);
        if (home == NULL) {
            home = pw->pw_dir;
        }
    }
    if (home == NULL || chdir(home) == 0) {
        return;
    }
    if (spec->home) {
        pyw_dlog(PYW_LOG_CRIT, PYW_LOG_CHDIR, NULL,
                 "cannot change to home directory %s: %s", home,
                 strerror(errno));
        _exit(PYW_DAEMON_EXIT_STARTUP_FAILED);
    }
    pyw_dlog(PYW_LOG_WARNING, PYW_LOG_CHDIR, NULL,
             "cannot change to %s: %s; using /", home, strerror(errno));
    if (chdir("/") < 0) {
        /* "/" always exists; nothing better to do */
    }
}

static void daemon_refuse(const char *what) __attribute__((noreturn));

static void daemon_refuse(const char *what)
{
    pyw_dlog(PYW_LOG_CRIT, PYW_LOG_PRIVILEGES, NULL, "%s", what);
    _exit(PYW_DAEMON_EXIT_STARTUP_FAILED);
}

/* Every real/effective/saved id must be the target, and none root. */
static void daemon_check_ids(const pyw_daemon_spec_t *spec)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg;

    if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0) {
        daemon_refuse("getresuid/getresgid failed");
    }
    if (ru == 0 || eu == 0 || su == 0) {
        daemon_refuse("refusing to run Python as root (uid 0); set user=");
    }
    if (spec->drop_privileges
        && (ru != spec->uid || eu != spec->uid || su != spec->uid
            || rg != spec->gid || eg != spec->gid || sg != spec->gid
            || rg == 0)) {
        pyw_dlog(PYW_LOG_CRIT, PYW_LOG_PRIVILEGES, NULL,
                 "privileges not dropped: uid %ld/%ld/%ld gid %ld/%ld/%ld, "
                 "wanted uid %ld gid %ld", (long)ru, (long)eu, (long)su,
                 (long)rg, (long)eg, (long)sg, (long)spec->uid,
                 (long)spec->gid);
        _exit(PYW_DAEMON_EXIT_STARTUP_FAILED);
    }
}

static void daemon_drop_privileges(const pyw_daemon_spec_t *spec)
{
    const char *step = NULL;

    if (spec->drop_privileges) {
        if (spec->uid == 0 || spec->gid == 0) {
            daemon_refuse("refusing to run Python as root (user= or "
                          "group= resolves to id 0)");
        }
        if ((spec->user_name ? initgroups(spec->user_name, spec->gid)
                             : setgroups(1, &spec->gid)) < 0) {
            step = "initgroups";
        }
        else if ((errno = -pyw_resources_add_groups(spec)) != 0) {
            step = "setgroups(supplementary-groups)";
        }
        else if (setresgid(spec->gid, spec->gid, spec->gid) < 0) {
            step = "setresgid";
        }
        else if (setresuid(spec->uid, spec->uid, spec->uid) < 0) {
            step = "setresuid";
        }
        if (step) {
            pyw_dlog(PYW_LOG_CRIT, PYW_LOG_PRIVILEGES, NULL,
                     "%s(%s uid=%ld gid=%ld) failed: %s", step,
                     spec->user_name ? spec->user_name : "-",
                     (long)spec->uid, (long)spec->gid, strerror(errno));
            _exit(PYW_DAEMON_EXIT_STARTUP_FAILED);
        }
    }
    daemon_check_ids(spec);
}

/* If Apache's parent dies without stopping us, stop as when Apache stops
 * (the setting is cleared by setuid, hence after it; getppid() closes the
 * race). */
static void daemon_watch_parent(pid_t ppid)
{
    prctl(PR_SET_PDEATHSIG, PYW_SIG_APACHE_STOP, 0, 0, 0);
    if (getppid() != ppid) {
        _exit(PYW_DAEMON_EXIT_OK);
    }
}

static int daemon_self_pipe(void)
{
    int p[2];

    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0) {
        pyw_dlog(PYW_LOG_CRIT, PYW_LOG_SETUP_FAILED, NULL,
                 "cannot create the signal pipe: %s", strerror(errno));
        return -1;
    }
    wake_r = p[0];
    wake_w = p[1];
    return 0;
}

/* The application first (Python may take a while importing scripts),
 * then the watchdog and the threads that serve requests; then READY
 * tells the parent it may retire the daemon this one replaces.  Any
 * failure is a start-up failure. */
static void daemon_start(const pyw_daemon_spec_t *spec, const pyw_app_t *app)
{
    if (daemon_self_pipe() < 0) {
        _exit(PYW_DAEMON_EXIT_STARTUP_FAILED);
    }
    if (app->start(spec) < 0) {
        pyw_dlog(PYW_LOG_CRIT, PYW_LOG_PYTHON_START, NULL,
                 "Python interpreter did not start; exiting");
        _exit(PYW_DAEMON_EXIT_STARTUP_FAILED);
    }
    pyw_dconn_set_write_timeout(spec->response_write_timeout_ms);
    /* The watchdog first: workers poke it from their first request. */
    if (pyw_watchdog_start(spec, app) < 0
        || pyw_workers_start(spec, app) < 0
        || pyw_poller_start(DAEMON_LISTEN_FD, spec) < 0) {
        _exit(PYW_DAEMON_EXIT_STARTUP_FAILED);
    }
    pyw_dlog(PYW_LOG_NOTICE, PYW_LOG_DAEMON_STARTED, NULL,
             "daemon started: process %d of %d, %d threads",
             spec->process_index + 1, spec->processes, spec->threads);
    if (pyw_status_send(PYW_STATUS_READY) == 1) {
        pyw_dlog(PYW_LOG_INFO, PYW_LOG_READY, NULL,
                 "told the parent this daemon is ready");
    }
}

/* SIGUSR2: the operator wants the group restarted one process at a time
 * (new code, new settings) without a gap; the parent does it. */
static void daemon_rolling_restart(void)
{
    if (!pyw_status_available()) {
        pyw_dlog(PYW_LOG_WARNING, PYW_LOG_ROLLING_SIGNAL, NULL,
                 "SIGUSR2 received, but there is no status pipe to the "
                 "parent: no rolling restart");
        return;
    }
    pyw_dlog(PYW_LOG_NOTICE, PYW_LOG_ROLLING_SIGNAL, NULL,
             "SIGUSR2 received: asking the parent to restart the group one "
             "process at a time");
    pyw_status_send(PYW_STATUS_ROLLING);
}

/* Sleep until a signal arrives; act on HUP/USR1, return on TERM/INT. */
static void daemon_wait_for_stop(void)
{
    struct pollfd pfd = { .fd = wake_r, .events = POLLIN };
    sig_atomic_t others_seen = 0, rolling_seen = 0, stacks_seen = 0;
    char buf[64];

    for (;;) {
        if (sig_rolling != rolling_seen) {
            rolling_seen = sig_rolling;
            daemon_rolling_restart();
        }
        if (sig_stacks != stacks_seen) {
            stacks_seen = sig_stacks;
            pyw_watchdog_dump_stacks("SIGRTMIN+6");
        }
        if (sig_other != others_seen) {
            /* Apache signals its whole process group on restart; the
             * parent restarts us itself when it wants to. */
            others_seen = sig_other;
            pyw_dlog(PYW_LOG_INFO, PYW_LOG_SIGNAL_IGNORED, NULL,
                     "ignoring %s (the parent manages restarts)",
                     sig_other_no == SIGHUP ? "SIGHUP" : "SIGUSR1");
        }
        if (sig_term) {
            return;
        }
        if (poll(&pfd, 1, -1) > 0) {
            while (read(wake_r, buf, sizeof(buf)) > 0) {
                /* drain; the counters say what happened */
            }
        }
    }
}

/* ---- stopping ---- */

/* How long the requests in flight may run, and when the whole stop must
 * be over (pyw_io clock), as the kind of stop that set them says. */
typedef struct {
    int         kind;           /* daemon_stop_e; -1: no stop yet      */
    int64_t     requests_by;
    int64_t     exit_by;
    int64_t     wait_ms;        /* requests_by - when it was set       */
    const char *timeout;        /* the setting wait_ms comes from      */
} daemon_budget_t;

static const char *const daemon_stop_why[STOP_KINDS] = {
    "SIGTERM received",
    "SIGTERM received: being replaced (a limit was reached)",
    "SIGTERM received: being replaced (rolling or Apache restart)",
    "SIGINT received: Apache is stopping (or restarting hard)",
    "SIGTERM received: the group had no request for idle-timeout",
};

static int64_t daemon_atexit_ms(const pyw_daemon_spec_t *spec)
{
    return spec->shutdown_timeout_ms > 0 ? spec->shutdown_timeout_ms
                                         : DAEMON_ATEXIT_MS;
}

/*
 * The parent's side of this is pyw_group_stop_budget(): a daemon being
 * replaced has graceful-timeout (eviction-timeout for restarts asked
 * from outside) for its requests, then shutdown-timeout for atexit; when
 * Apache stops, or graceful-timeout is 0, requests and atexit share
 * shutdown-timeout.  SIGKILL comes a margin after either.
 */
static void daemon_budget(const pyw_daemon_spec_t *spec, int kind,
                          int64_t now, daemon_budget_t *b)
{
    int64_t grace = spec->graceful_timeout_ms;

    b->kind = kind;
    b->timeout = "graceful-timeout";
    if (kind == STOP_EVICT && spec->eviction_timeout_ms > 0) {
        grace = spec->eviction_timeout_ms;
        b->timeout = "eviction-timeout";
    }
    if (kind == STOP_APACHE || grace <= 0) {
        b->timeout = "shutdown-timeout";
        b->wait_ms = spec->shutdown_timeout_ms;
        b->exit_by = now + daemon_atexit_ms(spec);
    }
    else {
        b->wait_ms = grace;
        b->exit_by = now + grace + daemon_atexit_ms(spec);
    }
    b->requests_by = now + b->wait_ms;
}

static void daemon_log_budget(const pyw_daemon_spec_t *spec,
                              const daemon_budget_t *b, int first)
{
    const char *why = daemon_stop_why[b->kind];
    int n = pyw_workers_in_flight();

    if (!first) {
        pyw_dlog(PYW_LOG_INFO, PYW_LOG_SHUTDOWN_SIGNAL, NULL, "%s while "
                 "stopping: the %d requests in flight now have up to "
                 "%lld ms (%s)", why, n, (long long)b->wait_ms, b->timeout);
    }
    else if (b->exit_by > b->requests_by) {
        pyw_dlog(PYW_LOG_INFO, PYW_LOG_SHUTDOWN_SIGNAL, NULL, "%s: "
                 "stopping; the %d requests in flight have up to %lld ms "
                 "(%s), then Python's atexit up to %lld ms "
                 "(shutdown-timeout)", why, n, (long long)b->wait_ms,
                 b->timeout, (long long)daemon_atexit_ms(spec));
    }
    else {
        pyw_dlog(PYW_LOG_INFO, PYW_LOG_SHUTDOWN_SIGNAL, NULL, "%s: "
                 "stopping; the %d requests in flight and Python's atexit "
                 "share up to %lld ms (%s)", why, n,
                 (long long)b->wait_ms, b->timeout);
    }
}

/* When the watchdog ends the stop whatever runs (PYW0253): exit_by, but
 * never before the main thread had time to cut requests off itself. */
static int64_t daemon_backstop(const daemon_budget_t *b)
{
    int64_t cut = b->requests_by + DAEMON_CUT_MARGIN_MS;

    return b->exit_by > cut ? b->exit_by : cut;
}

/* Main thread: take the stop signals that came since the last call
 * (seen: counts per kind already taken).  The first sets the budget; a
 * later one only ever shortens it. */
static void daemon_stop_update(const pyw_daemon_spec_t *spec,
                               daemon_budget_t *b, sig_atomic_t *seen)
{
    daemon_budget_t nb;
    int kind;

    for (kind = 0; kind < STOP_KINDS; kind++) {
        if (sig_stop[kind] == seen[kind]) {
            continue;
        }
        seen[kind] = sig_stop[kind];
        daemon_budget(spec, kind, pyw_io_now_ms(), &nb);
        if (b->kind >= 0 && nb.requests_by >= b->requests_by) {
            continue;           /* no sooner than what holds already */
        }
        if (b->kind >= 0 && nb.exit_by > b->exit_by) {
            nb.exit_by = b->exit_by;
        }
        daemon_log_budget(spec, &nb, b->kind < 0);
        *b = nb;
        pyw_watchdog_stopping(daemon_backstop(b));
    }
}

/* Wait until no request is queued or running, or b->requests_by; in
 * short steps, so that a later signal can shorten the wait.  The number
 * still busy. */
static int daemon_drain(const pyw_daemon_spec_t *spec, daemon_budget_t *b,
                        sig_atomic_t *seen)
{
    int64_t now, step;

    for (;;) {
        daemon_stop_update(spec, b, seen);
        now = pyw_io_now_ms();
        if (now >= b->requests_by) {
            return pyw_workers_busy();
        }
        step = now + DAEMON_STOP_STEP_MS;
        if (pyw_workers_wait_idle(step < b->requests_by ? step
                                                        : b->requests_by)
            == 0) {
            return 0;
        }
    }
}

/* Requests still busy when their time is up: say which, at warn when
 * Apache stops (its operator asked for it), as an error when a daemon
 * being replaced cuts them off. */
static void daemon_cut_off(const daemon_budget_t *b, int busy)
{
    if (b->kind == STOP_APACHE) {
        pyw_dlog(PYW_LOG_WARNING, PYW_LOG_STOP_CUT, NULL, "Apache is "
                 "stopping: %d requests (%d running) still busy after %s "
                 "(%lld ms) are cut off; exiting without atexit", busy,
                 pyw_workers_in_flight(), b->timeout,
                 (long long)b->wait_ms);
    }
    else {
        pyw_dlog(PYW_LOG_ERR, PYW_LOG_SHUTDOWN_TIMEOUT, NULL, "%d requests "
                 "(%d running) still busy after %s (%lld ms); exiting "
                 "without atexit", busy, pyw_workers_in_flight(),
                 b->timeout, (long long)b->wait_ms);
    }
    pyw_workers_log_running(PYW_LOG_WARNING, PYW_LOG_STILL_RUNNING);
}

/*
 * Graceful stop: no new connections, GOODBYE on idle and queued ones (so
 * Apache sends those requests to another daemon), requests already
 * running served for as long as the kind of stop allows (daemon_budget),
 * then Python's atexit, bounded by the watchdog.  Py_Finalize is
 * deliberately not called: threads may still sit in extension code, and
 * application threads must not hold up the exit.  If requests outlive
 * their time, say which and leave without atexit, since a thread stuck in
 * Python could keep app->stop() from ever getting the GIL.
 */
static void daemon_stop(const pyw_daemon_spec_t *spec, const pyw_app_t *app)
    __attribute__((noreturn));

static void daemon_stop(const pyw_daemon_spec_t *spec, const pyw_app_t *app)
{
    sig_atomic_t seen[STOP_KINDS] = { 0 };
    daemon_budget_t b = { .kind = -1 };
    int64_t atexit_by;
    int busy;

    pyw_status_stop();          /* being replaced already: ask nothing */
    daemon_stop_update(spec, &b, seen);
    if (b.kind < 0) {           /* sig_term seen before its count */
        daemon_budget(spec, STOP_TERM, pyw_io_now_ms(), &b);
        daemon_log_budget(spec, &b, 1);
        pyw_watchdog_stopping(daemon_backstop(&b));
    }
    pyw_poller_stop();
    if ((busy = daemon_drain(spec, &b, seen)) > 0) {
        daemon_cut_off(&b, busy);
        _exit(PYW_DAEMON_EXIT_OK);
    }
    atexit_by = pyw_io_deadline(daemon_atexit_ms(spec));
    if (atexit_by > daemon_backstop(&b)) {
        atexit_by = daemon_backstop(&b);
    }
    pyw_watchdog_stopping(atexit_by);
    app->stop();
    pyw_dlog(PYW_LOG_NOTICE, PYW_LOG_DAEMON_STOPPING, NULL,
             "daemon stopping");
    _exit(PYW_DAEMON_EXIT_OK);
}

/* Every persistent Apache connection is a descriptor: a soft limit of
 * 1024 (the usual default) would cap them, so take the hard limit. */
static void daemon_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

void pyw_daemon_main(const pyw_daemon_spec_t *spec, const pyw_app_t *app)
{
    pid_t ppid = getppid();
    int status_fd = -1;

    /* Signals before the back-off, so a stop request during it works. */
    daemon_reset_signals();
    daemon_delay(spec->startup_delay_ms);
    if (daemon_setup_fds(spec, &status_fd) < 0) {
        _exit(PYW_DAEMON_EXIT_STARTUP_FAILED);
    }
    /* Logging works from here on (fd 2 is the error log). */
    pyw_dlog_init(spec->group, 2, spec->log_level);
    /* Where fork + exec ends and Python's start begins (start-up times). */
    pyw_dlog(PYW_LOG_DEBUG, PYW_LOG_EXEC, NULL, "daemon program running "
             "(process %d of %d); starting Python", spec->process_index + 1,
             spec->processes);
    pyw_status_init(status_fd);
    daemon_set_title(spec);
    daemon_environment(spec);
    daemon_chdir(spec);
    daemon_raise_nofile();
    pyw_resources_apply(spec);
    daemon_drop_privileges(spec);
    daemon_watch_parent(ppid);
    daemon_start(spec, app);
    daemon_wait_for_stop();
    daemon_stop(spec, app);
}

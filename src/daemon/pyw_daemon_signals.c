/*
 * pyw_daemon_signals.c - the daemon's signals: the handlers only bump
 * sig_atomic_t counters and write a byte to a self-pipe; the main thread
 * sleeps in poll() on that pipe and acts.
 *
 * SIGTERM/SIGINT from Apache (its parent, the keeper) or the daemon
 * itself: graceful stop, with the budget the kind of stop gives (see
 * pyw_spec.h: being replaced, or Apache stopping; the stop itself is
 * pyw_daemon_stop.c).  SIGTERM or SIGUSR1 from anyone else (an operator,
 * a deploy script written for mod_wsgi): ask the parent for a successor,
 * then stop as a replaced daemon.  SIGUSR2: ask the parent to restart the
 * whole group one process at a time.  SIGRTMIN+6
 * (PYW_DAEMON_STACK_SIGNAL): every thread's Python stack to the log.
 * SIGHUP (prefork's hard restart signals its process group, which the
 * daemons are in): ignored, as a SIGUSR1 from Apache would be.
 * Signals stay unblocked in every thread (a blocked mask would be
 * inherited by processes the application spawns), so the handler may run
 * on any thread; SA_RESTART and pyw_io's EINTR loops make that harmless.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pyw_app.h"
#include "pyw_daemon_int.h"
#include "pyw_dfds.h"
#include "pyw_dlog.h"
#include "pyw_dlogno.h"
#include "pyw_status.h"
#include "pyw_watchdog.h"

static volatile sig_atomic_t sig_stop[STOP_KINDS]; /* count per kind    */
static volatile sig_atomic_t sig_term;      /* any stop signal came     */
static volatile sig_atomic_t sig_other;     /* SIGHUP / SIGUSR1 count   */
static volatile sig_atomic_t sig_other_no;
/* SIGTERM [ASK_TERM] and SIGUSR1 [ASK_USR1] sent by hand: counts, and
 * the last sender of each. */
enum { ASK_TERM, ASK_USR1, ASK_KINDS };
static volatile sig_atomic_t sig_asked[ASK_KINDS];
static volatile sig_atomic_t sig_asker[ASK_KINDS];
static volatile sig_atomic_t sig_asker_signo[ASK_KINDS];
static volatile sig_atomic_t sig_rolling;   /* SIGUSR2 count            */
static volatile sig_atomic_t sig_stacks;    /* SIGRTMIN+6 count         */
static int wake_r = -1, wake_w = -1;        /* self-pipe                */
static pid_t apache_pid, keeper_pid;        /* senders that are Apache  */

/* The signals the daemon catches (daemon_on_signal); the last one,
 * PYW_DAEMON_STACK_SIGNAL, is no constant: pyw_daemon_reset_signals sets
 * it. */
static int daemon_signals[] = { PYW_SIG_RETIRE, PYW_SIG_APACHE_STOP,
                                SIGHUP, SIGUSR1, SIGUSR2, 0 };
#define DAEMON_NSIGNALS (sizeof(daemon_signals) / sizeof(daemon_signals[0]))

/* Async-signal-safe: 1 if neither the daemon's own code
 * (pyw_daemon_stop_self), its keeper nor Apache's parent sent the
 * signal: a person, a script, or the application (os.kill of its own
 * pid).  Signals of the kernel's own (si_code > 0, such as a terminal's)
 * are nobody's; si_pid 0 is a sender outside our PID namespace. */
static int daemon_by_hand(const siginfo_t *si)
{
    pid_t from;

    if (si == NULL || si->si_code > 0) {
        return 0;
    }
    from = si->si_pid;
    if (from == getpid()) {
        return !(si->si_code == SI_QUEUE
                 && si->si_value.sival_int == PYW_RETIRE_SELF);
    }
    return from != apache_pid && from != keeper_pid;
}

void pyw_daemon_stop_self(void)
{
    union sigval v;

    v.sival_int = PYW_RETIRE_SELF;
    sigqueue(getpid(), PYW_SIG_RETIRE, v);
}

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
    case PYW_RETIRE_STALE:
        return STOP_STALE;
    case PYW_RETIRE_UNCONFIGURED:
        return STOP_UNCONFIGURED;
    case PYW_RETIRE_SIGNAL:
        return STOP_SIGNAL;
    case PYW_RETIRE_SELF:
        return STOP_TERM;
    default:
        return STOP_RECYCLE;
    }
}

static void daemon_on_signal(int sig, siginfo_t *si, void *uc)
{
    int saved_errno = errno;
    char b = 0;

    (void)uc;
    if ((sig == PYW_SIG_RETIRE || sig == SIGUSR1
         || sig == PYW_SIG_APACHE_STOP) && daemon_by_hand(si)) {
        int ask = sig == SIGUSR1 ? ASK_USR1 : ASK_TERM;

        sig_asker[ask] = (sig_atomic_t)si->si_pid;
        sig_asker_signo[ask] = sig;
        sig_asked[ask]++;
    }
    else if (sig == PYW_SIG_RETIRE || sig == PYW_SIG_APACHE_STOP) {
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
 * so SIGTERM ends it and it may install handlers of its own, and none of
 * the daemon's connections to Apache (pyw_dfds.h). */
static void daemon_atfork_child(void)
{
    struct sigaction sa;
    size_t i;

    pyw_dfds_close_all();
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_DFL;
    sigemptyset(&sa.sa_mask);
    for (i = 0; i < DAEMON_NSIGNALS; i++) {
        sigaction(daemon_signals[i], &sa, NULL);
    }
}

/* exec keeps the signal mask and ignored signals of Apache's parent. */
void pyw_daemon_reset_signals(const pyw_daemon_spec_t *spec)
{
    struct sigaction sa;
    sigset_t none;
    size_t i;
    int sig;

    /* Before the handlers: they read these. */
    apache_pid = spec->apache_pid > 0 ? (pid_t)spec->apache_pid : -1;
    keeper_pid = spec->keeper_pid > 0 ? (pid_t)spec->keeper_pid : -1;
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

void pyw_daemon_unblock_signals(void)
{
    sigset_t none;

    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, NULL);
}

/* Restart back-off; a stop request ends it early. */
void pyw_daemon_delay(int ms)
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

int pyw_daemon_self_pipe(void)
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

/*
 * A SIGTERM, SIGINT or SIGUSR1 sent by hand or by the application
 * (daemon_by_hand): replace this
 * daemon as a recycling limit does, its successor started and ready
 * before it drains (the parent then stops it with PYW_RETIRE_SIGNAL).
 * mod_wsgi restarts a daemon on SIGUSR1 so; stopping at once on SIGTERM
 * left the slot without a daemon for a whole start.  A second SIGTERM,
 * or one with no status pipe to ask through, stops the daemon now (the
 * parent restarts the slot): kill still ends a daemon whose successor
 * cannot start.
 */
static void daemon_replace_asked(int ask, pid_t from)
{
    static int asked;
    const char *name = ask == ASK_USR1 ? "SIGUSR1"
                       : sig_asker_signo[ask] == SIGINT ? "SIGINT"
                       : "SIGTERM";

    if (!pyw_status_available() || (asked && ask == ASK_TERM)) {
        pyw_dlog(PYW_LOG_INFO, PYW_LOG_SIGNAL_REPLACE, NULL,
                 "%s from pid %ld%s: stopping gracefully now", name,
                 (long)from, asked ? ", again"
                 : ", and no status pipe to ask the parent for a successor");
        sig_term = 1;
        return;
    }
    if (asked) {
        pyw_dlog(PYW_LOG_INFO, PYW_LOG_SIGNAL_REPLACE, NULL,
                 "%s from pid %ld: a successor is asked for already",
                 name, (long)from);
        return;
    }
    asked = 1;
    pyw_dlog(PYW_LOG_INFO, PYW_LOG_SIGNAL_REPLACE, NULL,
             "%s from pid %ld: asking the parent for a successor; this "
             "daemon serves until it is ready, then stops gracefully",
             name, (long)from);
    if (pyw_status_send(PYW_STATUS_SIGNAL) < 0) {
        sig_term = 1;           /* the parent cannot hear it: stop */
    }
}

#define DAEMON_SIGNAL_POLL_MS 200   /* without a usable signal pipe */

/* Read what the handlers wrote; -1 when the pipe is broken (an end
 * closed: EOF, POLLHUP or POLLNVAL). */
static int daemon_drain_self_pipe(short revents, char *buf, size_t len)
{
    ssize_t n;

    if (revents & (POLLNVAL | POLLERR)) {
        return -1;
    }
    while ((n = read(wake_r, buf, len)) > 0) {
        /* drain; the counters say what happened */
    }
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)
           ? -1 : 0;
}

/* Sleep until a signal arrives; act on the others, return on a stop. */
void pyw_daemon_wait_for_stop(void)
{
    struct pollfd pfd = { .fd = wake_r, .events = POLLIN };
    sig_atomic_t others_seen = 0, rolling_seen = 0, stacks_seen = 0;
    sig_atomic_t asked_seen[ASK_KINDS] = { 0 };
    char buf[64];
    int ask;

    for (;;) {
        /* One call per signal: two quick SIGTERMs are a second one. */
        for (ask = 0; ask < ASK_KINDS; ask++) {
            while (sig_asked[ask] != asked_seen[ask] && !sig_term) {
                asked_seen[ask]++;
                daemon_replace_asked(ask, (pid_t)sig_asker[ask]);
            }
        }
        if (sig_rolling != rolling_seen) {
            rolling_seen = sig_rolling;
            daemon_rolling_restart();
        }
        if (sig_stacks != stacks_seen) {
            stacks_seen = sig_stacks;
            /* Asked for: shown at the default LogLevel. */
            pyw_watchdog_dump_stacks("SIGRTMIN+6", PYW_LOG_WARNING);
        }
        if (sig_other != others_seen) {
            /* prefork signals its whole process group on a hard
             * restart; the parent restarts us itself when it wants to. */
            others_seen = sig_other;
            pyw_dlog(PYW_LOG_INFO, PYW_LOG_SIGNAL_IGNORED, NULL,
                     "ignoring %s (the parent manages restarts)",
                     sig_other_no == SIGHUP ? "SIGHUP" : "SIGUSR1");
        }
        if (sig_term) {
            return;
        }
        if (poll(&pfd, 1, pfd.fd >= 0 ? -1 : DAEMON_SIGNAL_POLL_MS) > 0
            && daemon_drain_self_pipe(pfd.revents, buf, sizeof(buf)) < 0) {
            /* The application closed an end of it: poll() would return
             * at once for ever.  The handlers' counters still tell. */
            pyw_dlog(PYW_LOG_WARNING, PYW_LOG_SIGNAL_PIPE, NULL,
                     "the signal pipe was closed (by the application?); "
                     "looking for signals every %d ms instead",
                     DAEMON_SIGNAL_POLL_MS);
            pfd.fd = -1;
        }
    }
}

int pyw_daemon_stop_asked(void)
{
    return sig_term != 0;
}

sig_atomic_t pyw_daemon_stop_count(int kind)
{
    return sig_stop[kind];
}

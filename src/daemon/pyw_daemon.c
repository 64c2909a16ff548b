/*
 * pyw_daemon.c - main thread of a daemon process: turn the freshly exec'd
 * daemon program (started as root) into an unprivileged one
 * (pyw_daemon_setup.c), start the application (Python, through
 * pyw_app_t), the workers and the poller, then wait for signals
 * (pyw_daemon_signals.c) and stop in order (pyw_daemon_stop.c).
 */
#include <fcntl.h>
#include <unistd.h>

#include "pyw_app.h"
#include "pyw_daemon.h"
#include "pyw_daemon_int.h"
#include "pyw_dlog.h"
#include "pyw_dconn.h"
#include "pyw_dlogno.h"
#include "pyw_poller.h"
#include "pyw_status.h"
#include "pyw_watchdog.h"
#include "pyw_workers.h"

/*
 * A preload failed, and no daemon served in this one's place (the
 * group's first start, a restart after a crash): it serves, its requests
 * load the application again, and a fresh process replaces it as soon as
 * one can load it.  That one replaces a serving daemon, so it fails its
 * start until then, retried with back-off; some applications (Zope)
 * cannot be loaded twice in one process, so a retry here would not do.
 */
static void daemon_ask_replacement(void)
{
    int sent = pyw_status_send(PYW_STATUS_RECYCLE);

    pyw_dlog(PYW_LOG_WARNING, PYW_LOG_PRELOAD_REPLACE, NULL,
             "started although a preload failed (its PYW0311 or PYW0313 "
             "line is above): its requests load it again%s",
             sent == 1 ? "; asked the parent for a replacement, which "
                         "takes over once it loads the application" : "");
}

/* The application first (Python may take a while importing scripts),
 * then the watchdog and the threads that serve requests; then READY
 * tells the parent it may retire the daemon this one replaces.  Any
 * failure is a start-up failure. */
static void daemon_start(const pyw_daemon_spec_t *spec, const pyw_app_t *app)
{
    int started;

    if (pyw_daemon_self_pipe() < 0) {
        _exit(PYW_DAEMON_EXIT_STARTUP_FAILED);
    }
    if ((started = app->start(spec)) < 0) {
        pyw_dlog(PYW_LOG_CRIT, PYW_LOG_PYTHON_START, NULL,
                 "Python, a PyWorkerImportScript or, in a daemon that "
                 "replaces a serving one, a preload did not start (the "
                 "line before says which); exiting");
        _exit(PYW_DAEMON_EXIT_STARTUP_FAILED);
    }
    pyw_daemon_unblock_signals();       /* before any thread starts */
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
    if (started > 0) {
        daemon_ask_replacement();
    }
}

/* Lines go where the group's server logs: fd 2 (its ErrorLog) or syslog,
 * in its ErrorLogFormat. */
/* The daemon logs through a copy of fd 2 of its own, out of the
 * application's way: code that closes fds 1 and 2 (daemonizing
 * libraries do) made the next connection to Apache fd 2, and log lines
 * went into it. */
#define DAEMON_LOG_FD_MIN 100

static void daemon_log_init(const pyw_daemon_spec_t *spec)
{
    int fd = fcntl(2, F_DUPFD_CLOEXEC, DAEMON_LOG_FD_MIN);

    pyw_dlog_init(spec->group, fd >= 0 ? fd : 2, spec->log_level,
                  spec->log_format, spec->log_server);
    if (spec->log_syslog) {
        pyw_dlog_syslog(spec->syslog_facility, spec->syslog_tag);
    }
}

void pyw_daemon_main(const pyw_daemon_spec_t *spec, const pyw_app_t *app)
{
    /* Its keeper may have died (with Apache) before this exec. */
    pid_t ppid = spec->keeper_pid > 0 ? (pid_t)spec->keeper_pid : getppid();
    int status_fd = -1;

    /* Signals before the back-off, so a stop request during it works. */
    pyw_daemon_reset_signals(spec);
    pyw_daemon_delay(spec->startup_delay_ms);
    if (pyw_daemon_setup_fds(spec, &status_fd) < 0) {
        _exit(PYW_DAEMON_EXIT_STARTUP_FAILED);
    }
    /* Logging works from here on (fd 2 is the error log). */
    daemon_log_init(spec);
    /* Where fork + exec ends and Python's start begins (start-up times). */
    pyw_dlog(PYW_LOG_DEBUG, PYW_LOG_EXEC, NULL, "daemon program running "
             "(process %d of %d); starting Python", spec->process_index + 1,
             spec->processes);
    pyw_status_init(status_fd);
    pyw_daemon_prepare(spec, ppid);
    daemon_start(spec, app);
    pyw_daemon_wait_for_stop();
    pyw_daemon_stop(spec, app);
}

/* The same daemon after the exec into the group's Python executable
 * (pyw_hosted.c): the steps before Python are done (descriptors, user,
 * directory, limits survive the exec); what the exec reset is set again:
 * signal handlers, logging, the status pipe, comm. */
/* The exec into Python needed the socket and the status pipe
 * inheritable; no exec after it may take them along (a program the
 * application execs would hold the group's socket and keep the pipe
 * open, so the parent would not see the daemon go). */
static void daemon_cloexec_again(const pyw_daemon_spec_t *spec)
{
    fcntl(DAEMON_LISTEN_FD, F_SETFD, FD_CLOEXEC);
    if (spec->status_fd >= 0) {
        fcntl(spec->status_fd, F_SETFD, FD_CLOEXEC);
    }
}

void pyw_daemon_main_hosted(const pyw_daemon_spec_t *spec,
                            const pyw_app_t *app)
{
    daemon_cloexec_again(spec);
    pyw_daemon_reset_signals(spec);
    daemon_log_init(spec);
    pyw_status_init(spec->status_fd);
    pyw_daemon_set_comm(spec);
    daemon_start(spec, app);
    pyw_daemon_wait_for_stop();
    pyw_daemon_stop(spec, app);
}

/*
 * pyw_daemon_stop.c - the graceful stop of a daemon, run by the main
 * thread once a stop signal came (pyw_daemon_signals.c): the time budget
 * each kind of stop gives the requests in flight and Python's atexit, the
 * drain, and what is said about requests cut off.
 */
#include <signal.h>
#include <stdint.h>
#include <unistd.h>

#include "../common/pyw_io.h"
#include "pyw_app.h"
#include "pyw_daemon_int.h"
#include "pyw_dlog.h"
#include "pyw_dlogno.h"
#include "pyw_poller.h"
#include "pyw_status.h"
#include "pyw_watchdog.h"
#include "pyw_workers.h"

/* atexit callbacks get this long when shutdown-timeout is not set. */
#define DAEMON_ATEXIT_MS   5000
/* While requests finish, a later stop signal is looked at this often. */
#define DAEMON_STOP_STEP_MS 100
/* The watchdog's backstop (PYW0253) waits this long past the requests'
 * deadline, so that the main thread is first to say which requests it
 * cuts off; the parent's SIGKILL comes later still (2 s). */
#define DAEMON_CUT_MARGIN_MS 1000

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
    "SIGTERM received: Apache restarted while this daemon was still "
    "starting",
    "SIGTERM received: Apache restarted without this daemon's group or "
    "process slot",
    "SIGTERM received: being replaced (a SIGTERM or SIGUSR1 sent to it "
    "asked for that)",
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
    if ((kind == STOP_EVICT || kind == STOP_SIGNAL)
        && spec->eviction_timeout_ms > 0) {
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
        if (pyw_daemon_stop_count(kind) == seen[kind]) {
            continue;
        }
        seen[kind] = pyw_daemon_stop_count(kind);
        if (kind == STOP_APACHE) {
            pyw_poller_apache_stopping();   /* whatever the budget */
        }
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
void pyw_daemon_stop(const pyw_daemon_spec_t *spec, const pyw_app_t *app)
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

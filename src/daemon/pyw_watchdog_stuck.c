/*
 * pyw_watchdog_stuck.c - stuck requests and a stuck GIL: request-timeout
 * and deadlock-timeout, checked from the watchdog thread, and the
 * heartbeat thread whose GIL round trips tell a stuck GIL from a busy one.
 */
#include <time.h>

#include "../common/pyw_io.h"
#include "pyw_dlog.h"
#include "pyw_dlogno.h"
#include "pyw_poller.h"
#include "pyw_watchdog_int.h"
#include "pyw_workers.h"

#define WD_HEARTBEAT_MS   250
/* A tick this late means the whole process was stopped (SIGSTOP, a
 * debugger): the heartbeat gets a tick to catch up before it counts. */
#define WD_LATE_TICK_MS   1000
#define WD_URI_MAX        512

/* ---- stuck requests, stuck GIL ---- */

void pyw_watchdog_check_requests(int stopping)
{
    char uri[WD_URI_MAX];
    int64_t elapsed;
    int found = 0;

    if (pyw_wd.request_timeout <= 0) {
        return;
    }
    while (pyw_workers_overdue(pyw_wd.request_timeout, uri, sizeof(uri),
                               &elapsed)) {
        if (found++ == 0) {
            pyw_watchdog_dump_stacks("request-timeout", PYW_LOG_ERR);
        }
        pyw_dlog(PYW_LOG_ERR, PYW_LOG_REQUEST_TIMEOUT, uri,
                 "request running for %.1f s, longer than request-timeout "
                 "(%g s): Python stacks above; %s",
                 (double)elapsed / 1000.0,
                 (double)pyw_wd.request_timeout / 1000.0,
                 stopping ? "the daemon is stopping"
                          : "asking for a replacement, the request is left "
                            "to run until this daemon stops");
    }
    if (found && !stopping && !pyw_wd.recycling) {
        pyw_wd.recycling = 1;
        pyw_watchdog_replace_me();
    }
}

void pyw_watchdog_check_deadlock(int64_t now, int stopping)
{
    int64_t stale, late = now - pyw_wd.last_tick;

    pyw_wd.last_tick = now;
    if (pyw_wd.deadlock_timeout <= 0 || pyw_wd.deadlocked
        || late > WD_LATE_TICK_MS
        || !__atomic_load_n(&pyw_wd.heartbeat_ok, __ATOMIC_SEQ_CST)) {
        return;
    }
    stale = now - __atomic_load_n(&pyw_wd.heartbeat, __ATOMIC_SEQ_CST);
    if (stale <= pyw_wd.deadlock_timeout) {
        return;
    }
    pyw_wd.deadlocked = 1;
    pyw_watchdog_dump_stacks("deadlock-timeout", PYW_LOG_ERR);
    pyw_dlog(PYW_LOG_ERR, PYW_LOG_DEADLOCK, NULL,
             "the Python GIL has not been free for %.1f s, longer than "
             "deadlock-timeout (%g s): Python stacks above; no new requests "
             "are taken here%s", (double)stale / 1000.0,
             (double)pyw_wd.deadlock_timeout / 1000.0,
             stopping ? "" : ", asking for a replacement");
    pyw_poller_drain_all();     /* requests go to the rest of the group */
    if (!stopping && !pyw_wd.recycling) {
        pyw_wd.recycling = 1;
        pyw_watchdog_replace_me();
    }
}

/* ---- the heartbeat thread (deadlock-timeout only) ---- */

void *pyw_watchdog_heartbeat_main(void *arg)
{
    struct timespec ts = { 0, WD_HEARTBEAT_MS * 1000000L };
    pyw_app_thread_t *t = pyw_wd.app->thread_new();     /* logs failure */

    (void)arg;
    if (t == NULL) {
        return NULL;            /* heartbeat_ok stays 0: no check */
    }
    __atomic_store_n(&pyw_wd.heartbeat, pyw_io_now_ms(), __ATOMIC_SEQ_CST);
    __atomic_store_n(&pyw_wd.heartbeat_ok, 1, __ATOMIC_SEQ_CST);
    for (;;) {
        pyw_wd.app->ping(t);
        __atomic_store_n(&pyw_wd.heartbeat, pyw_io_now_ms(), __ATOMIC_SEQ_CST);
        nanosleep(&ts, NULL);
    }
    return NULL;
}

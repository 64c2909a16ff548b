/*
 * pyw_watchdog.c - the watchdog thread: its state, its tick, start and
 * stop, and what the checks share (asking for a replacement, stack
 * dumps); see pyw_watchdog.h.  The checks it runs each tick live in
 * pyw_watchdog_limits.c (recycling limits), pyw_watchdog_idle.c (heap
 * trim, idle-timeout) and pyw_watchdog_stuck.c (request-timeout,
 * deadlock-timeout and its heartbeat thread).
 *
 * Threads:
 *   watchdog  - ticks every WD_TICK_MS; never holds the GIL, so it sees a
 *               GIL that is stuck, and dumps stacks through faulthandler.
 *   heartbeat - only with deadlock-timeout: takes the GIL and gives it
 *               back every WD_HEARTBEAT_MS, then stamps pyw_wd.heartbeat.
 * Locking: pyw_wd.lock guards `stopping` and `exit_at` (set by the main
 * thread); pyw_wd.heartbeat is atomic; everything else is written before
 * the threads start or belongs to the watchdog thread alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/pyw_io.h"
#include "pyw_daemon.h"
#include "pyw_dlog.h"
#include "pyw_dlogno.h"
#include "pyw_status.h"
#include "pyw_watchdog_int.h"
#include "pyw_workers.h"

#define WD_TICK_MS        200

pyw_watchdog_state_t pyw_wd = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .statm_fd = -1,
};

/* ---- what the checks share: a replacement, stack dumps ---- */

void pyw_watchdog_replace_me(void)
{
    pyw_watchdog_replace_me_for(PYW_STATUS_RECYCLE);
}

/* what: PYW_STATUS_RECYCLE, or PYW_STATUS_QUIET for inactivity-timeout. */
void pyw_watchdog_replace_me_for(char what)
{
    if (pyw_status_available()) {
        pyw_status_send(what);
        return;
    }
    /* A parent without a status pipe cannot start a replacement first:
     * stop gracefully and let it restart us. */
    pyw_dlog(PYW_LOG_NOTICE, PYW_LOG_DRAIN, NULL, "no status pipe to the "
             "parent: stopping gracefully instead (the parent restarts the "
             "daemon)");
    pyw_daemon_stop_self();
}

void pyw_watchdog_dump_stacks(const char *why, int level)
{
    pyw_dlog(level, PYW_LOG_STACKS, NULL,
             "Python stacks of every thread follow (%s)", why);
    if (pyw_wd.app->dump_stacks(level) < 0) {
        pyw_dlog(PYW_LOG_WARNING, PYW_LOG_NO_STACKS, NULL,
                 "cannot dump Python stacks: faulthandler is not set up, "
                 "or a dump is running already");
        return;
    }
    pyw_dlog(level, PYW_LOG_STACKS, NULL, "end of Python stacks");
}

/* ---- the watchdog thread ---- */

/* Sleep one tick (less if the exit deadline comes first); returns the
 * stopping flag and the deadline as they are now. */
static int wd_sleep(int64_t *exit_at)
{
    int64_t left = WD_TICK_MS;
    struct timespec ts;
    int stopping;

    pthread_mutex_lock(&pyw_wd.lock);
    if (pyw_wd.exit_at && pyw_wd.exit_at - pyw_io_now_ms() < left) {
        left = pyw_wd.exit_at - pyw_io_now_ms();
    }
    if (left > 0 && !pyw_wd.poked) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)(left / 1000);
        ts.tv_nsec += (long)(left % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&pyw_wd.wake, &pyw_wd.lock, &ts);
    }
    pyw_wd.poked = 0;
    stopping = pyw_wd.stopping;
    *exit_at = pyw_wd.exit_at;
    pthread_mutex_unlock(&pyw_wd.lock);
    return stopping;
}

static void *wd_main(void *arg)
{
    int64_t exit_at, now;
    int stopping;

    (void)arg;
    for (;;) {
        stopping = wd_sleep(&exit_at);
        now = pyw_io_now_ms();
        if (exit_at && now >= exit_at) {
            pyw_dlog(PYW_LOG_ERR, PYW_LOG_EXIT_DEADLINE, NULL,
                     "still stopping after the shutdown timeout (atexit "
                     "callbacks or a thread holding the GIL); exiting now");
            _exit(PYW_DAEMON_EXIT_OK);
        }
        pyw_watchdog_check_requests(stopping);
        pyw_watchdog_check_deadlock(now, stopping);
        pyw_workers_expire_queued();
        pyw_watchdog_trim_when_idle(now);
        if (!stopping && !pyw_wd.recycling) {
            pyw_watchdog_check_limits(now);
        }
        if (!stopping) {
            pyw_watchdog_check_idle(now);
        }
    }
    return NULL;
}

static int wd_init_cond(void)
{
    pthread_condattr_t attr;
    int rv;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    rv = pthread_cond_init(&pyw_wd.wake, &attr);
    pthread_condattr_destroy(&attr);
    return rv;
}

static void wd_copy_limits(const pyw_daemon_spec_t *spec)
{
    pyw_wd.max_requests = spec->maximum_requests;
    pyw_wd.restart_interval = spec->restart_interval_ms;
    pyw_wd.inactivity = spec->inactivity_timeout_ms;
    pyw_wd.request_timeout = spec->request_timeout_ms;
    pyw_wd.deadlock_timeout = spec->deadlock_timeout_ms;
    pyw_wd.memory_limit = spec->memory_limit;
    pyw_wd.cpu_limit = spec->cpu_time_limit_ms;
    pyw_wd.idle_timeout = spec->idle_timeout_ms;
    pyw_wd.started = pyw_wd.last_tick = pyw_io_now_ms();
    pyw_wd.quiet_since = spec->quiet_since_ms > 0
                         && spec->quiet_since_ms < pyw_wd.started
                         ? spec->quiet_since_ms : pyw_wd.started;
    if (pyw_wd.memory_limit > 0) {
        pyw_wd.statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
        pyw_wd.statm_errno = errno;
    }
}

int pyw_watchdog_start(const pyw_daemon_spec_t *spec, const pyw_app_t *app)
{
    pthread_t tid;
    int rv;

    pyw_wd.app = app;
    wd_copy_limits(spec);
    if ((rv = wd_init_cond()) == 0
        && (rv = pthread_create(&tid, NULL, wd_main, NULL)) == 0) {
        pthread_detach(tid);
        if (spec->deadlock_timeout_ms > 0
            && (rv = pthread_create(&tid, NULL, pyw_watchdog_heartbeat_main,
                                    NULL)) == 0) {
            pthread_detach(tid);
        }
    }
    if (rv != 0) {
        pyw_dlog(PYW_LOG_CRIT, PYW_LOG_THREADS_START, NULL,
                 "cannot start the watchdog: %s", strerror(rv));
        return -1;
    }
    if (pyw_wd.memory_limit > 0 && pyw_wd.statm_fd < 0) {
        pyw_dlog(PYW_LOG_WARNING, PYW_LOG_MEMORY_LIMIT, NULL,
                 "cannot open /proc/self/statm: %s; memory-limit is not "
                 "enforced", strerror(pyw_wd.statm_errno));
    }
    return 0;
}

void pyw_watchdog_poke(void)
{
    pthread_mutex_lock(&pyw_wd.lock);
    pyw_wd.poked = 1;
    pthread_cond_signal(&pyw_wd.wake);
    pthread_mutex_unlock(&pyw_wd.lock);
}

void pyw_watchdog_stopping(int64_t exit_deadline_ms)
{
    pthread_mutex_lock(&pyw_wd.lock);
    pyw_wd.stopping = 1;
    pyw_wd.exit_at = exit_deadline_ms;
    pthread_cond_signal(&pyw_wd.wake);
    pthread_mutex_unlock(&pyw_wd.lock);
}

/*
 * pyw_watchdog.c - limits, stuck requests and a stuck GIL, watched from
 * a thread that never takes the GIL (see pyw_watchdog.h).
 *
 * Threads:
 *   watchdog  - ticks every WD_TICK_MS; never holds the GIL, so it sees a
 *               GIL that is stuck, and dumps stacks through faulthandler.
 *   heartbeat - only with deadlock-timeout: takes the GIL and gives it
 *               back every WD_HEARTBEAT_MS, then stamps wd.heartbeat.
 * Locking: wd.lock guards `stopping` and `exit_at` (set by the main
 * thread); wd.heartbeat is atomic; everything else is written before the
 * threads start or belongs to the watchdog thread alone.
 */
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/pyw_io.h"
#include "pyw_app.h"
#include "pyw_dlog.h"
#include "pyw_dlogno.h"
#include "pyw_poller.h"
#include "pyw_status.h"
#include "pyw_watchdog.h"
#include "pyw_workers.h"

#define WD_TICK_MS        200
#define WD_TRIM_IDLE_MS   1000
#define WD_HEARTBEAT_MS   250
/* A tick this late means the whole process was stopped (SIGSTOP, a
 * debugger): the heartbeat gets a tick to catch up before it counts. */
#define WD_LATE_TICK_MS   1000
#define WD_CAUSE_MAX      256
#define WD_URI_MAX        512
#define WD_MB             (1024.0 * 1024.0)

static struct {
    pthread_mutex_t  lock;
    pthread_cond_t   wake;          /* CLOCK_MONOTONIC                    */
    int              stopping;      /* wd.lock                            */
    int              poked;         /* wd.lock: check before the tick     */
    int64_t          exit_at;       /* wd.lock; 0: no deadline            */
    int64_t          heartbeat;     /* atomic; last GIL round trip        */
    int              heartbeat_ok;  /* atomic; 0: no heartbeat thread     */

    /* Set before the threads start: the application (stack dumps,
     * heartbeat) and the limits, copied from the spec. */
    const pyw_app_t *app;
    int64_t          max_requests, restart_interval, inactivity;
    int64_t          request_timeout, deadlock_timeout, memory_limit;
    int64_t          cpu_limit, idle_timeout;

    /* Watchdog thread only. */
    int64_t          started;
    int              recycling;     /* a replacement was asked for        */
    int              deadlocked;    /* reported, and drained              */
    int64_t          last_tick;
    int64_t          trimmed_for;   /* the idle spell already trimmed */
    int64_t          idle_said;     /* the quiet spell IDLE was said for,
                                       0: none                            */
    int              statm_fd;
    int              statm_errno;
} wd = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .statm_fd = -1,
};

/* ---- asking for a replacement ---- */

static void wd_replace_me(void)
{
    if (pyw_status_available()) {
        pyw_status_send(PYW_STATUS_RECYCLE);
        return;
    }
    /* A parent without a status pipe cannot start a replacement first:
     * stop gracefully and let it restart us. */
    pyw_dlog(PYW_LOG_NOTICE, PYW_LOG_DRAIN, NULL, "no status pipe to the "
             "parent: stopping gracefully instead (the parent restarts the "
             "daemon)");
    kill(getpid(), SIGTERM);
}

static void wd_recycle(int level, int code, const char *cause)
{
    wd.recycling = 1;
    pyw_dlog(level, code, NULL, "%s; asking for a replacement", cause);
    wd_replace_me();
}

void pyw_watchdog_dump_stacks(const char *why)
{
    pyw_dlog(PYW_LOG_NOTICE, PYW_LOG_STACKS, NULL,
             "Python stacks of every thread follow (%s)", why);
    if (wd.app->dump_stacks() < 0) {
        pyw_dlog(PYW_LOG_WARNING, PYW_LOG_NO_STACKS, NULL,
                 "cannot dump Python stacks: faulthandler is not set up, "
                 "or a dump is running already");
        return;
    }
    pyw_dlog(PYW_LOG_NOTICE, PYW_LOG_STACKS, NULL, "end of Python stacks");
}

/* ---- limits: each returns 1 and fills cause when reached ---- */

static int wd_max_requests(int64_t now, char *cause, size_t len)
{
    int64_t n;

    if (wd.max_requests <= 0
        || (n = pyw_workers_completed()) < wd.max_requests) {
        return 0;
    }
    snprintf(cause, len, "maximum-requests reached: %lld requests served "
             "(limit %lld)", (long long)n, (long long)wd.max_requests);
    return 1;
}

static int wd_restart_interval(int64_t now, char *cause, size_t len)
{
    if (wd.restart_interval <= 0 || now - wd.started < wd.restart_interval) {
        return 0;
    }
    snprintf(cause, len, "restart-interval reached: running for %.1f s "
             "(limit %g s)", (double)(now - wd.started) / 1000.0,
             (double)wd.restart_interval / 1000.0);
    return 1;
}

static int wd_inactivity(int64_t now, char *cause, size_t len)
{
    int64_t since;

    if (wd.inactivity <= 0 || (since = pyw_workers_idle_since()) == 0
        || now - since < wd.inactivity) {
        return 0;
    }
    snprintf(cause, len, "inactivity-timeout reached: no request for %.1f s "
             "(limit %g s)", (double)(now - since) / 1000.0,
             (double)wd.inactivity / 1000.0);
    return 1;
}

/* Once per idle spell of WD_TRIM_IDLE_MS: give the C heap's free memory
 * back to the kernel.  glibc keeps what a burst of large bodies or many
 * connections freed in each worker thread's arena; left there it counts
 * against memory-limit and looks like a leak in top. */
static void wd_trim_when_idle(int64_t now)
{
    int64_t since = pyw_workers_idle_since();

    if (since == 0 || since == wd.trimmed_for || now - since < WD_TRIM_IDLE_MS) {
        return;
    }
    wd.trimmed_for = since;
    malloc_trim(0);
}

/* Resident set size in bytes from /proc/self/statm, or -1. */
static int64_t wd_resident(void)
{
    char buf[128];
    long long size, resident;
    ssize_t n;

    if (wd.statm_fd < 0
        || (n = pread(wd.statm_fd, buf, sizeof(buf) - 1, 0)) <= 0) {
        return -1;
    }
    buf[n] = '\0';
    if (sscanf(buf, "%lld %lld", &size, &resident) != 2) {
        return -1;
    }
    return (int64_t)resident * sysconf(_SC_PAGESIZE);
}

static int wd_memory(int64_t now, char *cause, size_t len)
{
    int64_t rss;

    if (wd.memory_limit <= 0 || (rss = wd_resident()) <= wd.memory_limit) {
        return 0;
    }
    snprintf(cause, len, "memory-limit reached: resident %.1f MB > limit "
             "%.1f MB", (double)rss / WD_MB, (double)wd.memory_limit / WD_MB);
    return 1;
}

static int wd_cpu(int64_t now, char *cause, size_t len)
{
    struct timespec ts;
    int64_t used;

    if (wd.cpu_limit <= 0
        || clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) < 0) {
        return 0;
    }
    used = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (used < wd.cpu_limit) {
        return 0;
    }
    snprintf(cause, len, "cpu-time-limit reached: %.1f s of CPU time used "
             "(limit %g s)", (double)used / 1000.0,
             (double)wd.cpu_limit / 1000.0);
    return 1;
}

static const struct {
    int (*reached)(int64_t now, char *cause, size_t len);
    int level;
    int code;
} wd_limits[] = {
    { wd_max_requests,     PYW_LOG_NOTICE,  PYW_LOG_MAX_REQUESTS },
    { wd_restart_interval, PYW_LOG_NOTICE,  PYW_LOG_RESTART_INTERVAL },
    { wd_inactivity,       PYW_LOG_NOTICE,  PYW_LOG_INACTIVITY },
    { wd_memory,           PYW_LOG_WARNING, PYW_LOG_MEMORY_LIMIT },
    { wd_cpu,              PYW_LOG_WARNING, PYW_LOG_CPU_LIMIT },
};

/* The first limit reached asks for the replacement; then none is looked
 * at again: the process is on its way out. */
static void wd_check_limits(int64_t now)
{
    char cause[WD_CAUSE_MAX];
    size_t i;

    for (i = 0; i < sizeof(wd_limits) / sizeof(wd_limits[0]); i++) {
        if (wd_limits[i].reached(now, cause, sizeof(cause))) {
            wd_recycle(wd_limits[i].level, wd_limits[i].code, cause);
            return;
        }
    }
}

/* ---- idle-timeout: the parent stops the group ---- */

/*
 * Not a limit: the daemon asks for no replacement.  It tells the parent
 * IDLE once it had no request for idle-timeout (counted from its start
 * if it never had one), and ACTIVE when a request comes after that; the
 * parent stops the whole group once all its processes are idle
 * (pyw_demand.c).  A request that slips in between is served anyway:
 * the stop is graceful.  Without a status pipe nothing happens.
 */
static void wd_check_idle(int64_t now)
{
    int64_t since;

    if (wd.idle_timeout <= 0 || wd.recycling) {
        return;
    }
    if (!pyw_workers_quiet(&since)) {
        since = 0;              /* busy now */
    }
    else if (since == 0) {
        since = wd.started;     /* no request yet */
    }
    if (wd.idle_said != 0 && since != wd.idle_said) {
        wd.idle_said = 0;
        if (pyw_status_idle(0) == 1) {
            pyw_dlog(PYW_LOG_DEBUG, PYW_LOG_IDLE, NULL, "a request came "
                     "after idle-timeout; told the parent");
        }
    }
    if (since == 0 || wd.idle_said != 0 || now - since < wd.idle_timeout) {
        return;
    }
    wd.idle_said = since;
    if (pyw_status_idle(1) == 1) {
        pyw_dlog(PYW_LOG_INFO, PYW_LOG_IDLE, NULL, "idle-timeout reached: "
                 "no request for %.1f s (limit %g s); told the parent, "
                 "which stops the group once all its processes are idle",
                 (double)(now - since) / 1000.0,
                 (double)wd.idle_timeout / 1000.0);
    }
}

/* ---- stuck requests, stuck GIL ---- */

static void wd_check_requests(int stopping)
{
    char uri[WD_URI_MAX];
    int64_t elapsed;
    int found = 0;

    if (wd.request_timeout <= 0) {
        return;
    }
    while (pyw_workers_overdue(wd.request_timeout, uri, sizeof(uri),
                               &elapsed)) {
        if (found++ == 0) {
            pyw_watchdog_dump_stacks("request-timeout");
        }
        pyw_dlog(PYW_LOG_ERR, PYW_LOG_REQUEST_TIMEOUT, uri,
                 "request running for %.1f s, longer than request-timeout "
                 "(%g s): Python stacks above; %s",
                 (double)elapsed / 1000.0,
                 (double)wd.request_timeout / 1000.0,
                 stopping ? "the daemon is stopping"
                          : "asking for a replacement, the request is left "
                            "to run until this daemon stops");
    }
    if (found && !stopping && !wd.recycling) {
        wd.recycling = 1;
        wd_replace_me();
    }
}

static void wd_check_deadlock(int64_t now, int stopping)
{
    int64_t stale, late = now - wd.last_tick;

    wd.last_tick = now;
    if (wd.deadlock_timeout <= 0 || wd.deadlocked || late > WD_LATE_TICK_MS
        || !__atomic_load_n(&wd.heartbeat_ok, __ATOMIC_SEQ_CST)) {
        return;
    }
    stale = now - __atomic_load_n(&wd.heartbeat, __ATOMIC_SEQ_CST);
    if (stale <= wd.deadlock_timeout) {
        return;
    }
    wd.deadlocked = 1;
    pyw_watchdog_dump_stacks("deadlock-timeout");
    pyw_dlog(PYW_LOG_ERR, PYW_LOG_DEADLOCK, NULL,
             "the Python GIL has not been free for %.1f s, longer than "
             "deadlock-timeout (%g s): Python stacks above; no new requests "
             "are taken here%s", (double)stale / 1000.0,
             (double)wd.deadlock_timeout / 1000.0,
             stopping ? "" : ", asking for a replacement");
    pyw_poller_drain();         /* requests go to the rest of the group */
    if (!stopping && !wd.recycling) {
        wd.recycling = 1;
        wd_replace_me();
    }
}

/* ---- threads ---- */

static void *wd_heartbeat_main(void *arg)
{
    struct timespec ts = { 0, WD_HEARTBEAT_MS * 1000000L };
    pyw_app_thread_t *t = wd.app->thread_new();     /* logs failure */

    (void)arg;
    if (t == NULL) {
        return NULL;            /* heartbeat_ok stays 0: no check */
    }
    __atomic_store_n(&wd.heartbeat, pyw_io_now_ms(), __ATOMIC_SEQ_CST);
    __atomic_store_n(&wd.heartbeat_ok, 1, __ATOMIC_SEQ_CST);
    for (;;) {
        wd.app->ping(t);
        __atomic_store_n(&wd.heartbeat, pyw_io_now_ms(), __ATOMIC_SEQ_CST);
        nanosleep(&ts, NULL);
    }
    return NULL;
}

/* Sleep one tick (less if the exit deadline comes first); returns the
 * stopping flag and the deadline as they are now. */
static int wd_sleep(int64_t *exit_at)
{
    int64_t left = WD_TICK_MS;
    struct timespec ts;
    int stopping;

    pthread_mutex_lock(&wd.lock);
    if (wd.exit_at && wd.exit_at - pyw_io_now_ms() < left) {
        left = wd.exit_at - pyw_io_now_ms();
    }
    if (left > 0 && !wd.poked) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += (time_t)(left / 1000);
        ts.tv_nsec += (long)(left % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&wd.wake, &wd.lock, &ts);
    }
    wd.poked = 0;
    stopping = wd.stopping;
    *exit_at = wd.exit_at;
    pthread_mutex_unlock(&wd.lock);
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
        wd_check_requests(stopping);
        wd_check_deadlock(now, stopping);
        pyw_workers_expire_queued();
        wd_trim_when_idle(now);
        if (!stopping && !wd.recycling) {
            wd_check_limits(now);
        }
        if (!stopping) {
            wd_check_idle(now);
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
    rv = pthread_cond_init(&wd.wake, &attr);
    pthread_condattr_destroy(&attr);
    return rv;
}

static void wd_copy_limits(const pyw_daemon_spec_t *spec)
{
    wd.max_requests = spec->maximum_requests;
    wd.restart_interval = spec->restart_interval_ms;
    wd.inactivity = spec->inactivity_timeout_ms;
    wd.request_timeout = spec->request_timeout_ms;
    wd.deadlock_timeout = spec->deadlock_timeout_ms;
    wd.memory_limit = spec->memory_limit;
    wd.cpu_limit = spec->cpu_time_limit_ms;
    wd.idle_timeout = spec->idle_timeout_ms;
    wd.started = wd.last_tick = pyw_io_now_ms();
    if (wd.memory_limit > 0) {
        wd.statm_fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
        wd.statm_errno = errno;
    }
}

int pyw_watchdog_start(const pyw_daemon_spec_t *spec, const pyw_app_t *app)
{
    pthread_t tid;
    int rv;

    wd.app = app;
    wd_copy_limits(spec);
    if ((rv = wd_init_cond()) == 0
        && (rv = pthread_create(&tid, NULL, wd_main, NULL)) == 0) {
        pthread_detach(tid);
        if (spec->deadlock_timeout_ms > 0
            && (rv = pthread_create(&tid, NULL, wd_heartbeat_main,
                                    NULL)) == 0) {
            pthread_detach(tid);
        }
    }
    if (rv != 0) {
        pyw_dlog(PYW_LOG_CRIT, PYW_LOG_THREADS_START, NULL,
                 "cannot start the watchdog: %s", strerror(rv));
        return -1;
    }
    if (wd.memory_limit > 0 && wd.statm_fd < 0) {
        pyw_dlog(PYW_LOG_WARNING, PYW_LOG_MEMORY_LIMIT, NULL,
                 "cannot open /proc/self/statm: %s; memory-limit is not "
                 "enforced", strerror(wd.statm_errno));
    }
    return 0;
}

void pyw_watchdog_poke(void)
{
    pthread_mutex_lock(&wd.lock);
    wd.poked = 1;
    pthread_cond_signal(&wd.wake);
    pthread_mutex_unlock(&wd.lock);
}

void pyw_watchdog_stopping(int64_t exit_deadline_ms)
{
    pthread_mutex_lock(&wd.lock);
    wd.stopping = 1;
    wd.exit_at = exit_deadline_ms;
    pthread_cond_signal(&wd.wake);
    pthread_mutex_unlock(&wd.lock);
}

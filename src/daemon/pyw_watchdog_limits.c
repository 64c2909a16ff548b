/*
 * pyw_watchdog_limits.c - the recycling limits: maximum-requests,
 * restart-interval, inactivity-timeout, memory-limit, cpu-time-limit.
 * One table of checks; the watchdog thread runs it each tick, and the
 * first limit reached asks the parent for a replacement.
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "pyw_dlog.h"
#include "pyw_dlogno.h"
#include "pyw_watchdog_int.h"
#include "pyw_workers.h"

#define WD_CAUSE_MAX      256
#define WD_MB             (1024.0 * 1024.0)

/* A limit was reached: say which, and ask for a replacement. */
static void wd_recycle(int level, int code, const char *cause, char what)
{
    pyw_wd.recycling = 1;
    pyw_dlog(level, code, NULL, "%s; asking for a replacement", cause);
    pyw_watchdog_replace_me_for(what);
}

/* ---- limits: each returns 1 and fills cause when reached ---- */

static int wd_max_requests(int64_t now, char *cause, size_t len)
{
    int64_t n;

    if (pyw_wd.max_requests <= 0
        || (n = pyw_workers_completed()) < pyw_wd.max_requests) {
        return 0;
    }
    snprintf(cause, len, "maximum-requests reached: %lld requests served "
             "(limit %lld)", (long long)n, (long long)pyw_wd.max_requests);
    return 1;
}

static int wd_restart_interval(int64_t now, char *cause, size_t len)
{
    if (pyw_wd.restart_interval <= 0
        || now - pyw_wd.started < pyw_wd.restart_interval) {
        return 0;
    }
    snprintf(cause, len, "restart-interval reached: running for %.1f s "
             "(limit %g s)", (double)(now - pyw_wd.started) / 1000.0,
             (double)pyw_wd.restart_interval / 1000.0);
    return 1;
}

static int wd_inactivity(int64_t now, char *cause, size_t len)
{
    int64_t since;

    if (pyw_wd.inactivity <= 0 || (since = pyw_workers_idle_since()) == 0
        || now - since < pyw_wd.inactivity) {
        return 0;
    }
    snprintf(cause, len, "inactivity-timeout reached: no request for %.1f s "
             "(limit %g s)", (double)(now - since) / 1000.0,
             (double)pyw_wd.inactivity / 1000.0);
    return 1;
}

/* Resident set size in bytes from /proc/self/statm, or -1. */
static int64_t wd_resident(void)
{
    char buf[128];
    long long size, resident;
    ssize_t n;

    if (pyw_wd.statm_fd < 0
        || (n = pread(pyw_wd.statm_fd, buf, sizeof(buf) - 1, 0)) <= 0) {
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

    if (pyw_wd.memory_limit <= 0
        || (rss = wd_resident()) <= pyw_wd.memory_limit) {
        return 0;
    }
    snprintf(cause, len, "memory-limit reached: resident %.1f MB > limit "
             "%.1f MB", (double)rss / WD_MB,
             (double)pyw_wd.memory_limit / WD_MB);
    return 1;
}

static int wd_cpu(int64_t now, char *cause, size_t len)
{
    struct timespec ts;
    int64_t used;

    if (pyw_wd.cpu_limit <= 0
        || clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts) < 0) {
        return 0;
    }
    used = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (used < pyw_wd.cpu_limit) {
        return 0;
    }
    snprintf(cause, len, "cpu-time-limit reached: %.1f s of CPU time used "
             "(limit %g s)", (double)used / 1000.0,
             (double)pyw_wd.cpu_limit / 1000.0);
    return 1;
}

static const struct {
    int (*reached)(int64_t now, char *cause, size_t len);
    int level;
    int code;
    char what;                  /* the status byte that asks */
} wd_limits[] = {
    { wd_max_requests,   PYW_LOG_NOTICE,  PYW_LOG_MAX_REQUESTS,
      PYW_STATUS_RECYCLE },
    { wd_restart_interval, PYW_LOG_NOTICE, PYW_LOG_RESTART_INTERVAL,
      PYW_STATUS_RECYCLE },
    /* The successor then counts this quiet towards idle-timeout: the
     * group stops idle-timeout after its last request, not after. */
    { wd_inactivity,     PYW_LOG_NOTICE,  PYW_LOG_INACTIVITY,
      PYW_STATUS_QUIET },
    { wd_memory,         PYW_LOG_WARNING, PYW_LOG_MEMORY_LIMIT,
      PYW_STATUS_RECYCLE },
    { wd_cpu,            PYW_LOG_WARNING, PYW_LOG_CPU_LIMIT,
      PYW_STATUS_RECYCLE },
};

/* The first limit reached asks for the replacement; then none is looked
 * at again: the process is on its way out. */
void pyw_watchdog_check_limits(int64_t now)
{
    char cause[WD_CAUSE_MAX];
    size_t i;

    for (i = 0; i < sizeof(wd_limits) / sizeof(wd_limits[0]); i++) {
        if (wd_limits[i].reached(now, cause, sizeof(cause))) {
            wd_recycle(wd_limits[i].level, wd_limits[i].code, cause,
                       wd_limits[i].what);
            return;
        }
    }
}

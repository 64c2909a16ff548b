/*
 * pyw_watchdog.h - the daemon's watchdog thread: limits, stuck requests,
 * a stuck GIL, and the last word on how long stopping may take.
 *
 * It ticks a few times a second without the GIL and checks:
 *   - maximum-requests (checked the moment it is reached),
 *     restart-interval, inactivity-timeout (counted from the last request:
 *     a daemon that never served one is not restarted), memory-limit
 *     (resident set size), cpu-time-limit: the first one reached is
 *     logged and the parent is asked, once, for a replacement
 *     (PYW_STATUS_RECYCLE); the daemon serves on until SIGTERM;
 *   - request-timeout: a request running longer gets the Python stack of
 *     every thread dumped, a log line, and a replacement is asked for;
 *     the request itself is left to the graceful stop;
 *   - deadlock-timeout: a heartbeat thread takes the GIL every 250 ms; a
 *     heartbeat older than the timeout means the GIL is stuck: stacks,
 *     log line, the daemon stops taking requests (they go to the rest of
 *     the group), and a replacement is asked for;
 *   - queue-timeout: queued requests that waited too long get 503;
 *   - while stopping: the exit deadline.
 * Without a status pipe to the parent the daemon stops itself instead of
 * asking (SIGTERM to itself), and the parent restarts it.
 */
#ifndef PYW_WATCHDOG_H
#define PYW_WATCHDOG_H

#include <stdint.h>

#include "pyw_daemon.h"

/* Start the thread (and the heartbeat when deadlock-timeout is set),
 * after the application started, before the workers.  Stack dumps and
 * the heartbeat go through app.  0, or -1 logged. */
int pyw_watchdog_start(const pyw_daemon_spec_t *spec, const pyw_app_t *app);

/* Check now instead of at the next tick (a worker that just completed
 * request number maximum-requests).  Any thread. */
void pyw_watchdog_poke(void);

/* Every thread's application stack to the error log, every line PYW0248
 * at level, between two lines naming why (request-timeout,
 * deadlock-timeout, or the operator's PYW_DAEMON_STACK_SIGNAL).  Any
 * thread; needs no interpreter lock. */
void pyw_watchdog_dump_stacks(const char *why, int level);

/* Main thread, on SIGTERM: ask for nothing more; if the process still
 * runs at exit_deadline_ms (pyw_io clock), log it and _exit(0): atexit
 * callbacks that hang, or a GIL that is never given back, must not keep
 * a stopping daemon alive. */
void pyw_watchdog_stopping(int64_t exit_deadline_ms);

#endif /* PYW_WATCHDOG_H */

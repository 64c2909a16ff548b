/*
 * pyw_dlogno.h - the daemon process's log codes (range 0200-0299 of
 * pyw_logno.h).  Tests assert on these numbers; never reuse one.
 */
#ifndef PYW_DLOGNO_H
#define PYW_DLOGNO_H

/* Start-up, signals, shutdown (pyw_daemon*.c) */
#define PYW_LOG_DAEMON_STARTED      200 /* notice: daemon started          */
#define PYW_LOG_DAEMON_STOPPING     201 /* notice: clean exit follows      */
#define PYW_LOG_SHUTDOWN_SIGNAL     202 /* info: SIGTERM/SIGINT received:
                                           why, and the budget           */
#define PYW_LOG_SIGNAL_IGNORED      203 /* info: SIGHUP (or Apache's own
                                           SIGUSR1) ignored               */
#define PYW_LOG_SIGNAL_PIPE         215 /* warn: the signal pipe closed    */
#define PYW_LOG_SHUTDOWN_TIMEOUT    204 /* error: being replaced, requests
                                           outlived graceful-timeout (or
                                           eviction-timeout)              */
#define PYW_LOG_STILL_RUNNING       205 /* warn: one such request (uri=)   */
#define PYW_LOG_SETUP_FAILED        206 /* crit: self-pipe / fd set-up     */
#define PYW_LOG_PRIVILEGES          207 /* crit: privilege drop failed or
                                           would run as root              */
#define PYW_LOG_CHDIR               208 /* crit/warn: chdir(home) failed   */
#define PYW_LOG_LOCALE              209 /* warn: setlocale() failed        */
#define PYW_LOG_PYTHON_START        210 /* crit: app->start failed         */
#define PYW_LOG_THREADS_START       211 /* crit: worker/poller not started */
#define PYW_LOG_RESOURCES           212 /* crit/warn: cpu-priority,
                                           virtual-memory-limit or
                                           supplementary-groups failed    */

/* Poller (pyw_poller*.c) */
#define PYW_LOG_SPEC                213 /* crit: spec unreadable after exec */
#define PYW_LOG_EXEC                214 /* debug: the daemon program runs,
                                           Python not started yet         */
#define PYW_LOG_ACCEPT              220 /* error: accept4() failed         */
#define PYW_LOG_CONN_SETUP          221 /* error: new connection not set up */
#define PYW_LOG_HELLO               222 /* info: HELLO write failed        */
#define PYW_LOG_EPOLL               223 /* crit: epoll_wait() failed       */
#define PYW_LOG_REARM               224 /* error: epoll_ctl(MOD) failed    */

/* Workers (pyw_workers*.c) */
#define PYW_LOG_PROTOCOL            230 /* error: bad frame from Apache    */
#define PYW_LOG_REQUEST_READ        231 /* info: REQUEST read failed (I/O,
                                           timeout, EOF inside a frame)   */
#define PYW_LOG_NO_END              232 /* error: adapter returned without
                                           END or ERROR                   */
#define PYW_LOG_GIVEN_UP            233 /* info: Apache closed the
                                           connection while the request
                                           waited in the queue: not run
                                           (uri=, how long it waited)     */

/* Lifecycle: status pipe, watchdog, drain (pyw_status.c, pyw_watchdog*.c,
 * pyw_workers*.c, pyw_poller*.c, pyw_daemon*.c) */
#define PYW_LOG_READY               240 /* info: READY sent to the parent  */
#define PYW_LOG_PRELOAD_REPLACE     258 /* warn: started though a preload
                                           failed (no daemon served in its
                                           place): a replacement asked for,
                                           which starts once it loads     */
#define PYW_LOG_MAX_REQUESTS        241 /* notice: maximum-requests reached */
#define PYW_LOG_RESTART_INTERVAL    242 /* notice: restart-interval reached */
#define PYW_LOG_INACTIVITY          243 /* notice: inactivity-timeout       */
#define PYW_LOG_MEMORY_LIMIT        244 /* warn: memory-limit reached       */
#define PYW_LOG_CPU_LIMIT           245 /* warn: cpu-time-limit reached     */
#define PYW_LOG_REQUEST_TIMEOUT     246 /* error: request ran past
                                           request-timeout (uri=)         */
#define PYW_LOG_DEADLOCK            247 /* error: GIL held past
                                           deadlock-timeout               */
#define PYW_LOG_STACKS              248 /* error (timeouts) or warn (signal):
                                           Python stacks follow, each
                                           line of the dump, end          */
#define PYW_LOG_QUEUE_TIMEOUT       249 /* warn: waited past queue-timeout,
                                           503 without running (uri=)     */
#define PYW_LOG_ROLLING_SIGNAL      250 /* notice: SIGUSR2: rolling restart
                                           of the group asked for         */
#define PYW_LOG_DRAIN               251 /* info: stopped accepting; GOODBYE
                                           to idle connections            */
#define PYW_LOG_STATUS_WRITE        252 /* error: status pipe write failed */
#define PYW_LOG_EXIT_DEADLINE       253 /* error: stopping outlived
                                           shutdown-timeout; _exit now    */
#define PYW_LOG_NO_STACKS           254 /* warn: stacks cannot be dumped   */
#define PYW_LOG_STOP_CUT            255 /* warn: Apache stops: requests
                                           still running at shutdown-timeout
                                           are cut off                    */
#define PYW_LOG_IDLE                256 /* info: idle-timeout reached, told
                                           the parent (debug: a request
                                           came after all)                */
#define PYW_LOG_SIGNAL_REPLACE      257 /* info: SIGTERM/SIGUSR1 from pid
                                           N: successor asked for (or,
                                           again or without a status pipe,
                                           stopping now)                  */

#endif /* PYW_DLOGNO_H */

/*
 * pyw_dlogno.h - the daemon process's log codes (range 0200-0299 of
 * pyw_logno.h).  Tests assert on these numbers; never reuse one.
 */
#ifndef PYW_DLOGNO_H
#define PYW_DLOGNO_H

/* Start-up, signals, shutdown (pyw_daemon.c) */
#define PYW_LOG_DAEMON_STARTED      200 /* notice: daemon started          */
#define PYW_LOG_DAEMON_STOPPING     201 /* notice: clean exit follows      */
#define PYW_LOG_SHUTDOWN_SIGNAL     202 /* info: SIGTERM/SIGINT received   */
#define PYW_LOG_SIGNAL_IGNORED      203 /* info: SIGHUP/SIGUSR1 ignored    */
#define PYW_LOG_SHUTDOWN_TIMEOUT    204 /* error: requests outlived the
                                           shutdown timeout               */
#define PYW_LOG_STILL_RUNNING       205 /* warn: one such request (uri=)   */
#define PYW_LOG_SETUP_FAILED        206 /* crit: self-pipe / fd set-up     */
#define PYW_LOG_PRIVILEGES          207 /* crit: privilege drop failed or
                                           would run as root              */
#define PYW_LOG_CHDIR               208 /* crit/warn: chdir(home) failed   */
#define PYW_LOG_LOCALE              209 /* warn: setlocale() failed        */
#define PYW_LOG_PYTHON_START        210 /* crit: pyw_interp_start failed   */
#define PYW_LOG_THREADS_START       211 /* crit: worker/poller not started */

/* Poller (pyw_poller.c) */
#define PYW_LOG_ACCEPT              220 /* error: accept4() failed         */
#define PYW_LOG_CONN_SETUP          221 /* error: new connection not set up */
#define PYW_LOG_HELLO               222 /* info: HELLO write failed        */
#define PYW_LOG_EPOLL               223 /* crit: epoll_wait() failed       */
#define PYW_LOG_REARM               224 /* error: epoll_ctl(MOD) failed    */

/* Workers (pyw_workers.c) */
#define PYW_LOG_PROTOCOL            230 /* error: bad frame from Apache    */
#define PYW_LOG_REQUEST_READ        231 /* info: REQUEST read failed (I/O,
                                           timeout, EOF inside a frame)   */
#define PYW_LOG_NO_END              232 /* error: adapter returned without
                                           END or ERROR                   */

#endif /* PYW_DLOGNO_H */

/*
 * pyw_logno.h - log levels and message codes shared by every unit.
 *
 * Every log line carries "PYWnnnn: ".  Ranges:
 *   0001-0099  Apache side: configuration, process manager
 *   0100-0199  Apache side: request handling (handler, forward, conn)
 *   0200-0299  daemon process: start-up, signals, workers, I/O
 *   0300-0399  Python / WSGI adapter
 * README.md lists every code; tests assert on codes, not wording.
 */
#ifndef PYW_LOGNO_H
#define PYW_LOGNO_H

/* Same numbers as Apache's APLOG_* levels. */
#define PYW_LOG_EMERG   0
#define PYW_LOG_ALERT   1
#define PYW_LOG_CRIT    2
#define PYW_LOG_ERR     3
#define PYW_LOG_WARNING 4
#define PYW_LOG_NOTICE  5
#define PYW_LOG_INFO    6
#define PYW_LOG_DEBUG   7

#define PYW_LOGNO_FMT   "PYW%04d: "

#endif /* PYW_LOGNO_H */

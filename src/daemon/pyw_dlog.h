/*
 * pyw_dlog.h - logging from the daemon process into Apache's error log.
 *
 * Lines are written with one write() each to the inherited error log
 * descriptor, in the group's ErrorLogFormat (pyw_logformat.h), so they
 * interleave cleanly with Apache's; by default:
 *   [Wed Nov 25 15:11:23.123456 2026] [pyworker:error] [pid 42:tid 7] \
 *       PYW0101: message (group=site1 pid=42 uri=/site1/x)
 * Safe to call from any thread, with or without the GIL.
 */
#ifndef PYW_DLOG_H
#define PYW_DLOG_H

#include <stddef.h>
#include "../common/pyw_logno.h"

/* group may be NULL while it is not known (the spec is unreadable):
 * lines then carry no group=.  format: the group's ErrorLogFormat (NULL:
 * Apache's default); server: its ServerName, for %v (or NULL). */
/* The descriptor lines are written to (the application must not close
 * it: pyw_guards.c). */
int pyw_dlog_fd(void);

void pyw_dlog_init(const char *group, int fd, int level,
                   const char *format, const char *server);

/* From now on lines go to syslog (the group's ErrorLog is syslog:...),
 * opened as Apache opens it; without a format of its own, Apache's
 * default less the time, which syslog adds. */
void pyw_dlog_syslog(int facility, const char *tag);

/* The request the calling thread runs from now on (NULL: none), its
 * client "ip:port" (%a), Apache's log id for it (%L) and the values of
 * pyw_dlog_request_var_key()'s environ keys (%e %i %V; an array of
 * pyw_dlog_request_var_count() strings, or NULL), each NULL when
 * unknown; the strings must live until it is set again.  Lines logged on
 * that thread with no uri of their own (print(), sys.stderr, wsgi.input)
 * name it. */
void pyw_dlog_set_request(const char *uri, const char *client,
                          const char *log_id, const char *const *vars);

/* The uri of the request the calling thread runs, or NULL. */
const char *pyw_dlog_thread_uri(void);

/* 1 if the format shows a request's client, log id or environ values
 * (%a, %L, %e, %i, %V): only then are they worth collecting per
 * request. */
int pyw_dlog_request_fields(void);

/* The environ keys whose values the format shows: how many, the i'th. */
int pyw_dlog_request_var_count(void);
const char *pyw_dlog_request_var_key(int i);

/* uri may be NULL: the thread's request, if any.  Checks the level before
 * formatting anything.  A message over 8 KiB is cut (between UTF-8
 * characters) and marked "...". */
void pyw_dlog(int level, int code, const char *uri, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Log text that may span lines (a traceback): one log line per line.  A
 * line longer than 8 KiB once escaped goes on over further log lines, cut
 * between UTF-8 characters, each with the code and context; after 32 of
 * them the rest of that line is left out and marked "...". */
void pyw_dlog_text(int level, int code, const char *uri,
                   const char *text, size_t len);

int pyw_dlog_enabled(int level);

#endif /* PYW_DLOG_H */

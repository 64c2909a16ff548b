/*
 * pyw_errlog.h - where a group's daemons log, and in what format: as the
 * server the group was defined in logs (its ErrorLog, LogLevel and
 * ErrorLogFormat), so each tenant reads its own errors.
 */
#ifndef PYW_ERRLOG_H
#define PYW_ERRLOG_H

#include "httpd.h"

typedef struct {
    int         fd;             /* its ErrorLog file or pipe; -1: none   */
    const char *format;         /* its ErrorLogFormat; NULL: default     */
    int         syslog;         /* ErrorLog syslog[:facility[:tag]]      */
    int         facility;
    const char *tag;
    int         log_id;         /* the format has %L: send each request's */
} pyw_errlog_t;

/* Reads every ErrorLogFormat from the configuration tree (post_config). */
void pyw_errlog_formats_load(apr_pool_t *pconf);

/* How the daemons of a group defined in s log (main: the main server,
 * whose ErrorLog a virtual host without one shares). */
void pyw_errlog_of(apr_pool_t *p, const server_rec *s,
                   const server_rec *main, pyw_errlog_t *out);

#endif /* PYW_ERRLOG_H */

/*
 * pyw_errlog_format.h - the ErrorLogFormat a group's daemons write in.
 */
#ifndef PYW_ERRLOG_FORMAT_H
#define PYW_ERRLOG_FORMAT_H

#include "httpd.h"

/* Reads every ErrorLogFormat from the configuration tree (post_config). */
void pyw_errlog_formats_load(apr_pool_t *pconf);

/* The format s logs in, as written; NULL: Apache's default. */
const char *pyw_errlog_format(apr_pool_t *p, const server_rec *s);

#endif /* PYW_ERRLOG_FORMAT_H */

/*
 * pyw_handler_int.h - private to the files of the "pyworker-script"
 * handler (pyw_handler*.c): what the pieces call of each other.
 *
 *   pyw_handler.c          the handler: acquire, run, serve, the hook
 *   pyw_handler_group.c    the group, the script and its owner
 *   pyw_handler_chunked.c  a body of unknown length: refuse, stream or spool
 *   pyw_handler_outcome.c  an outcome -> its status and one log line
 *   pyw_handler_head.c     PyWorkerMapHEADToGET
 *   pyw_handler_limit.c    queue-limit=
 */
#ifndef PYW_HANDLER_INT_H
#define PYW_HANDLER_INT_H

#include <stdint.h>

#include "httpd.h"

#include "pyw_config.h"
#include "pyw_forward.h"
#include "pyw_handler.h"

#define PYW_HANDLER_SEND_MAX    5       /* REQUEST sends per request     */

/* pyw_handler_group.c */

/* r's PyWorkerProcessGroup, if r may use it; else the status, logged
 * (PYW0100, or as pyw_handler_group). */
int pyw_handler_find_group(request_rec *r, const pyw_group_t **gp);

/* PyWorkerPasteApp: the application's name in the ini file, else NULL. */
const char *pyw_handler_paste_app(request_rec *r);

/* r->filename is a script g may run: OK, or 404 / 403, logged (PYW0103,
 * 0104, 0106). */
int pyw_handler_check_script(request_rec *r, const pyw_group_t *g);

/* pyw_handler_chunked.c */

/* PyWorkerChunkedRequest for r's body of unknown length (chunked, or
 * changed by an input filter): OK (*spool: the body read whole, or NULL;
 * *length_unknown: the environ is to have no CONTENT_LENGTH), or the
 * status to answer, logged (PYW0105, 0117, 0150, 0151). */
int pyw_handler_chunked(request_rec *r, const pyw_group_t *g,
                        const pyw_dir_conf_t *d, pyw_spool_t **spool,
                        int *length_unknown);

/* pyw_handler_head.c */

/* 1 if r is a HEAD the application is to see as GET
 * (PyWorkerMapHEADToGET), logged at debug (PYW0121). */
int pyw_handler_head_as_get(request_rec *r, const pyw_group_t *g);

/* pyw_handler_limit.c */

/* OK if r may take one more of Apache's threads for g (then
 * pyw_handler_unhold when it is done); else 503, logged (PYW0143), with
 * *how saying so. */
int pyw_handler_hold(request_rec *r, const pyw_group_t *g,
                     pyw_forward_outcome_t *how);
void pyw_handler_unhold(const pyw_group_t *g);

/* pyw_handler_outcome.c */

/* The wait on a daemon socket in ms: PYW_HANDLER_TIMEOUT_NOTE, else
 * socket-timeout of g, else Apache's Timeout. */
int64_t pyw_handler_socket_timeout(request_rec *r, const pyw_group_t *g);

/* The status for what happened to r in g (pid: the daemon's, or 0), with
 * one log line for a failure. */
int pyw_handler_outcome(request_rec *r, const pyw_group_t *g,
                        long pid, const pyw_forward_outcome_t *o);

/* A few words on a failure for the status page's "last error", or
 * NULL. */
const char *pyw_handler_what(request_rec *r,
                             const pyw_forward_outcome_t *o);

#endif /* PYW_HANDLER_INT_H */

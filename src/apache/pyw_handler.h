/*
 * pyw_handler.h - the content handler for "pyworker-script": picks the
 * group, gets a daemon connection (pyw_conn), forwards the request
 * (pyw_forward) and maps any failure to a status in one place.  The
 * pyworker:// proxy scheme (pyw_proxy.c) runs its requests through the
 * same path (pyw_handler_serve).
 */
#ifndef PYW_HANDLER_H
#define PYW_HANDLER_H

#include "apr_pools.h"
#include "httpd.h"

#include "pyw_config.h"
#include "pyw_forward.h"

/* What a request runs, where Apache's own values do not say it. */
typedef struct {
    const char *script_filename;    /* NULL: r->filename (the alias's)  */
    const char *paste_app;          /* PasteDeploy name, or NULL: script */
    const char *script_name;        /* NULL: Apache's SCRIPT_NAME        */
    const char *path_info;          /* NULL: Apache's PATH_INFO          */
    /* Unless the request's configuration names them (NULL: %{GLOBAL} and
     * "application"): the group's application-group= and
     * callable-object= for its own app. */
    const char *application_group;
    const char *callable_object;
    /* Which statuses Apache answers itself (pyw_forward_opts_t); NULL:
     * PyWorkerErrorOverride decides. */
    int       (*error_override)(request_rec *r, int status);
    /* 1: a 200 with a local Location comes back as PYW_FWD_REDIRECT
     * (pyw_forward_opts_t), for the handler to serve that URL; 0 (the
     * pyworker:// scheme, as mod_proxy_fcgi): passed on as it is. */
    int         local_redirect;
} pyw_handler_app_t;

/* PyWorkerErrorOverride's test: On for r and status is 400-599. */
int pyw_handler_error_override(request_rec *r, int status);

void pyw_handler_register_hooks(apr_pool_t *p);

/* The group called `name`, if r may use it (PyWorkerRestrictProcess,
 * vhost); else the status to answer, logged (PYW0101, 0102, 0107). */
int pyw_handler_group(request_rec *r, const char *name,
                      const pyw_group_t **gp);

/* script-user= / script-group= of g: OK if the file at path (finfo, if
 * it already holds the owner, else stat'ed) is theirs; else 403, logged
 * (PYW0106). */
int pyw_handler_check_owner(request_rec *r, const pyw_group_t *g,
                            const char *path, apr_finfo_t *finfo);

/* r's notes: a wait on the daemon other than the group's socket-timeout
 * (milliseconds), and the setting it comes from (mod_proxy's timeout=
 * or ProxyTimeout, for a request through mod_proxy). */
#define PYW_HANDLER_TIMEOUT_NOTE  "pyworker-timeout-ms"
#define PYW_HANDLER_TIMEOUT_FROM  "pyworker-timeout-from"

/*
 * Run r in group g: chunked-body policy, a daemon connection within
 * connect-timeout, forward, resend what a daemon turned down, and the
 * one mapping of failures to a status with one log line.  Returns the
 * status for the handler to return (OK once a response went out).
 * *how says what happened, so the proxy scheme can tell a group that
 * took nothing (NO_BACKEND, NOT_RUN, a timeout with the request unread:
 * fail over) from an answer.
 */
int pyw_handler_serve(request_rec *r, const pyw_group_t *g,
                      const pyw_handler_app_t *app,
                      pyw_forward_outcome_t *how);

#endif /* PYW_HANDLER_H */

/*
 * pyw_handler.c - the "pyworker-script" content handler.
 *
 * Chooses the daemon group, checks the script and the request, gets a
 * daemon connection from the cache, forwards the request and maps what
 * happened to a status in ONE place (pyw_handler_outcome), with one log
 * line per failure:
 *
 *   no connection                         -> 503
 *   daemon closed / broke the protocol    -> 502   before the response
 *   daemon did not answer within Timeout  -> 504   started; after it, the
 *   ERROR frame from the daemon           -> its     response is aborted
 *                                            status  and the status kept
 *   client body unreadable                -> 413 / 400 / 408
 *   client gone                           -> nothing to answer
 *
 * Only one thing is retried: writing the REQUEST on a *cached* connection
 * that the daemon closed meanwhile (EPIPE / ECONNRESET), once, on a new
 * connection.  Nothing has reached the application at that point.
 */
#include <errno.h>
#include <string.h>

#include "apr_strings.h"
#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_request.h"

#include "pyw_config.h"
#include "pyw_conn.h"
#include "pyw_forward.h"
#include "pyw_handler.h"
#include "pyw_log.h"

/* ---- before contacting a daemon ---- */

static int pyw_handler_find_group(request_rec *r, const pyw_group_t **gp)
{
    const char *name = pyw_config_process_group(r);
    const pyw_group_t *g;

    if (name == NULL || *name == '\0') {
        PYW_RLOG(APLOG_ERR, 0, r, 100, NULL, 0L,
                 "no PyWorkerProcessGroup for this request");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    g = pyw_config_find_group(name);
    if (g == NULL) {
        PYW_RLOG(APLOG_ERR, 0, r, 101, name, 0L, "PyWorkerProcessGroup "
                 "'%s' names no PyWorkerDaemonProcess", name);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!pyw_config_group_visible(g, r->server)) {
        PYW_RLOG(APLOG_ERR, 0, r, 102, name, 0L, "daemon group '%s' is "
                 "defined in another virtual host and cannot be used from "
                 "this one", name);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    *gp = g;
    return OK;
}

static int pyw_handler_check_script(request_rec *r, const pyw_group_t *g)
{
    if (r->filename == NULL) {
        PYW_RLOG(APLOG_INFO, 0, r, 103, g->name, 0L,
                 "no WSGI script file for this request");
        return HTTP_NOT_FOUND;
    }
    if (r->finfo.filetype == APR_NOFILE
        && apr_stat(&r->finfo, r->filename, APR_FINFO_MIN, r->pool)
           != APR_SUCCESS) {
        r->finfo.filetype = APR_NOFILE;
    }
    if (r->finfo.filetype == APR_NOFILE) {
        PYW_RLOG(APLOG_INFO, 0, r, 103, g->name, 0L, "WSGI script %s not "
                 "found or unable to stat", r->filename);
        return HTTP_NOT_FOUND;
    }
    if (r->finfo.filetype == APR_DIR) {
        PYW_RLOG(APLOG_ERR, 0, r, 104, g->name, 0L, "WSGI script %s is "
                 "a directory", r->filename);
        return HTTP_FORBIDDEN;
    }
    return OK;
}

static int pyw_handler_check_chunked(request_rec *r, const pyw_group_t *g,
                                     const pyw_dir_conf_t *d)
{
    const char *te = apr_table_get(r->headers_in, "Transfer-Encoding");

    /* PYW_UNSET means On. */
    if (d != NULL && d->chunked_request == 0 && te != NULL
        && ap_find_last_token(r->pool, te, "chunked")) {
        PYW_RLOG(APLOG_INFO, 0, r, 105, g->name, 0L, "chunked request "
                 "body refused (PyWorkerChunkedRequest Off)");
        return HTTP_LENGTH_REQUIRED;
    }
    return OK;
}

/* ---- mapping outcomes: the one place ---- */

/* Plain words for a daemon-side failure. */
static const char *pyw_handler_daemon_cause(request_rec *r, long pid,
                                            const pyw_forward_outcome_t *o)
{
    char buf[128];

    if (o->result == PYW_FWD_TIMEOUT) {
        return apr_psprintf(r->pool, "daemon pid %ld did not answer within "
                            "%" APR_TIME_T_FMT " seconds", pid,
                            apr_time_sec(r->server->timeout));
    }
    if (o->err == -EPROTO) {
        return apr_psprintf(r->pool, "daemon pid %ld broke the protocol: "
                            "%s", pid, o->reason ? o->reason : "?");
    }
    if (o->err == -ECONNRESET || o->err == -EPIPE) {
        return apr_psprintf(r->pool, "daemon pid %ld closed the connection "
                            "%s (it probably crashed)", pid, o->committed
                            ? "in the middle of the response"
                            : "before sending a response");
    }
    return apr_psprintf(r->pool, "%s daemon pid %ld failed: %s",
                        o->result == PYW_FWD_SEND_FAILED
                        ? "sending the request to" : "reading from", pid,
                        apr_strerror(APR_FROM_OS_ERROR(-o->err), buf,
                                     sizeof(buf)));
}

static int pyw_handler_daemon_failed(request_rec *r, const char *group,
                                     long pid,
                                     const pyw_forward_outcome_t *o)
{
    const char *cause = pyw_handler_daemon_cause(r, pid, o);

    if (o->committed) {
        PYW_RLOG(APLOG_ERR, 0, r, 114, group, pid, "%s; response to the "
                 "client aborted", cause);
        return OK;
    }
    if (o->result == PYW_FWD_TIMEOUT) {
        PYW_RLOG(APLOG_ERR, 0, r, 113, group, pid, "%s", cause);
        return HTTP_GATEWAY_TIME_OUT;
    }
    PYW_RLOG(APLOG_ERR, 0, r, o->err == -EPROTO ? 112 : 111, group, pid,
             "%s", cause);
    return HTTP_BAD_GATEWAY;
}

static int pyw_handler_outcome(request_rec *r, const pyw_group_t *g,
                               long pid, const pyw_forward_outcome_t *o)
{
    const char *gn = g->name;

    switch (o->result) {
    case PYW_FWD_OK:
        return OK;
    case PYW_FWD_NO_BACKEND:
        PYW_RLOG(APLOG_ERR, 0, r, 110, gn, 0L, "%s", o->reason);
        return HTTP_SERVICE_UNAVAILABLE;
    case PYW_FWD_SEND_FAILED:
    case PYW_FWD_DAEMON_GONE:
    case PYW_FWD_TIMEOUT:
        return pyw_handler_daemon_failed(r, gn, pid, o);
    case PYW_FWD_APP_ERROR:
        /* The daemon already logged the traceback with its own code. */
        PYW_RLOG(APLOG_DEBUG, 0, r, 115, gn, pid, "application error %d "
                 "(%s)%s", o->status, o->reason ? o->reason : "",
                 o->committed ? "; response to the client aborted" : "");
        return o->committed ? OK : o->status;
    case PYW_FWD_CLIENT_GONE:
        PYW_RLOG(APLOG_INFO, 0, r, 116, gn, pid, "client went away while "
                 "the response was being sent");
        return o->status == AP_FILTER_ERROR ? AP_FILTER_ERROR : OK;
    case PYW_FWD_BODY_ERROR:
        PYW_RLOG(APLOG_INFO, 0, r, 117, gn, pid, "cannot read the request "
                 "body (%s); the application was told (BODY_ABORT)",
                 o->reason ? o->reason : "?");
        return o->committed ? OK : o->status;
    case PYW_FWD_ENV_TOO_LARGE:
    default:
        PYW_RLOG(APLOG_ERR, 0, r, 118, gn, pid, "the request's environment "
                 "exceeds the protocol limit of %u bytes",
                 (unsigned)PYW_MAX_META_PAYLOAD);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
}

/* ---- acquire, forward, release ---- */

static int pyw_handler_run(request_rec *r, const pyw_group_t *g,
                           const pyw_forward_opts_t *opts)
{
    pyw_forward_outcome_t out;
    pyw_backend_t *b = NULL;
    const char *why = NULL;
    int attempt, rc, status;
    long pid;

    for (attempt = 0; attempt < 2; attempt++) {
        rc = pyw_conn_acquire(g, r->server->timeout, attempt == 0, r->pool,
                              &b, &why);
        if (rc < 0) {
            memset(&out, 0, sizeof(out));
            out.result = PYW_FWD_NO_BACKEND;
            out.err = rc;
            out.reason = why;
            return pyw_handler_outcome(r, g, 0L, &out);
        }
        pyw_forward_request(r, b, opts, &out);
        if (out.result != PYW_FWD_SEND_FAILED || !b->reused
            || (out.err != -EPIPE && out.err != -ECONNRESET)) {
            break;
        }
        PYW_RLOG(APLOG_DEBUG, 0, r, 119, g->name, b->daemon_pid, "cached "
                 "connection was closed by the daemon; retrying on a new "
                 "one");
        pyw_conn_close(b);
        b = NULL;
    }
    pid = b->daemon_pid;
    status = pyw_handler_outcome(r, g, pid, &out);
    if (out.backend_clean) {
        pyw_conn_release(b);
    }
    else {
        pyw_conn_close(b);
    }
    return status;
}

static int pyw_handler(request_rec *r)
{
    const pyw_dir_conf_t *d;
    const pyw_group_t *g = NULL;
    pyw_forward_opts_t opts;
    int status;

    if (r->handler == NULL || strcmp(r->handler, PYW_HANDLER_NAME) != 0) {
        return DECLINED;
    }
    d = ap_get_module_config(r->per_dir_config, &pyworker_module);
    if ((status = pyw_handler_find_group(r, &g)) != OK
        || (status = pyw_handler_check_script(r, g)) != OK
        || (status = pyw_handler_check_chunked(r, g, d)) != OK) {
        return status;
    }
    opts.process_group = g->name;
    opts.application_group = pyw_config_application_group(r);
    opts.pass_authorization = d != NULL && d->pass_authorization == 1;
    return pyw_handler_run(r, g, &opts);
}

void pyw_handler_register_hooks(apr_pool_t *p)
{
    pyw_conn_register_hooks(p);
    ap_hook_handler(pyw_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

/*
 * pyw_handler.c - the "pyworker-script" content handler.
 *
 * Chooses the daemon group, checks the script and the request, gets a
 * daemon connection from the cache, forwards the request and maps what
 * happened to a status in ONE place (pyw_handler_outcome), with one log
 * line per failure:
 *
 *   no connection within connect-timeout  -> 503 + Retry-After
 *   daemon closed / broke the protocol    -> 502   before the response
 *   no answer within socket-timeout       -> 504   started; after it, the
 *   request-timeout passed                -> 504     response is aborted
 *   ERROR frame from the daemon           -> its     and the status kept
 *                                            status (503 + Retry-After:
 *                                            queue-timeout)
 *   client body unreadable                -> 413 / 400 / 408
 *   chunked body over the spool limit     -> 413 (PyWorkerChunkedRequest
 *     or its temporary file failed        -> 500  On; before any daemon)
 *   client gone                           -> nothing to answer
 *
 * Only one thing is retried: a request the daemon turned down before
 * running it (GOODBYE, or the connection closed with the REQUEST unread,
 * see pyw_forward.c).  Nothing reached the application and no body was
 * read, so it is sent again on a new connection, up to
 * PYW_HANDLER_SEND_MAX times, each with its own connect-timeout.  That is
 * what keeps daemon restarts and recycling invisible to clients.  A
 * request sent again says so (PYW_REQUEST_RESENT): a daemon balancing
 * its group never hands it back a second time.
 */
#include <errno.h>
#include <string.h>

#include "apr_strings.h"
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_mpm.h"

#include "pyw_appgroup.h"
#include "pyw_config.h"
#include "pyw_conn.h"
#include "pyw_forward.h"
#include "pyw_handler.h"
#include "pyw_log.h"
#include "pyw_procmgr.h"
#include "pyw_status_page.h"

#define PYW_HANDLER_SEND_MAX    5       /* REQUEST sends per request     */
#define PYW_HANDLER_SPOOL_KEY   "pyworker-spool"
/* The status page's word for a request no daemon was asked about. */
#define PYW_HANDLER_REFUSED     "refused before any daemon was asked (see " \
                                "the error log)"

/* ---- before contacting a daemon ---- */

int pyw_handler_group(request_rec *r, const char *name,
                      const pyw_group_t **gp)
{
    const char *allowed;
    const pyw_group_t *g;

    /* Before the look-up: a name outside the list is refused whether or
     * not such a group exists. */
    if (!pyw_config_group_allowed(r, name, &allowed)) {
        PYW_RLOG(APLOG_ERR, 0, r, 107, name, 0L, "process group '%s' may "
                 "not be used here; PyWorkerRestrictProcess allows only: %s",
                 name, allowed);
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

static int pyw_handler_find_group(request_rec *r, const pyw_group_t **gp)
{
    const char *name = pyw_config_process_group(r);

    if (name == NULL || *name == '\0') {
        PYW_RLOG(APLOG_ERR, 0, r, 100, NULL, 0L,
                 "no PyWorkerProcessGroup for this request");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return pyw_handler_group(r, name, gp);
}

/* script-user= / script-group=: only files of that owner run in g.
 * *finfo is path's, stat'ed here if it does not hold the owner yet. */
int pyw_handler_check_owner(request_rec *r, const pyw_group_t *g,
                            const char *path, apr_finfo_t *finfo)
{
    if (g->script_uid == (uid_t)-1 && g->script_gid == (gid_t)-1) {
        return OK;
    }
    if (!(finfo->valid & APR_FINFO_OWNER)
        && apr_stat(finfo, path, APR_FINFO_OWNER, r->pool) != APR_SUCCESS) {
        finfo->valid &= ~APR_FINFO_OWNER;
    }
    if (!(finfo->valid & APR_FINFO_OWNER)
        || (g->script_uid != (uid_t)-1 && finfo->user != g->script_uid)
        || (g->script_gid != (gid_t)-1 && finfo->group != g->script_gid)) {
        const char *want = apr_pstrcat(r->pool,
            g->script_user ? " script-user=" : "",
            g->script_user ? g->script_user : "",
            g->script_group ? " script-group=" : "",
            g->script_group ? g->script_group : "", NULL);

        PYW_RLOG(APLOG_ERR, 0, r, 106, g->name, 0L, "WSGI script %s is "
                 "owned by uid %ld gid %ld; the group runs only scripts "
                 "of%s", path, (long)finfo->user, (long)finfo->group, want);
        return HTTP_FORBIDDEN;
    }
    return OK;
}

/* PyWorkerPasteApp: the application's name in the ini file, else NULL. */
static const char *pyw_handler_paste_app(request_rec *r)
{
    const pyw_alias_t *a = pyw_config_request_alias(r);

    return a != NULL ? a->paste_app : NULL;
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
        if (pyw_handler_paste_app(r) != NULL) {
            return OK;      /* the daemon answers 500 and names it */
        }
        PYW_RLOG(APLOG_INFO, 0, r, 103, g->name, 0L, "WSGI script %s not "
                 "found or unable to stat", r->filename);
        return HTTP_NOT_FOUND;
    }
    if (r->finfo.filetype == APR_DIR) {
        PYW_RLOG(APLOG_ERR, 0, r, 104, g->name, 0L, "WSGI script %s is "
                 "a directory", r->filename);
        return HTTP_FORBIDDEN;
    }
    return pyw_handler_check_owner(r, g, r->filename, &r->finfo);
}

/* Apache's input filter stopped the body at LimitRequestBody: it says
 * APR_ENOSPC, or AP_FILTER_ERROR after answering 413 itself. */
static int pyw_handler_over_core_limit(request_rec *r, apr_status_t rv)
{
    return rv == APR_ENOSPC || (rv == AP_FILTER_ERROR
                                && r->status == HTTP_REQUEST_ENTITY_TOO_LARGE);
}

/* The spool failed: the status, with one log line.  The connection is
 * closed after the answer, so the rest of the body is never read. */
static int pyw_handler_spool_failed(request_rec *r, const pyw_group_t *g,
                                    apr_off_t limit, pyw_spool_result_e res,
                                    apr_status_t rv)
{
    r->connection->keepalive = AP_CONN_CLOSE;
    if (res == PYW_SPOOL_TOO_LARGE) {
        PYW_RLOG(APLOG_WARNING, 0, r, 150, g->name, 0L, "chunked request "
                 "body larger than PyWorkerChunkedRequestLimit %"
                 APR_OFF_T_FMT " bytes; 413", limit);
        return HTTP_REQUEST_ENTITY_TOO_LARGE;
    }
    if (res == PYW_SPOOL_FILE) {
        PYW_RLOG(APLOG_ERR, rv, r, 151, g->name, 0L, "cannot spool the "
                 "chunked request body to a temporary file in %s; 500",
                 pyw_spool_dir());
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (pyw_handler_over_core_limit(r, rv)) {
        PYW_RLOG(APLOG_WARNING, 0, r, 150, g->name, 0L, "chunked request "
                 "body larger than LimitRequestBody %" APR_OFF_T_FMT
                 " bytes; 413", ap_get_limit_req_body(r));
        return rv == AP_FILTER_ERROR ? AP_FILTER_ERROR
                                     : HTTP_REQUEST_ENTITY_TOO_LARGE;
    }
    /* 400 bad chunk or client gone, 408 timeout; AP_FILTER_ERROR if
     * Apache's input filter already answered. */
    PYW_RLOG(APLOG_INFO, 0, r, 117, g->name, 0L, "cannot read the chunked "
             "request body (%s); the application was not run",
             rv == AP_FILTER_ERROR ? "Apache's input filters rejected it "
             "and answered the client" : apr_psprintf(r->pool, "%pm", &rv));
    return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
}

/*
 * PyWorkerChunkedRequest: a chunked body is refused (Off: 411), passed on
 * as it comes (Stream: no CONTENT_LENGTH, wsgi.input_terminated), or,
 * by default, read whole first so the app gets CONTENT_LENGTH (*spool).
 * Requests with a Content-Length or no body cost one table look-up.
 */
static int pyw_handler_chunked(request_rec *r, const pyw_group_t *g,
                               const pyw_dir_conf_t *d, pyw_spool_t **spool)
{
    const char *te = apr_table_get(r->headers_in, "Transfer-Encoding");
    int mode = d == NULL || d->chunked_request == PYW_UNSET
               ? PYW_CHUNKED_SPOOL : d->chunked_request;
    apr_off_t limit;
    pyw_spool_result_e res;
    apr_status_t rv;

    *spool = NULL;
    if (te == NULL || mode == PYW_CHUNKED_STREAM
        || !ap_find_last_token(r->pool, te, "chunked")) {
        return OK;
    }
    if (mode == PYW_CHUNKED_OFF) {
        PYW_RLOG(APLOG_INFO, 0, r, 105, g->name, 0L, "chunked request "
                 "body refused (PyWorkerChunkedRequest Off)");
        return HTTP_LENGTH_REQUIRED;
    }
    /* A balancer that fails over runs r again in another group: the
     * body read whole the first time serves it again. */
    apr_pool_userdata_get((void **)spool, PYW_HANDLER_SPOOL_KEY, r->pool);
    if (*spool != NULL) {
        return OK;
    }
    limit = d == NULL || d->chunked_limit == PYW_UNSET
            ? PYW_CHUNKED_LIMIT_DEFAULT : d->chunked_limit;
    res = pyw_spool_read(r, limit, spool, &rv);
    if (res != PYW_SPOOL_OK) {
        return pyw_handler_spool_failed(r, g, limit, res, rv);
    }
    apr_pool_userdata_setn(*spool, PYW_HANDLER_SPOOL_KEY, NULL, r->pool);
    PYW_RLOG(APLOG_DEBUG, 0, r, 152, g->name, 0L, "chunked request body "
             "read whole: %" APR_OFF_T_FMT " bytes (%s)",
             pyw_spool_size(*spool), pyw_spool_on_disk(*spool)
             ? "temporary file" : "memory");
    return OK;
}

/* ---- mapping outcomes: the one place ---- */

/* A timeout for log lines: "15" or "2.5" (seconds). */
static const char *pyw_handler_secs(apr_pool_t *p, int64_t ms)
{
    if (ms % 1000 == 0) {
        return apr_psprintf(p, "%" APR_INT64_T_FMT, ms / 1000);
    }
    return apr_psprintf(p, "%.3g", (double)ms / 1000);
}

static int64_t pyw_handler_socket_timeout(request_rec *r,
                                          const pyw_group_t *g)
{
    return g->socket_timeout_ms > 0 ? g->socket_timeout_ms
                                    : apr_time_as_msec(r->server->timeout);
}

/* Every 503 tells the client when to try again: the group's
 * queue-timeout, at least one second. */
static int pyw_handler_unavailable(request_rec *r, const pyw_group_t *g)
{
    int64_t secs = (g->queue_timeout_ms + 999) / 1000;

    apr_table_setn(r->err_headers_out, "Retry-After",
                   apr_psprintf(r->pool, "%" APR_INT64_T_FMT,
                                secs < 1 ? 1 : secs));
    return HTTP_SERVICE_UNAVAILABLE;
}

/* Plain words for a daemon-side failure. */
static const char *pyw_handler_daemon_cause(request_rec *r,
                                            const pyw_group_t *g, long pid,
                                            const pyw_forward_outcome_t *o)
{
    char buf[128];

    if (o->result == PYW_FWD_TIMEOUT) {
        return apr_psprintf(r->pool, "daemon pid %ld did not answer within "
                            "socket-timeout of %s s%s", pid,
                            pyw_handler_secs(r->pool,
                                pyw_handler_socket_timeout(r, g)),
                            o->request_unread ? " and had not read the "
                            "request (stopped or stuck)" : "");
    }
    if (o->err == -EPROTO) {
        return apr_psprintf(r->pool, "daemon pid %ld broke the protocol: "
                            "%s", pid, o->reason ? o->reason : "?");
    }
    if (o->err == -ECONNRESET || o->err == -EPIPE) {
        return apr_psprintf(r->pool, "daemon pid %ld closed the connection "
                            "%s: it exited or was killed (the parent's "
                            "line for that pid says how)", pid,
                            o->committed ? "in the middle of the response"
                                         : "before sending a response");
    }
    return apr_psprintf(r->pool, "%s daemon pid %ld failed: %s",
                        o->result == PYW_FWD_SEND_FAILED
                        ? "sending the request to" : "reading from", pid,
                        apr_strerror(APR_FROM_OS_ERROR(-o->err), buf,
                                     sizeof(buf)));
}

/* This Apache child is stopping: Apache stops or restarts, and the
 * daemons are told to stop with it (pyw_slots.c). */
static int pyw_handler_apache_stopping(void)
{
    int state;

    return ap_mpm_query(AP_MPMQ_MPM_STATE, &state) == APR_SUCCESS
           && state == AP_MPMQ_STOPPING;
}

static int pyw_handler_daemon_failed(request_rec *r, const pyw_group_t *g,
                                     long pid,
                                     const pyw_forward_outcome_t *o)
{
    const char *cause = pyw_handler_daemon_cause(r, g, pid, o);

    if ((o->err == -ECONNRESET || o->err == -EPIPE)
        && pyw_handler_apache_stopping()) {
        /* Expected: the daemon stopped with Apache and said which
         * request it cut off (PYW0255, or PYW0204 when replaced). */
        PYW_RLOG(APLOG_INFO, 0, r, 119, g->name, pid, "daemon pid %ld "
                 "stopped %s while Apache is stopping or restarting; %s",
                 pid, o->committed ? "in the middle of the response"
                                   : "before sending a response",
                 o->committed ? "response to the client aborted"
                              : "answering 502");
        return o->committed ? OK : HTTP_BAD_GATEWAY;
    }
    if (o->committed) {
        PYW_RLOG(APLOG_ERR, 0, r, 114, g->name, pid, "%s; response to the "
                 "client aborted", cause);
        return OK;
    }
    if (o->result == PYW_FWD_TIMEOUT) {
        PYW_RLOG(APLOG_ERR, 0, r, 113, g->name, pid, "%s", cause);
        return HTTP_GATEWAY_TIME_OUT;
    }
    PYW_RLOG(APLOG_ERR, 0, r, o->err == -EPROTO ? 112 : 111, g->name, pid,
             "%s", cause);
    return HTTP_BAD_GATEWAY;
}

/* request-timeout: 504, or abort a started response; the connection is
 * closed by the caller (backend_clean is 0). */
static int pyw_handler_request_timeout(request_rec *r, const pyw_group_t *g,
                                       long pid,
                                       const pyw_forward_outcome_t *o)
{
    PYW_RLOG(APLOG_ERR, 0, r, 141, g->name, pid, "request-timeout of %s s "
             "passed %s; %s", pyw_handler_secs(r->pool,
                                               g->request_timeout_ms),
             pid ? "waiting for the daemon" : "before a daemon took the "
             "request", o->committed ? "response to the client aborted"
             : "answering 504");
    return o->committed ? OK : HTTP_GATEWAY_TIME_OUT;
}

static int pyw_handler_app_error(request_rec *r, const pyw_group_t *g,
                                 long pid, const pyw_forward_outcome_t *o)
{
    /* The daemon already logged the cause with its own code (traceback,
     * queue-timeout). */
    PYW_RLOG(APLOG_DEBUG, 0, r, 115, g->name, pid, "application error %d "
             "(%s)%s", o->status, o->reason ? o->reason : "",
             o->committed ? "; response to the client aborted" : "");
    if (o->committed) {
        return OK;
    }
    return o->status == HTTP_SERVICE_UNAVAILABLE
           ? pyw_handler_unavailable(r, g) : o->status;
}

/* PYW0110, with the truth when the group's daemons cannot start. */
static void pyw_handler_no_backend(request_rec *r, const pyw_group_t *g,
                                   const pyw_forward_outcome_t *o)
{
    char cause[128];
    int64_t age;

    if (pyw_pm_last_start_failure(g, cause, sizeof(cause), &age)) {
        PYW_RLOG(APLOG_ERR, 0, r, 110, g->name, 0L, "no daemon running; "
                 "last start failed (%s) %" APR_INT64_T_FMT " s ago, see "
                 "PYW0023 (%s)", cause, (apr_int64_t)(age / 1000),
                 o->reason);
        return;
    }
    PYW_RLOG(APLOG_ERR, 0, r, 110, g->name, 0L, "%s", o->reason);
}

static int pyw_handler_outcome(request_rec *r, const pyw_group_t *g,
                               long pid, const pyw_forward_outcome_t *o)
{
    const char *gn = g->name;

    switch (o->result) {
    case PYW_FWD_OK:
        return OK;
    case PYW_FWD_NO_BACKEND:
        pyw_handler_no_backend(r, g, o);
        return pyw_handler_unavailable(r, g);
    case PYW_FWD_NOT_RUN:
        PYW_RLOG(APLOG_ERR, 0, r, 142, gn, pid, "no daemon took the "
                 "request: it was turned down %d times, last by daemon pid "
                 "%ld (%s)", PYW_HANDLER_SEND_MAX, pid,
                 o->reason ? o->reason : "?");
        return pyw_handler_unavailable(r, g);
    case PYW_FWD_REQUEST_TIMEOUT:
        return pyw_handler_request_timeout(r, g, pid, o);
    case PYW_FWD_SEND_FAILED:
    case PYW_FWD_DAEMON_GONE:
    case PYW_FWD_TIMEOUT:
        return pyw_handler_daemon_failed(r, g, pid, o);
    case PYW_FWD_APP_ERROR:
        return pyw_handler_app_error(r, g, pid, o);
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

/* A few words on a failure for the status page's "last error". */
static const char *pyw_handler_what(request_rec *r,
                                    const pyw_forward_outcome_t *o)
{
    switch (o->result) {
    case PYW_FWD_NO_BACKEND:
        return "no daemon connection within connect-timeout";
    case PYW_FWD_NOT_RUN:
        return "no daemon took the request";
    case PYW_FWD_REQUEST_TIMEOUT:
        return "request-timeout passed";
    case PYW_FWD_SEND_FAILED:
    case PYW_FWD_DAEMON_GONE:
        return "the daemon closed the connection or broke the protocol";
    case PYW_FWD_TIMEOUT:
        return "no answer from the daemon within socket-timeout";
    case PYW_FWD_APP_ERROR:
        return apr_pstrcat(r->pool, "application error: ",
                           o->reason ? o->reason : "?", NULL);
    default:
        return NULL;
    }
}

/* ---- acquire, forward, release ---- */

/* A connection within connect-timeout (cut short by request-timeout).
 * 0, or -errno with *out saying what to answer. */
static int pyw_handler_acquire(request_rec *r, const pyw_group_t *g,
                               const pyw_forward_opts_t *opts, int attempt,
                               pyw_backend_t **b, pyw_forward_outcome_t *out)
{
    int64_t ms = g->connect_timeout_ms > 0 ? g->connect_timeout_ms
                                           : PYW_DEFAULT_CONNECT_MS;
    int64_t left = opts->deadline_ms - pyw_io_now_ms();
    const char *why = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    /* A new connection after a daemon turned the request down: the next
     * daemon may be the one the parent is starting right now. */
    rc = left <= 0 ? -ETIMEDOUT
         : pyw_conn_acquire(g, apr_time_from_msec(ms < left ? ms : left),
                            attempt == 0, r->pool, b, &why);
    if (rc == 0) {
        return 0;
    }
    out->result = rc == -ETIMEDOUT && pyw_io_now_ms() >= opts->deadline_ms
                  ? PYW_FWD_REQUEST_TIMEOUT : PYW_FWD_NO_BACKEND;
    out->err = rc;
    out->reason = why;
    return rc;
}

static int pyw_handler_run(request_rec *r, const pyw_group_t *g,
                           pyw_forward_opts_t *opts,
                           pyw_forward_outcome_t *how)
{
    pyw_forward_outcome_t out;
    pyw_backend_t *b = NULL;
    int attempt, status;
    long pid = 0;

    for (attempt = 0; attempt < PYW_HANDLER_SEND_MAX; attempt++) {
        if (pyw_handler_acquire(r, g, opts, attempt, &b, &out) < 0) {
            *how = out;
            return pyw_handler_outcome(r, g, pid, &out);
        }
        opts->resent = attempt > 0;     /* it moves at most once */
        pyw_forward_request(r, b, opts, &out);
        pid = b->daemon_pid;
        if (out.result != PYW_FWD_NOT_RUN) {
            break;
        }
        PYW_RLOG(APLOG_DEBUG, 0, r, 140, g->name, pid, "%s; sending the "
                 "request again on a new connection", out.reason);
        pyw_conn_close(b);
        b = NULL;
    }
    *how = out;
    status = pyw_handler_outcome(r, g, pid, &out);
    if (b != NULL && out.backend_clean) {
        pyw_conn_release(b);
    }
    else {
        pyw_conn_close(b);
    }
    return status;
}

int pyw_handler_serve(request_rec *r, const pyw_group_t *g,
                      const pyw_handler_app_t *app,
                      pyw_forward_outcome_t *how)
{
    const pyw_dir_conf_t *d;
    pyw_forward_opts_t opts;
    pyw_spool_t *spool;
    const char *bad;
    int status;

    memset(how, 0, sizeof(*how));
    d = ap_get_module_config(r->per_dir_config, &pyworker_module);
    if ((status = pyw_handler_chunked(r, g, d, &spool)) != OK) {
        how->result = PYW_FWD_BODY_ERROR;
        pyw_status_count(r, g, status, PYW_HANDLER_REFUSED);
        return status;
    }
    memset(&opts, 0, sizeof(opts));
    opts.process_group = g->name;
    opts.application_group = pyw_app_group_resolve(r,
        pyw_config_application_group(r), &bad);
    if (opts.application_group == NULL) {
        PYW_RLOG(APLOG_ERR, 0, r, 108, g->name, 0L, "application group "
                 "'%s' (from %s) cannot be used: longer than %d bytes or "
                 "with control characters", bad,
                 pyw_config_application_group(r), PYW_APP_GROUP_MAX);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    opts.callable_object = pyw_config_callable_object(r);
    opts.paste_app = app->paste_app;
    opts.script_filename = app->script_filename;
    opts.script_name = app->script_name;
    opts.path_info = app->path_info;
    opts.pass_authorization = pyw_config_pass_authorization(r);
    opts.script_reloading = d == NULL || d->script_reloading != 0;
    opts.socket_timeout_ms = pyw_handler_socket_timeout(r, g);
    opts.deadline_ms = g->request_timeout_ms > 0
                       ? pyw_io_deadline(g->request_timeout_ms)
                       : PYW_NO_DEADLINE;
    opts.body = spool;
    status = pyw_handler_run(r, g, &opts, how);
    pyw_status_count(r, g, status, pyw_handler_what(r, how));
    return status;
}

static int pyw_handler(request_rec *r)
{
    const pyw_group_t *g = NULL;
    pyw_handler_app_t app = { NULL, NULL, NULL, NULL };
    pyw_forward_outcome_t how;
    int status;

    if (r->handler == NULL || strcmp(r->handler, PYW_HANDLER_NAME) != 0) {
        return DECLINED;
    }
    if ((status = pyw_handler_find_group(r, &g)) != OK) {
        return status;
    }
    if ((status = pyw_handler_check_script(r, g)) != OK) {
        pyw_status_count(r, g, status, PYW_HANDLER_REFUSED);
        return status;
    }
    app.paste_app = pyw_handler_paste_app(r);
    return pyw_handler_serve(r, g, &app, &how);
}

void pyw_handler_register_hooks(apr_pool_t *p)
{
    pyw_conn_register_hooks(p);
    ap_hook_handler(pyw_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

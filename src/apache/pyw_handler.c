/*
 * pyw_handler.c - the "pyworker-script" content handler.
 *
 * Finds the daemon group and checks the script (pyw_handler_group.c)
 * and a chunked body (pyw_handler_chunked.c), gets a daemon connection
 * from the cache, forwards the request and maps what happened to a
 * status in one place (pyw_handler_outcome.c).
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

#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_request.h"

#include "pyw_appgroup.h"
#include "pyw_body_in.h"
#include "pyw_config.h"
#include "pyw_conn.h"
#include "pyw_forward.h"
#include "pyw_handler.h"
#include "pyw_handler_int.h"
#include "pyw_log.h"
#include "pyw_status_page.h"

/* The status page's word for a request no daemon was asked about. */
#define PYW_HANDLER_REFUSED     "refused before any daemon was asked (see " \
                                "the error log)"

/* How much longer than connect-timeout (ms) a request may wait for a
 * daemon that is starting: up to startup-timeout, else Apache's Timeout,
 * from when it began to wait; never past the request's deadline. */
static int64_t pyw_handler_starting_ms(request_rec *r, const pyw_group_t *g,
                                       int64_t ms, int64_t left)
{
    int64_t budget = g->startup_timeout_ms > 0
                     ? g->startup_timeout_ms
                     : apr_time_as_msec(r->server->timeout);
    int64_t grace = budget > ms ? budget - ms : 0;

    return grace < left - ms ? grace : left > ms ? left - ms : 0;
}

/* A connection within connect-timeout (cut short by request-timeout),
 * or later while a daemon of the group is still starting.  0, or -errno
 * with *out saying what to answer. */
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
                            apr_time_from_msec(pyw_handler_starting_ms(
                                r, g, ms, left)),
                            attempt == 0, r->pool, b, &why);
    if (rc == 0) {
        return 0;
    }
    out->result = rc == -ETIMEDOUT && pyw_io_now_ms() >= opts->deadline_ms
                  ? PYW_FWD_REQUEST_TIMEOUT
                  : rc == -ESHUTDOWN ? PYW_FWD_NOT_RUN : PYW_FWD_NO_BACKEND;
    out->apache_stopping = rc == -ESHUTDOWN;
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
        if (out.result != PYW_FWD_NOT_RUN || out.apache_stopping) {
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

static int pyw_handler_forward(request_rec *r, const pyw_group_t *g,
                               const pyw_handler_app_t *app,
                               pyw_forward_outcome_t *how)
{
    const pyw_dir_conf_t *d;
    pyw_forward_opts_t opts;
    pyw_spool_t *spool;
    const char *bad, *group_as_written;
    int status, length_unknown;

    memset(how, 0, sizeof(*how));
    d = ap_get_module_config(r->per_dir_config, &pyworker_module);
    if ((status = pyw_handler_chunked(r, g, d, &spool, &length_unknown))
        != OK) {
        how->result = PYW_FWD_BODY_ERROR;
        pyw_status_count(r, g, status, PYW_HANDLER_REFUSED);
        return status;
    }
    memset(&opts, 0, sizeof(opts));
    opts.process_group = g->name;
    opts.log_id = g->send_log_id;
    group_as_written = pyw_config_application_group(r,
        app->application_group ? app->application_group
                               : pyw_app_group_global);
    opts.application_group = pyw_app_group_resolve(r, group_as_written,
                                                    &bad);
    if (opts.application_group == NULL) {
        PYW_RLOG(APLOG_ERR, 0, r, 108, g->name, 0L, "application group "
                 "'%s' (from %s) cannot be used: longer than %d bytes or "
                 "with control characters", bad, group_as_written,
                 PYW_APP_GROUP_MAX);
        pyw_status_count(r, g, HTTP_INTERNAL_SERVER_ERROR,
                         PYW_HANDLER_REFUSED);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    opts.callable_object = pyw_config_callable_object(r,
        app->callable_object ? app->callable_object : PYW_CALLABLE_DEFAULT);
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
    opts.head_as_get = pyw_handler_head_as_get(r, g);
    opts.length_unknown = length_unknown;
    opts.error_override = app->error_override ? app->error_override
                          : pyw_handler_error_override;
    opts.local_redirect = app->local_redirect;
    status = pyw_handler_run(r, g, &opts, how);
    pyw_status_count(r, g, status, pyw_handler_what(r, how));
    return status;
}

int pyw_handler_serve(request_rec *r, const pyw_group_t *g,
                      const pyw_handler_app_t *app,
                      pyw_forward_outcome_t *how)
{
    int status = pyw_handler_hold(r, g, how);

    if (status != OK) {
        return status;
    }
    status = pyw_handler_forward(r, g, app, how);
    pyw_handler_unhold(g);
    return status;
}

int pyw_handler_error_override(request_rec *r, int status)
{
    return ap_is_HTTP_ERROR(status) && pyw_config_error_override(r);
}

/*
 * CGI's local redirect, as mod_cgid and mod_wsgi's daemon mode make it:
 * the application answered 200 with a Location that is a local path,
 * its response was discarded (PYW0126) and its daemon connection is back
 * in the cache, so a target in the same group can have it.  Apache
 * serves that URL instead, as a GET (the Location's query string is the
 * new request's) without a body.
 */
static int pyw_handler_redirect(request_rec *r, const char *location)
{
    /* What is left of the client's body is read and dropped now, while
     * the input filters still know its length: once Content-Length is
     * gone, HTTP_IN would leave it on the connection to be read as the
     * next request, or a target in our group would be sent it again.  A
     * body that cannot be read ends the connection after this request. */
    if (ap_discard_request_body(r) != OK) {
        r->connection->keepalive = AP_CONN_CLOSE;
    }
    r->method = "GET";
    r->method_number = M_GET;
    apr_table_unset(r->headers_in, "Content-Length");
    apr_table_unset(r->headers_in, "Transfer-Encoding");
    ap_internal_redirect_handler(location, r);
    return OK;
}

static int pyw_handler(request_rec *r)
{
    const pyw_group_t *g = NULL;
    pyw_handler_app_t app = { NULL, NULL, NULL, NULL, NULL, NULL, NULL, 1 };
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
    status = pyw_handler_serve(r, g, &app, &how);
    return how.result == PYW_FWD_REDIRECT
           ? pyw_handler_redirect(r, how.location) : status;
}

void pyw_handler_register_hooks(apr_pool_t *p)
{
    pyw_conn_register_hooks(p);
    pyw_body_in_register_hooks(p);
    ap_hook_handler(pyw_handler, NULL, NULL, APR_HOOK_MIDDLE);
}

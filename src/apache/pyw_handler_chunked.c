/*
 * pyw_handler_chunked.c - PyWorkerChunkedRequest: a request body of
 * unknown length (chunked, or changed by an input filter such as
 * mod_deflate's) is refused, streamed, or read whole (spooled) before
 * any daemon is asked; a spool that fails is a status with one log line.
 * A Content-Length over LimitRequestBody is refused (413) here too.
 */
#include "apr_strings.h"
#include "httpd.h"
#include "http_core.h"
#include "http_protocol.h"

#include "pyw_config.h"
#include "pyw_handler_int.h"
#include "pyw_log.h"

#define PYW_HANDLER_SPOOL_KEY   "pyworker-spool"

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
                                    const char *what, apr_off_t limit,
                                    pyw_spool_result_e res, apr_status_t rv)
{
    r->connection->keepalive = AP_CONN_CLOSE;
    if (res == PYW_SPOOL_TOO_LARGE) {
        PYW_RLOG(APLOG_WARNING, 0, r, 150, g->name, 0L, "%s larger than "
                 "PyWorkerChunkedRequestLimit %" APR_OFF_T_FMT " bytes; 413",
                 what, limit);
        return HTTP_REQUEST_ENTITY_TOO_LARGE;
    }
    if (res == PYW_SPOOL_FILE) {
        PYW_RLOG(APLOG_ERR, rv, r, 151, g->name, 0L, "cannot spool the "
                 "%s to a temporary file in %s; 500", what,
                 pyw_spool_dir());
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (pyw_handler_over_core_limit(r, rv)) {
        PYW_RLOG(APLOG_WARNING, 0, r, 150, g->name, 0L, "%s larger than "
                 "LimitRequestBody %" APR_OFF_T_FMT " bytes; 413", what,
                 ap_get_limit_req_body(r));
        return rv == AP_FILTER_ERROR ? AP_FILTER_ERROR
                                     : HTTP_REQUEST_ENTITY_TOO_LARGE;
    }
    /* 400 bad chunk or client gone, 408 timeout; AP_FILTER_ERROR if
     * Apache's input filter already answered. */
    PYW_RLOG(APLOG_INFO, 0, r, 117, g->name, 0L, "cannot read the %s "
             "(%s); the application was not run", what,
             rv == AP_FILTER_ERROR ? "Apache's input filters rejected it "
             "and answered the client" : apr_psprintf(r->pool, "%pm", &rv));
    return ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
}

/* A body with a Content-Length that an input filter above the protocol
 * (mod_deflate's inflate, mod_sed...) may change: the length counts what
 * the client sent, not what the application will read.  Filters are in
 * type order: such a filter would come first. */
static int pyw_handler_body_transformed(request_rec *r)
{
    const char *cl = apr_table_get(r->headers_in, "Content-Length");

    return cl != NULL && strcmp(cl, "0") != 0 && r->input_filters != NULL
           && r->input_filters->frec->ftype < AP_FTYPE_PROTOCOL;
}

/*
 * PyWorkerChunkedRequest: a body of unknown length (chunked, or changed
 * by an input filter) is refused (Off, chunked only: 411), passed on as
 * it comes (Stream: no CONTENT_LENGTH, wsgi.input_terminated; then
 * *length_unknown), or, by default, read whole first so the app gets
 * CONTENT_LENGTH (*spool).  Other requests cost a table look-up or two.
 */
/* Content-Length over LimitRequestBody.  Apache's input filter refuses
 * such a body only when it is read: an application that does not read
 * it ran, and the body left unread then cost the client's connection.
 * mod_wsgi and mod_proxy refuse it before asking the backend. */
static int pyw_handler_over_body_limit(request_rec *r, apr_off_t *limit)
{
    const char *s = apr_table_get(r->headers_in, "Content-Length");
    apr_off_t cl;
    char *end;

    *limit = ap_get_limit_req_body(r);
    return *limit > 0 && s != NULL
           && apr_strtoff(&cl, s, &end, 10) == APR_SUCCESS && *end == '\0'
           && cl > *limit;
}

/* An ErrorDocument for a body refused as too large runs as an internal
 * redirect with the original's headers, while the refused body is still
 * on the connection: the error page would read it at its own, larger
 * limit.  It gets no body, as under mod_wsgi (whose read left Apache's
 * input filter refusing). */
static void pyw_handler_drop_refused_body(request_rec *r)
{
    if (r->prev == NULL || r->prev->status != HTTP_REQUEST_ENTITY_TOO_LARGE
        || (apr_table_get(r->headers_in, "Content-Length") == NULL
            && apr_table_get(r->headers_in, "Transfer-Encoding") == NULL)) {
        return;
    }
    r->headers_in = apr_table_copy(r->pool, r->headers_in);
    apr_table_unset(r->headers_in, "Content-Length");
    apr_table_unset(r->headers_in, "Transfer-Encoding");
}

int pyw_handler_chunked(request_rec *r, const pyw_group_t *g,
                        const pyw_dir_conf_t *d, pyw_spool_t **spool,
                        int *length_unknown)
{
    int mode = d == NULL || d->chunked_request == PYW_UNSET
               ? PYW_CHUNKED_SPOOL : d->chunked_request;
    const char *te, *what;
    apr_off_t limit;
    pyw_spool_result_e res;
    apr_status_t rv;
    int chunked;

    *spool = NULL;
    *length_unknown = 0;
    pyw_handler_drop_refused_body(r);
    te = apr_table_get(r->headers_in, "Transfer-Encoding");
    chunked = te != NULL && ap_find_last_token(r->pool, te, "chunked");
    what = chunked ? "chunked request body"
                   : "request body (changed by an input filter)";
    if (!chunked && pyw_handler_over_body_limit(r, &limit)) {
        r->connection->keepalive = AP_CONN_CLOSE;   /* the body is unread */
        PYW_RLOG(APLOG_WARNING, 0, r, 150, g->name, 0L, "request body "
                 "larger than LimitRequestBody %" APR_OFF_T_FMT " bytes "
                 "(Content-Length); 413", limit);
        return HTTP_REQUEST_ENTITY_TOO_LARGE;
    }
    if (!chunked && !pyw_handler_body_transformed(r)) {
        return OK;
    }
    if (mode == PYW_CHUNKED_STREAM) {
        *length_unknown = 1;
        return OK;
    }
    if (mode == PYW_CHUNKED_OFF && chunked) {
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
        return pyw_handler_spool_failed(r, g, what, limit, res, rv);
    }
    apr_pool_userdata_setn(*spool, PYW_HANDLER_SPOOL_KEY, NULL, r->pool);
    PYW_RLOG(APLOG_DEBUG, 0, r, 152, g->name, 0L, "%s read whole: %"
             APR_OFF_T_FMT " bytes (%s)", what, pyw_spool_size(*spool),
             pyw_spool_on_disk(*spool) ? "temporary file" : "memory");
    return OK;
}

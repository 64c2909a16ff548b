/*
 * pyw_handler_outcome.c - what happened to a forwarded request, mapped
 * to a status in ONE place (pyw_handler_outcome), with one log line per
 * failure:
 *
 *   no connection within connect-timeout  -> 503 + Retry-After
 *   daemon closed / broke the protocol    -> 502   before the response
 *   no answer within socket-timeout       -> 504   started; after it, the
 *   request-timeout passed                -> 504     response is aborted
 *   queue-limit reached (nothing sent)    -> 503 + Retry-After
 *   ERROR frame from the daemon           -> its     and the status kept
 *                                            status (503 + Retry-After:
 *                                            queue-timeout)
 *   client body unreadable                -> 413 / 400 / 408
 *   an error status under error override  -> that status, for Apache's
 *                                            error document
 *   200 with a local Location (handler)   -> OK: the handler redirects
 *   client gone                           -> nothing to answer
 *
 * (A chunked body over the spool limit, 413, or whose temporary file
 * failed, 500, is refused before any daemon: pyw_handler_chunked.c.)
 */
#include <errno.h>
#include <signal.h>

#include "apr_strings.h"
#include "httpd.h"
#include "ap_mpm.h"

#include "pyw_config.h"
#include "pyw_handler_int.h"
#include "pyw_log.h"
#include "pyw_procmgr.h"
#include "pyw_status_page.h"
#include "../common/pyw_metrics.h"

/* A timeout for log lines: "15" or "2.5" (seconds). */
static const char *pyw_handler_secs(apr_pool_t *p, int64_t ms)
{
    if (ms % 1000 == 0) {
        return apr_psprintf(p, "%" APR_INT64_T_FMT, ms / 1000);
    }
    return apr_psprintf(p, "%.3g", (double)ms / 1000);
}

int64_t pyw_handler_socket_timeout(request_rec *r, const pyw_group_t *g)
{
    const char *set = apr_table_get(r->notes, PYW_HANDLER_TIMEOUT_NOTE);

    if (set != NULL) {
        return apr_atoi64(set);
    }
    return g->socket_timeout_ms > 0 ? g->socket_timeout_ms
                                    : apr_time_as_msec(r->server->timeout);
}

/* The name of the setting pyw_handler_socket_timeout took. */
static const char *pyw_handler_timeout_name(request_rec *r)
{
    const char *from = apr_table_get(r->notes, PYW_HANDLER_TIMEOUT_FROM);

    return from != NULL ? from : "socket-timeout";
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
                            "%s of %s s%s", pid, pyw_handler_timeout_name(r),
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

/*
 * A daemon closes a response it cannot send when Apache took none of it
 * for the group's response-socket-timeout (a client that stopped
 * reading holds Apache in its pass): it gave up on the client, said so
 * (PYW0326) and serves on.  Apache sees the same end of stream as from a
 * daemon that exited; what tells them apart is a pass to the client that
 * long before it (the daemon's wait starts after Apache stops reading,
 * so it fits in Apache's; a tenth of slack for timer rounding) and the
 * pid still being there.
 */
static int pyw_handler_daemon_gave_up(const pyw_group_t *g, long pid,
                                      const pyw_forward_outcome_t *o)
{
    int64_t limit = pyw_config_response_write_ms(g);

    if (!o->committed || (o->err != -ECONNRESET && o->err != -EPIPE)
        || o->client_wait_ms < limit - limit / 10 || pid <= 0) {
        return 0;
    }
    return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

static int pyw_handler_daemon_failed(request_rec *r, const pyw_group_t *g,
                                     long pid,
                                     const pyw_forward_outcome_t *o)
{
    const char *cause = pyw_handler_daemon_cause(r, g, pid, o);

    if ((o->err == -ECONNRESET || o->err == -EPIPE)
        && pyw_pm_stopping()) {
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
    if (pyw_handler_daemon_gave_up(g, pid, o)) {
        PYW_RLOG(APLOG_INFO, 0, r, 125, g->name, pid, "daemon pid %ld "
                 "closed the connection in the middle of the response: "
                 "it gave up on a slow client (Apache waited %s s for "
                 "it, response-socket-timeout is %s s; the daemon's "
                 "PYW0326 says so); response to the client aborted", pid,
                 pyw_handler_secs(r->pool, o->client_wait_ms),
                 pyw_handler_secs(r->pool,
                                  pyw_config_response_write_ms(g)));
        return OK;
    }
    if (o->committed) {
        PYW_RLOG(APLOG_ERR, 0, r, 114, g->name, pid, "%s; response to the "
                 "client aborted", cause);
        pyw_status_proc_error(g, pid, 114, cause);
        return OK;
    }
    if (o->result == PYW_FWD_TIMEOUT) {
        PYW_RLOG(APLOG_ERR, 0, r, 113, g->name, pid, "%s", cause);
        pyw_status_proc_error(g, pid, 113, cause);
        return HTTP_GATEWAY_TIME_OUT;
    }
    PYW_RLOG(APLOG_ERR, 0, r, o->err == -EPROTO ? 112 : 111, g->name, pid,
             "%s", cause);
    pyw_status_proc_error(g, pid, o->err == -EPROTO ? 112 : 111, cause);
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
    if (pid) {
        pyw_status_proc_error(g, pid, 141, "request-timeout passed while "
                              "the daemon had the request");
    }
    return o->committed ? OK : HTTP_GATEWAY_TIME_OUT;
}

static int pyw_handler_app_error(request_rec *r, const pyw_group_t *g,
                                 long pid, const pyw_forward_outcome_t *o)
{
    char what[PYW_METRICS_TEXT];

    /* The daemon already logged the cause with its own code (traceback,
     * queue-timeout). */
    PYW_RLOG(APLOG_DEBUG, 0, r, 115, g->name, pid, "application error %d "
             "(%s)%s", o->status, o->reason ? o->reason : "",
             o->committed ? "; response to the client aborted" : "");
    if (o->status >= 500) {
        apr_snprintf(what, sizeof(what), "application error %d (%s)",
                     o->status, o->reason ? o->reason : "");
        pyw_status_proc_error(g, pid, 115, what);
    }
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

int pyw_handler_outcome(request_rec *r, const pyw_group_t *g,
                        long pid, const pyw_forward_outcome_t *o)
{
    const char *gn = g->name;

    switch (o->result) {
    case PYW_FWD_OK:
        if (o->head_cut) {
            PYW_RLOG(APLOG_DEBUG, 0, r, 124, gn, pid, "HEAD: the headers "
                     "are out; the rest of the application's response is "
                     "not waited for (connection closed: the daemon stops "
                     "the application at its next write, PYW0326)");
        }
        return OK;
    case PYW_FWD_NO_BACKEND:
        pyw_handler_no_backend(r, g, o);
        return pyw_handler_unavailable(r, g);
    case PYW_FWD_NOT_RUN:
        if (o->apache_stopping && pid <= 0) {
            PYW_RLOG(APLOG_INFO, 0, r, 119, gn, 0L, "the group's daemons "
                     "stop with Apache (stop or hard restart) and none "
                     "took the request; answering 503");
            return pyw_handler_unavailable(r, g);
        }
        if (o->apache_stopping) {
            PYW_RLOG(APLOG_INFO, 0, r, 119, gn, pid, "daemon pid %ld "
                     "stopped with Apache (stop or hard restart) before "
                     "running the request; answering 503", pid);
            return pyw_handler_unavailable(r, g);
        }
        PYW_RLOG(APLOG_ERR, 0, r, 142, gn, pid, "no daemon took the "
                 "request: it was turned down %d times, last by daemon pid "
                 "%ld (%s)", PYW_HANDLER_SEND_MAX, pid,
                 o->reason ? o->reason : "?");
        pyw_status_proc_error(g, pid, 142, "turned the request down, the "
                              "last of several daemons asked");
        return pyw_handler_unavailable(r, g);
    case PYW_FWD_REQUEST_TIMEOUT:
        return pyw_handler_request_timeout(r, g, pid, o);
    case PYW_FWD_QUEUE_FULL:
        PYW_RLOG(APLOG_WARNING, 0, r, 143, gn, 0L, "queue-limit reached: "
                 "%s; 503 without waiting", o->reason);
        return pyw_handler_unavailable(r, g);
    case PYW_FWD_SEND_FAILED:
    case PYW_FWD_DAEMON_GONE:
    case PYW_FWD_TIMEOUT:
        return pyw_handler_daemon_failed(r, g, pid, o);
    case PYW_FWD_APP_ERROR:
        return pyw_handler_app_error(r, g, pid, o);
    case PYW_FWD_OVERRIDDEN:
        PYW_RLOG(APLOG_DEBUG, 0, r, 120, gn, pid, "the application "
                 "answered %d: Apache's error document replaces its "
                 "response (error override; %s)", o->status,
                 o->backend_clean ? "its body was read and discarded"
                 : "its body was too long to read: connection closed");
        if (o->status == HTTP_UNAUTHORIZED
            && apr_table_get(r->err_headers_out, "WWW-Authenticate") == NULL) {
            PYW_RLOG(APLOG_WARNING, 0, r, 122, gn, pid, "the application "
                     "answered 401 without WWW-Authenticate: the error "
                     "document goes out with no challenge, so a browser "
                     "cannot ask for a login");
        }
        return o->status;
    case PYW_FWD_REDIRECT:
        PYW_RLOG(APLOG_DEBUG, 0, r, 126, gn, pid, "the application "
                 "answered 200 with Location: %s: Apache serves that URL "
                 "instead, as a GET (internal redirect; %s)", o->location,
                 o->backend_clean ? "its response was read and discarded"
                 : "its body was too long to read: connection closed");
        return OK;
    case PYW_FWD_CLIENT_GONE:
        if (o->status == AP_FILTER_ERROR) {
            PYW_RLOG(APLOG_WARNING, 0, r, 123, gn, pid, "an output filter "
                     "refused the application's response and answered the "
                     "client itself (its own line says why)");
            return AP_FILTER_ERROR;
        }
        PYW_RLOG(APLOG_INFO, 0, r, 116, gn, pid, "client went away while "
                 "the response was being sent");
        return OK;
    case PYW_FWD_BODY_ERROR:
        PYW_RLOG(APLOG_INFO, 0, r, 117, gn, pid, "cannot read the request "
                 "body (%s); the application was told (BODY_ABORT)",
                 o->reason ? o->reason : "?");
        return o->committed ? OK : o->status;
    case PYW_FWD_ENV_TOO_LARGE:
    default:
        PYW_RLOG(APLOG_ERR, 0, r, 118, gn, pid, "the request's environment "
                 "exceeds the protocol limit of %u bytes",
                 (unsigned)PYW_MAX_REQUEST_PAYLOAD);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
}

/* A few words on a failure for the status page's "last error". */
const char *pyw_handler_what(request_rec *r,
                             const pyw_forward_outcome_t *o)
{
    switch (o->result) {
    case PYW_FWD_NO_BACKEND:
        return "no daemon connection within connect-timeout";
    case PYW_FWD_NOT_RUN:
        return "no daemon took the request";
    case PYW_FWD_REQUEST_TIMEOUT:
        return "request-timeout passed";
    case PYW_FWD_QUEUE_FULL:
        return "queue-limit reached";
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

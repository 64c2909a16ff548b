/*
 * pyw_forward_outcome.c - how an exchange that did not end with END is
 * described in the outcome (never logged here: the caller maps it to one
 * status and one log line): the daemon failed or broke the protocol, it
 * let go of the request without running it (GOODBYE, reset), the
 * application answered ERROR, or the client body had failed.
 */
#include <errno.h>

#include "apr_strings.h"
#include "httpd.h"

#include "../common/pyw_io.h"
#include "../common/pyw_proto.h"
#include "pyw_forward_int.h"

/* ---- failures ---- */

int pyw_forward_daemon_failed(pyw_fwd_t *fw, int rc,
                              const char *reason)
{
    pyw_forward_outcome_t *out = fw->out;

    out->result = rc != -ETIMEDOUT ? PYW_FWD_DAEMON_GONE
                  : pyw_io_now_ms() >= fw->request_deadline
                  ? PYW_FWD_REQUEST_TIMEOUT : PYW_FWD_TIMEOUT;
    out->err = rc;
    out->reason = reason ? reason
                  : rc == -EPROTO ? fw->b->stream.err : NULL;
    out->backend_clean = 0;
    pyw_forward_abort_client(fw);
    return PYW_FWD_STOP;
}

int pyw_forward_protocol_error(pyw_fwd_t *fw, const char *reason)
{
    return pyw_forward_daemon_failed(fw, -EPROTO, reason);
}

/* The daemon let go of the connection without taking the REQUEST: nothing
 * ran, no body was read, nothing reached the client. */
int pyw_forward_not_run(pyw_fwd_t *fw, int rc, const char *reason)
{
    fw->out->result = PYW_FWD_NOT_RUN;
    fw->out->err = rc;
    fw->out->reason = reason;
    fw->out->backend_clean = 0;
    return PYW_FWD_STOP;
}

/* Why the client body could not be read, in plain words. */
static const char *pyw_forward_body_reason(pyw_fwd_t *fw)
{
    apr_status_t rv = fw->body_rv;
    const char *what = "";

    if (rv == AP_FILTER_ERROR) {
        return "Apache's input filters rejected it and answered the client";
    }
    if (rv == APR_INCOMPLETE || APR_STATUS_IS_EOF(rv)
        || APR_STATUS_IS_ECONNRESET(rv) || APR_STATUS_IS_ECONNABORTED(rv)) {
        what = "the client closed the connection before sending all of "
               "it: ";
    }
    else if (APR_STATUS_IS_TIMEUP(rv)) {
        what = "the client sent none of the rest within Timeout: ";
    }
    return apr_psprintf(fw->r->pool, "%s%pm", what, &rv);
}

/* The exchange ended cleanly but the client body had failed earlier. */
int pyw_forward_body_result(pyw_fwd_t *fw)
{
    fw->out->result = PYW_FWD_BODY_ERROR;
    fw->out->status = fw->body_status;
    fw->out->reason = pyw_forward_body_reason(fw);
    return PYW_FWD_STOP;
}

/* ---- ERROR and GOODBYE ---- */

int pyw_forward_on_error(pyw_fwd_t *fw, const pyw_frame_t *f)
{
    pyw_forward_outcome_t *out = fw->out;
    const unsigned char *p;
    const char *err = NULL;
    pyw_slice_t reason;
    uint16_t status;
    int rc;

    rc = pyw_stream_payload(&fw->b->stream, &p, pyw_forward_deadline(fw));
    if (rc < 0) {
        return pyw_forward_daemon_failed(fw, rc, NULL);
    }
    if (pyw_error_decode(p, f->length, &status, &reason, &err) < 0) {
        return pyw_forward_protocol_error(fw, err);
    }
    out->backend_clean = 1;
    if (fw->body_status) {
        return pyw_forward_body_result(fw);
    }
    out->result = PYW_FWD_APP_ERROR;
    out->status = status >= 400 && status <= 599
                  ? status : HTTP_INTERNAL_SERVER_ERROR;
    out->reason = apr_pstrmemdup(fw->r->pool, reason.data, reason.len);
    pyw_forward_abort_client(fw);
    return PYW_FWD_STOP;
}

/* GOODBYE is only valid instead of the first response frame. */
int pyw_forward_on_goodbye(pyw_fwd_t *fw, const pyw_frame_t *f)
{
    if (fw->frames > 1) {
        return pyw_forward_protocol_error(fw, "GOODBYE in the middle of "
                                          "a request");
    }
    fw->out->apache_stopping = (f->flags & PYW_GOODBYE_APACHE_STOP) != 0;
    return pyw_forward_not_run(fw, 0, "the daemon said GOODBYE (it is "
                               "closing this connection)");
}

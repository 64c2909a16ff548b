/*
 * pyw_forward_int.h - private to the files of pyw_forward_request():
 * the state of one exchange and the frame handlers they share.
 *
 *   pyw_forward.c           the exchange: REQUEST, first wait, frame loop
 *   pyw_forward_env.c       the environ and the REQUEST frame
 *   pyw_forward_body.c      READ: the client body, or the spooled one
 *   pyw_forward_response.c  HEADERS, DATA, END: the client response
 *   pyw_forward_file.c      FILE: a body from a passed descriptor
 *   pyw_forward_outcome.c   failures, ERROR and GOODBYE in the outcome
 *   pyw_forward_override.c  an error status Apache answers itself, and
 *                           a local redirect (200 + Location: /path)
 *
 * A handler returns PYW_FWD_CONTINUE (read the next frame) or
 * PYW_FWD_STOP (the outcome is set).
 */
#ifndef PYW_FORWARD_INT_H
#define PYW_FORWARD_INT_H

#include <sys/uio.h>

#include "apr_buckets.h"
#include "apr_strings.h"
#include "httpd.h"

#include "../common/pyw_io.h"
#include "../common/pyw_proto.h"
#include "pyw_body_in.h"
#include "pyw_forward.h"

#define PYW_FWD_CONTINUE  0
#define PYW_FWD_STOP      1

typedef struct {
    request_rec           *r;
    pyw_backend_t         *b;
    pyw_forward_outcome_t *out;
    int64_t                timeout_ms;  /* socket-timeout                */
    int64_t                request_deadline; /* request-timeout, or none */
    int                    frames;      /* response frames read so far   */
    pyw_body_in_t          body_in;     /* client body; r NULL: unread   */
    apr_bucket_brigade    *ibb;         /* client body, reused per READ  */
    apr_bucket_brigade    *obb;         /* response, reused per pass     */
    struct iovec          *iov;         /* BODY frame pieces, reused     */
    int                    iov_cap;
    int                    iov_len;
    int                    body_done;   /* the client body's EOS was seen */
    int                    body_status; /* non-zero: the body failed     */
    apr_status_t           body_rv;
    pyw_spool_t           *spool;       /* the body read whole, or NULL  */
    apr_off_t              spool_off;   /* next spooled byte to send     */
    int                    discard;     /* drain frames, pass nothing    */
    int                    aborted;     /* client response aborted       */
    int                    have_headers;
    int                    file_body;   /* body bytes from a FILE frame  */
    apr_size_t             held;        /* DATA bytes copied, not passed */
    apr_off_t              length;      /* the response's Content-Length,
                                           -1: none                      */
    apr_off_t              body_bytes;  /* DATA and FILE bytes passed    */
    int                  (*error_override)(request_rec *r, int status);
    int                    local_redirect; /* opts->local_redirect      */
    int                    overriding;  /* error override or a local
                                           redirect: drain to END        */
    apr_off_t              drained;     /* body bytes discarded for it   */
    /* The response head, applied to r at commit. */
    int                    status;
    const char            *status_line;
    const char            *content_type;
    apr_table_t           *headers;
} pyw_fwd_t;

/* A HEAD whose headers went down the filters: it ends there
 * (pyw_forward_head_end).  Nothing but EOS may follow them: body bytes
 * passed after them are dropped by HTTP/1's header filter, but mod_http2
 * drops only the first brigade's and sends the rest as DATA frames,
 * which HTTP/2 forbids on a HEAD stream (clients reset it). */
static inline int pyw_forward_head_sent(const pyw_fwd_t *fw)
{
    return fw->r->header_only && fw->out->committed;
}

static inline int64_t pyw_forward_deadline(const pyw_fwd_t *fw)
{
    int64_t d = pyw_io_deadline(fw->timeout_ms);

    return d < fw->request_deadline ? d : fw->request_deadline;
}

/* pyw_forward_response.c */
void pyw_forward_abort_client(pyw_fwd_t *fw);
int pyw_forward_pass(pyw_fwd_t *fw);
int pyw_forward_on_headers(pyw_fwd_t *fw);
int pyw_forward_on_data(pyw_fwd_t *fw);
int pyw_forward_on_end(pyw_fwd_t *fw);
int pyw_forward_count(pyw_fwd_t *fw, apr_off_t n, int at_end);
int pyw_forward_skip(pyw_fwd_t *fw);
int pyw_forward_head_end(pyw_fwd_t *fw);

/* pyw_forward_override.c */
void pyw_forward_override_begin(pyw_fwd_t *fw);
int pyw_forward_override_data(pyw_fwd_t *fw);
int pyw_forward_override_end(pyw_fwd_t *fw);

/* pyw_forward_outcome.c */
int pyw_forward_daemon_failed(pyw_fwd_t *fw, int rc, const char *reason);
int pyw_forward_protocol_error(pyw_fwd_t *fw, const char *reason);
int pyw_forward_not_run(pyw_fwd_t *fw, int rc, const char *reason);
int pyw_forward_body_result(pyw_fwd_t *fw);
int pyw_forward_on_error(pyw_fwd_t *fw, const pyw_frame_t *f);
int pyw_forward_on_goodbye(pyw_fwd_t *fw, const pyw_frame_t *f);

/* pyw_forward_env.c */
int pyw_forward_send_request(pyw_fwd_t *fw, const pyw_forward_opts_t *opts);

/* pyw_forward_body.c */
int pyw_forward_on_read(pyw_fwd_t *fw, const pyw_frame_t *f);

/* pyw_forward_file.c */
int pyw_forward_on_file(pyw_fwd_t *fw, const pyw_frame_t *f);

#endif /* PYW_FORWARD_INT_H */

/*
 * pyw_forward_body.c - READ frames: the daemon asks for up to n bytes of
 * the request body; they come from the client through Apache's input
 * filters (which send "100 Continue"), or from the body spooled whole
 * (pyw_spool.h), and go back as one BODY frame, or BODY_ABORT when the
 * body failed.
 */
#include <string.h>
#include <sys/uio.h>

#include "httpd.h"
#include "http_protocol.h"
#include "util_filter.h"

#include "../common/pyw_io.h"
#include "../common/pyw_proto.h"
#include "pyw_forward_int.h"
#include "pyw_spool.h"

static int pyw_forward_send_empty(pyw_fwd_t *fw, pyw_frame_type_e type)
{
    unsigned char hdr[PYW_FRAME_HEADER_SIZE];
    int rc;

    pyw_frame_header_put(hdr, sizeof(hdr), type, 0);
    rc = pyw_io_write_full(fw->b->fd, hdr, sizeof(hdr),
                           pyw_forward_deadline(fw));
    return rc < 0 ? pyw_forward_daemon_failed(fw, rc, NULL)
                  : PYW_FWD_CONTINUE;
}

static void pyw_forward_iov_add(pyw_fwd_t *fw, const void *p, size_t len)
{
    struct iovec *n;

    if (fw->iov_len == fw->iov_cap) {
        n = apr_palloc(fw->r->pool, 2 * fw->iov_cap * sizeof(*n));
        memcpy(n, fw->iov, fw->iov_len * sizeof(*n));
        fw->iov = n;
        fw->iov_cap *= 2;
    }
    fw->iov[fw->iov_len].iov_base = (void *)p;
    fw->iov[fw->iov_len++].iov_len = len;
}

/* Collect the data buckets of fw->ibb as iovecs (slot 0 is left for the
 * frame header) and note EOS.  *len: data bytes. */
static apr_status_t pyw_forward_collect(pyw_fwd_t *fw, apr_size_t *len)
{
    apr_bucket *e;
    const char *data;
    apr_size_t n;
    apr_status_t rv;

    for (e = APR_BRIGADE_FIRST(fw->ibb); e != APR_BRIGADE_SENTINEL(fw->ibb);
         e = APR_BUCKET_NEXT(e)) {
        if (APR_BUCKET_IS_EOS(e)) {
            fw->body_done = 1;
        }
        if (APR_BUCKET_IS_METADATA(e)) {
            continue;
        }
        rv = apr_bucket_read(e, &data, &n, APR_BLOCK_READ);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        if (n > 0) {
            pyw_forward_iov_add(fw, data, n);
            *len += n;
        }
    }
    return APR_SUCCESS;
}

/* Read up to want body bytes (at least one, or EOS).  Apache's HTTP_IN
 * filter sends "100 Continue" here if the client expects it. */
static apr_status_t pyw_forward_read_client(pyw_fwd_t *fw, apr_size_t want,
                                            apr_size_t *len)
{
    apr_status_t rv;

    if (fw->body_in.r == NULL) {
        pyw_body_in_init(&fw->body_in, fw->r);
    }
    fw->iov_len = 1;
    *len = 0;
    apr_brigade_cleanup(fw->ibb);
    rv = pyw_body_in_read(&fw->body_in, fw->ibb, want);
    return rv == APR_SUCCESS ? pyw_forward_collect(fw, len) : rv;
}

static int pyw_forward_send_body(pyw_fwd_t *fw, apr_size_t len)
{
    unsigned char hdr[PYW_FRAME_HEADER_SIZE];
    int rc;

    pyw_frame_header_put(hdr, sizeof(hdr), PYW_FRAME_BODY, (uint32_t)len);
    fw->iov[0].iov_base = hdr;
    fw->iov[0].iov_len = sizeof(hdr);
    rc = pyw_io_writev_full(fw->b->fd, fw->iov, fw->iov_len,
                            pyw_forward_deadline(fw));
    apr_brigade_cleanup(fw->ibb);
    fw->out->body_sent += len;
    return rc < 0 ? pyw_forward_daemon_failed(fw, rc, NULL)
                  : PYW_FWD_CONTINUE;
}

/* A READ answered from the spooled body.  Its file failing to read is a
 * body failure like a client's (500): the app gets BODY_ABORT. */
static int pyw_forward_read_spool(pyw_fwd_t *fw, uint32_t want)
{
    const char *data;
    long n;

    fw->iov_len = 1;
    n = pyw_spool_peek(fw->spool, fw->spool_off, want, &data);
    if (n < 0) {
        fw->body_rv = APR_FROM_OS_ERROR(-n);
        fw->body_status = HTTP_INTERNAL_SERVER_ERROR;
        return pyw_forward_send_empty(fw, PYW_FRAME_BODY_ABORT);
    }
    if (n > 0) {
        pyw_forward_iov_add(fw, data, (size_t)n);
        fw->spool_off += n;
    }
    return pyw_forward_send_body(fw, (apr_size_t)n);
}

int pyw_forward_on_read(pyw_fwd_t *fw, const pyw_frame_t *f)
{
    const unsigned char *p;
    const char *err = NULL;
    apr_size_t len;
    apr_status_t rv;
    uint32_t want;
    int rc;

    rc = pyw_stream_payload(&fw->b->stream, &p, pyw_forward_deadline(fw));
    if (rc < 0) {
        return pyw_forward_daemon_failed(fw, rc, NULL);
    }
    if (pyw_read_decode(p, f->length, &want, &err) < 0) {
        return pyw_forward_protocol_error(fw, err);
    }
    if (fw->body_status) {
        return pyw_forward_send_empty(fw, PYW_FRAME_BODY_ABORT);
    }
    if (fw->body_done) {
        return pyw_forward_send_empty(fw, PYW_FRAME_BODY);
    }
    want = want == 0 ? 1 : want > PYW_MAX_DATA_PAYLOAD
                           ? PYW_MAX_DATA_PAYLOAD : want;
    if (fw->spool != NULL) {
        return pyw_forward_read_spool(fw, want);
    }
    rv = pyw_forward_read_client(fw, want, &len);
    if (rv != APR_SUCCESS) {
        /* 413 over LimitRequestBody, 400 bad chunk or client gone, 408
         * timeout; AP_FILTER_ERROR if HTTP_IN already answered. */
        apr_brigade_cleanup(fw->ibb);
        fw->body_rv = rv;
        fw->body_status = ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
        pyw_forward_abort_client(fw);
        return pyw_forward_send_empty(fw, PYW_FRAME_BODY_ABORT);
    }
    return pyw_forward_send_body(fw, len);
}

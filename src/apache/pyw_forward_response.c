/*
 * pyw_forward_response.c - the client's response: HEADERS are kept until
 * the first brigade is passed ("commit"), so a failure before that can
 * still get an error status; DATA is passed as it comes (held back only
 * when END is already here, so a small response gets Content-Length);
 * END passes EOS.  A response already started that fails is aborted.
 * A HEAD ends as soon as its headers are committed (pyw_forward_head_end).
 */
#include <stdlib.h>
#include <string.h>

#include "apr_lib.h"
#include "apr_strings.h"
#include "httpd.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include "../common/pyw_io.h"
#include "../common/pyw_proto.h"
#include "pyw_forward_int.h"

#define PYW_FWD_HOLD_MAX  (64 * 1024) /* response bytes held for END     */

/* ---- the client side ---- */

/* A started response cannot get an error status any more: end it so the
 * client sees it is broken (no last-chunk, short Content-Length body). */
void pyw_forward_abort_client(pyw_fwd_t *fw)
{
    request_rec *r = fw->r;
    conn_rec *c = r->connection;

    fw->discard = 1;
    if (fw->aborted || !fw->out->committed) {
        return;
    }
    fw->aborted = 1;
    /* Not a response to keep: mod_cache would store the part sent and
     * serve it later as whole (mod_proxy says the same for a backend
     * that broke). */
    r->no_cache = 1;
    if (r->main != NULL) {
        r->main->no_cache = 1;
    }
    apr_brigade_cleanup(fw->obb);
    APR_BRIGADE_INSERT_TAIL(fw->obb,
                            ap_bucket_error_create(HTTP_BAD_GATEWAY, NULL,
                                                   r->pool,
                                                   c->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(fw->obb, apr_bucket_eos_create(c->bucket_alloc));
    c->keepalive = AP_CONN_CLOSE;
    ap_pass_brigade(r->output_filters, fw->obb);
    apr_brigade_cleanup(fw->obb);
}

/* An ErrorDocument the application serves (Apache's internal redirect
 * after an error, which hands the error's status on): its "200 OK"
 * keeps that status, as a static error page does; another status wins. */
static int pyw_forward_error_page(const request_rec *r, int status)
{
    return r->prev != NULL && ap_is_HTTP_ERROR(r->status)
           && status == HTTP_OK;
}

/* Apache's byterange filter ranges any 200 whose whole body (EOS
 * included) is in the first brigade it sees.  Only a file body is ranged
 * (wsgi.file_wrapper, as a static file): a body the application builds
 * reaches that filter whole only when it is small and its END came with
 * it, so it would be ranged or not by size and timing, and it seldom has
 * a validator for If-Range (mod_wsgi never ranges it).  Nor is a body
 * whose application did not offer byte ranges ("Accept-Ranges: none").
 * The filter is taken out of the chain, only for a request that asks for
 * a range; a subrequest's body is part of another response. */
static void pyw_forward_ranges(pyw_fwd_t *fw)
{
    request_rec *r = fw->r;
    const char *offered;

    if (r->status != HTTP_OK || r->main != NULL
        || (apr_table_get(r->headers_in, "Range") == NULL
            && apr_table_get(r->headers_in, "Request-Range") == NULL)) {
        return;
    }
    offered = apr_table_get(fw->headers, "Accept-Ranges");
    if (fw->file_body
        && (offered == NULL || ap_find_token(r->pool, offered, "bytes"))) {
        return;
    }
    ap_remove_output_filter_byhandle(r->output_filters, "BYTERANGE");
}

static void pyw_forward_commit(pyw_fwd_t *fw)
{
    request_rec *r = fw->r;

    if (!pyw_forward_error_page(r, fw->status)) {
        r->status = fw->status;
        r->status_line = fw->status_line;
    }
    /* Only the app decides the type: not mod_mime from the script name. */
    if (fw->content_type == NULL) {
        r->content_type = NULL;
    }
    else {
#if AP_MODULE_MAGIC_AT_LEAST(20120211, 132)
        ap_set_content_type_ex(r, fw->content_type, 0);
#else
        ap_set_content_type(r, fw->content_type);
#endif
    }
    r->headers_out = apr_table_overlay(r->pool, r->headers_out, fw->headers);
    pyw_forward_ranges(fw);
    fw->out->committed = 1;
}

int pyw_forward_pass(pyw_fwd_t *fw)
{
    apr_status_t rv;
    int64_t waited;

    if (!fw->out->committed) {
        pyw_forward_commit(fw);
    }
    /* While a pass blocks on the client, nothing is read from the
     * daemon: its response-socket-timeout runs (pyw_handler_outcome). */
    waited = pyw_io_now_ms();
    rv = ap_pass_brigade(fw->r->output_filters, fw->obb);
    apr_brigade_cleanup(fw->obb);
    waited = pyw_io_now_ms() - waited;
    if (waited > fw->out->client_wait_ms) {
        fw->out->client_wait_ms = waited;
    }
    if (rv == APR_SUCCESS) {
        return PYW_FWD_CONTINUE;
    }
    /* AP_FILTER_ERROR: a filter already answered (e.g. bad headers). */
    fw->out->result = PYW_FWD_CLIENT_GONE;
    fw->out->status = rv == AP_FILTER_ERROR ? AP_FILTER_ERROR : 0;
    fw->discard = 1;
    return PYW_FWD_STOP;
}

/* ---- the response ---- */

int pyw_forward_skip(pyw_fwd_t *fw)
{
    int rc = pyw_stream_skip_payload(&fw->b->stream,
                                     pyw_forward_deadline(fw));

    return rc < 0 ? pyw_forward_daemon_failed(fw, rc, NULL)
                  : PYW_FWD_CONTINUE;
}

/* "200 OK" from the application: Apache's own constant when the reason
 * is the standard one (most responses), else a copy; NULL: no reason. */
static const char *pyw_forward_status_line(apr_pool_t *pool, int status,
                                           pyw_slice_t reason)
{
    const char *std = ap_get_status_line(status);

    if (reason.len == 0) {
        /* "299 ", kept: without a line of ours Apache would send its
         * own, "500 Internal Server Error" for a code it does not know. */
        return atoi(std) == status ? NULL
                                   : apr_psprintf(pool, "%03d ", status);
    }
    if (atoi(std) == status && strlen(std) == reason.len + 4
        && memcmp(std + 4, reason.data, reason.len) == 0) {
        return std;
    }
    return apr_psprintf(pool, "%03d %.*s", status, (int)reason.len,
                        reason.data);
}

/* Content-Length, kept once: the body is held to it (pyw_forward_count).
 * An error reason, or NULL. */
static const char *pyw_forward_length(pyw_fwd_t *fw, const char *value)
{
    apr_off_t n;
    char *end;

    if (apr_strtoff(&n, value, &end, 10) != APR_SUCCESS || *end != '\0'
        || n < 0 || !apr_isdigit(*value)) {
        return "HEADERS with an invalid Content-Length";
    }
    if (fw->length >= 0 && fw->length != n) {
        return "HEADERS with two different Content-Length values";
    }
    fw->length = n;
    apr_table_setn(fw->headers, "Content-Length", value);
    return NULL;
}

/* Body bytes going to the client: never more than the Content-Length
 * (nor, at END, fewer), whatever the daemon sends.  HEAD, 204 and 304
 * have no body of their own to count.  PYW_FWD_CONTINUE, or the
 * protocol error that aborts the client's response. */
int pyw_forward_count(pyw_fwd_t *fw, apr_off_t n, int at_end)
{
    if (fw->length < 0 || fw->r->header_only || fw->status == HTTP_NO_CONTENT
        || fw->status == HTTP_NOT_MODIFIED) {
        return PYW_FWD_CONTINUE;
    }
    fw->body_bytes += n;
    if (fw->body_bytes > fw->length) {
        return pyw_forward_protocol_error(fw, "more body than its "
                                          "Content-Length");
    }
    if (at_end && fw->body_bytes < fw->length) {
        return pyw_forward_protocol_error(fw, "END before the whole "
                                          "Content-Length");
    }
    return PYW_FWD_CONTINUE;
}

static int pyw_forward_headers_decode(pyw_fwd_t *fw, const unsigned char *p,
                                      size_t len)
{
    apr_pool_t *pool = fw->r->pool;
    const unsigned char *rest;
    const char *err = NULL, *name, *value;
    pyw_slice_t reason, n, v;
    pyw_pair_iter_t it;
    size_t rest_len;
    uint16_t status;
    int rc, fields = 0;

    if (pyw_status_decode(p, len, &status, &reason, &rest, &rest_len,
                          &err) < 0) {
        return pyw_forward_protocol_error(fw, err);
    }
    if (status < 200 || status > 599) {
        return pyw_forward_protocol_error(fw, "HEADERS status out of range");
    }
    fw->status = status;
    fw->status_line = pyw_forward_status_line(pool, status, reason);
    fw->headers = apr_table_make(pool, 8);
    pyw_pair_iter_init(&it, rest, rest_len);
    while ((rc = pyw_pair_next(&it, &n, &v, &err)) == 1) {
        if (++fields > PYW_MAX_RESPONSE_HEADERS) {
            return pyw_forward_protocol_error(fw, apr_psprintf(pool,
                "HEADERS has more than %d fields", PYW_MAX_RESPONSE_HEADERS));
        }
        name = apr_pstrmemdup(pool, n.data, n.len);
        value = apr_pstrmemdup(pool, v.data, v.len);
        if (strcasecmp(name, "Content-Type") == 0) {
            fw->content_type = value;
        }
        else if (strcasecmp(name, "Content-Length") == 0) {
            if ((err = pyw_forward_length(fw, value)) != NULL) {
                return pyw_forward_protocol_error(fw, err);
            }
        }
        else if (pyw_hop_by_hop(n.data, n.len)) {
            /* Apache frames the connection itself.  start_response
             * refuses these, but the daemon runs the tenant's code,
             * which may write frames of its own: a Transfer-Encoding
             * passed on would smuggle a second response onto the
             * client's keep-alive connection.  Dropped, as mod_proxy
             * does. */
            continue;
        }
        else {
            /* addn: repeated headers (Set-Cookie) stay separate. */
            apr_table_addn(fw->headers, name, value);
        }
    }
    return rc < 0 ? pyw_forward_protocol_error(fw, err) : PYW_FWD_CONTINUE;
}

int pyw_forward_on_headers(pyw_fwd_t *fw)
{
    const unsigned char *p;
    size_t len = fw->b->stream.payload_left;
    int rc;

    if (fw->have_headers) {
        return pyw_forward_protocol_error(fw, "a second HEADERS frame");
    }
    fw->have_headers = 1;
    if (fw->discard) {
        return pyw_forward_skip(fw);
    }
    rc = pyw_stream_payload(&fw->b->stream, &p, pyw_forward_deadline(fw));
    if (rc < 0) {
        return pyw_forward_daemon_failed(fw, rc, NULL);
    }
    rc = pyw_forward_headers_decode(fw, p, len);
    if (rc == PYW_FWD_CONTINUE) {
        pyw_forward_override_begin(fw);
    }
    return rc;
}

/* Pass DATA piece by piece as transient buckets (filters that keep them
 * set them aside); flush when the daemon has sent nothing more yet, so
 * streamed chunks reach the client promptly. */
int pyw_forward_on_data(pyw_fwd_t *fw)
{
    pyw_stream_t *s = &fw->b->stream;
    apr_bucket_alloc_t *ba = fw->r->connection->bucket_alloc;
    const unsigned char *p;
    long n;

    if (!fw->have_headers) {
        return pyw_forward_protocol_error(fw, "DATA before HEADERS");
    }
    if (fw->overriding) {
        return pyw_forward_override_data(fw);
    }
    if (fw->discard) {
        return pyw_forward_skip(fw);
    }
    while ((n = pyw_stream_peek_payload(s, &p, PYW_MAX_DATA_PAYLOAD,
                                        pyw_forward_deadline(fw))) > 0) {
        if (pyw_forward_count(fw, n, 0) != PYW_FWD_CONTINUE) {
            return PYW_FWD_STOP;
        }
        APR_BRIGADE_INSERT_TAIL(fw->obb,
            apr_bucket_transient_create((const char *)p, (apr_size_t)n,
                                        ba));
        if (s->payload_left == 0 && pyw_stream_buffered(s) > 0
            && fw->held + (apr_size_t)n <= PYW_FWD_HOLD_MAX) {
            /* More frames are already here (usually END): keep a copy so
             * the body and EOS pass as one brigade, which lets Apache set
             * Content-Length instead of chunking a small response. */
            apr_bucket_setaside(APR_BRIGADE_LAST(fw->obb), fw->r->pool);
            fw->held += (apr_size_t)n;
            continue;
        }
        fw->held = 0;
        if (fw->r->header_only
            || (s->payload_left == 0 && pyw_stream_buffered(s) == 0)) {
            APR_BRIGADE_INSERT_TAIL(fw->obb, apr_bucket_flush_create(ba));
        }
        if (pyw_forward_pass(fw) != PYW_FWD_CONTINUE) {
            return PYW_FWD_STOP;
        }
        if (pyw_forward_head_sent(fw)) {
            return pyw_forward_head_end(fw);
        }
    }
    return n < 0 ? pyw_forward_daemon_failed(fw, (int)n, NULL)
                 : PYW_FWD_CONTINUE;
}

/* A HEAD whose headers went down the filters has nothing more to send,
 * and the application may stream for ever (server-sent events): EOS now,
 * since HTTP/1's header filter drops the FLUSH with the body and the core
 * holds the headers until the request ends.  The rest of the response is
 * not read: the connection is closed instead (as error override does for
 * a long body), so no stray frame reaches the next request, and the
 * daemon stops the application at its next write (PYW0326) as for a
 * client that left, which frees its worker.  What the filters saw is not
 * the whole entity: mod_cache must not keep it. */
int pyw_forward_head_end(pyw_fwd_t *fw)
{
    request_rec *r = fw->r;

    r->no_cache = 1;
    if (r->main != NULL) {
        r->main->no_cache = 1;
    }
    fw->discard = 1;
    fw->out->head_cut = 1;
    APR_BRIGADE_INSERT_TAIL(fw->obb,
        apr_bucket_eos_create(r->connection->bucket_alloc));
    if (pyw_forward_pass(fw) == PYW_FWD_CONTINUE) {
        fw->out->result = PYW_FWD_OK;
    }
    fw->out->backend_clean = 0;
    return PYW_FWD_STOP;
}

int pyw_forward_on_end(pyw_fwd_t *fw)
{
    if (pyw_forward_skip(fw) != PYW_FWD_CONTINUE) {
        return PYW_FWD_STOP;
    }
    if (!fw->have_headers) {
        return pyw_forward_protocol_error(fw, "END before HEADERS");
    }
    fw->out->backend_clean = 1;
    if (fw->body_status) {
        return pyw_forward_body_result(fw);
    }
    if (fw->overriding) {
        return pyw_forward_override_end(fw);
    }
    if (pyw_forward_count(fw, 0, 1) != PYW_FWD_CONTINUE) {
        return PYW_FWD_STOP;
    }
    /* Nothing passed yet: a file body and EOS go down as one brigade, so
     * the byterange filter can answer a Range as for a static file; say
     * so as the default handler does, unless the application did. */
    if (fw->file_body && !fw->out->committed && fw->status == HTTP_OK
        && apr_table_get(fw->headers, "Accept-Ranges") == NULL) {
        ap_set_accept_ranges(fw->r);
    }
    APR_BRIGADE_INSERT_TAIL(fw->obb,
        apr_bucket_eos_create(fw->r->connection->bucket_alloc));
    if (pyw_forward_pass(fw) == PYW_FWD_CONTINUE) {
        fw->out->result = PYW_FWD_OK;
    }
    return PYW_FWD_STOP;
}

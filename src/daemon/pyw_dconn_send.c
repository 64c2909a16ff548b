/*
 * pyw_dconn_send.c - the response frames HEADERS, DATA, END and ERROR.
 *
 * Output rules:
 *   - HEADERS is only encoded (into the connection's reusable buffer); it
 *     goes out with the first DATA, END, ERROR or READ, in the same
 *     writev(), so a small response is one system call.
 *   - Body bytes are never copied: each DATA frame is a header on the stack
 *     plus an iovec pointing at the caller's data.
 */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>

#include "pyw_dconn_int.h"

/* DATA frames per writev(): 1 (pending) + 2 per frame stays far below
 * IOV_MAX and still moves 16 MB per call. */
#define DCONN_FRAMES_PER_WRITE  16
/* An ERROR reason longer than this is cut: it is a log line, not a page. */
#define DCONN_MAX_REASON  4096

static size_t dconn_headers_size(const char *reason, size_t reason_len,
                                 const pyw_header_t *h, size_t n)
{
    size_t total = pyw_status_size(reason_len), i;

    for (i = 0; i < n && total <= PYW_MAX_META_PAYLOAD; i++) {
        total += pyw_pair_size(h[i].name.len, h[i].value.len);
    }
    return total;
}

int pyw_dconn_send_headers(pyw_dconn_t *c, int status,
                           const char *reason, size_t reason_len,
                           const pyw_header_t *headers, size_t n)
{
    size_t payload, pos, put, i;
    int rv;

    if (c->err) {
        return c->err;
    }
    if (c->headers_sent || c->finished || status < 0 || status > 0xffff) {
        return -EINVAL;
    }
    payload = dconn_headers_size(reason, reason_len, headers, n);
    if (payload > PYW_MAX_META_PAYLOAD) {
        return -EMSGSIZE;
    }
    /* Not yet sent headers may be replaced (start_response with exc_info). */
    c->out_len = 0;
    c->headers_pending = 0;
    if ((rv = pyw_dconn_out_reserve(c, PYW_FRAME_HEADER_SIZE + payload)) < 0) {
        return rv;
    }
    pos = pyw_frame_header_put(c->out, c->out_cap, PYW_FRAME_HEADERS,
                               (uint32_t)payload);
    put = pyw_status_put(c->out + pos, c->out_cap - pos, (uint16_t)status,
                         reason, reason_len);
    for (i = 0; put && i < n; i++) {
        pos += put;
        put = pyw_pair_put(c->out + pos, c->out_cap - pos,
                           headers[i].name.data, headers[i].name.len,
                           headers[i].value.data, headers[i].value.len);
    }
    if (pos == 0 || put == 0) {
        return -EINVAL;         /* bad status or an empty header name */
    }
    c->out_len = pos + put;
    c->headers_pending = 1;
    return 0;
}

/* One writev: pending output, then up to DCONN_FRAMES_PER_WRITE DATA
 * frames of at most PYW_MAX_DATA_PAYLOAD bytes each.  Returns bytes of
 * data consumed, or -errno. */
static long dconn_write_data_batch(pyw_dconn_t *c, const unsigned char *data,
                                   size_t len, int end)
{
    unsigned char hdr[DCONN_FRAMES_PER_WRITE + 1][PYW_FRAME_HEADER_SIZE];
    struct iovec iov[2 + 2 * DCONN_FRAMES_PER_WRITE];
    int n = pyw_dconn_iov_pending(c, iov), with_pending = n, k, rv;
    size_t done = 0;

    for (k = 0; k < DCONN_FRAMES_PER_WRITE && done < len; k++) {
        size_t chunk = len - done;

        if (chunk > PYW_MAX_DATA_PAYLOAD) {
            chunk = PYW_MAX_DATA_PAYLOAD;
        }
        pyw_frame_header_put(hdr[k], sizeof(hdr[k]), PYW_FRAME_DATA,
                             (uint32_t)chunk);
        iov[n].iov_base = hdr[k];
        iov[n++].iov_len = PYW_FRAME_HEADER_SIZE;
        iov[n].iov_base = (void *)(data + done);
        iov[n++].iov_len = chunk;
        done += chunk;
    }
    if (end && done == len) {
        /* The last data and END leave in the same writev(). */
        pyw_frame_header_put(hdr[k], sizeof(hdr[k]), PYW_FRAME_END, 0);
        iov[n].iov_base = hdr[k];
        iov[n++].iov_len = PYW_FRAME_HEADER_SIZE;
    }
    if (n == 0) {
        return 0;
    }
    rv = pyw_dconn_writev(c, c->waiter, iov, n, with_pending);
    if (rv == 0 && end && done == len) {
        c->finished = 1;
    }
    return rv < 0 ? rv : (long)done;
}

static int dconn_send(pyw_dconn_t *c, const void *data, size_t len, int end)
{
    const unsigned char *p = data;
    size_t done = 0;

    if (c->err) {
        return c->err;
    }
    if (c->finished || (!c->headers_sent && !c->headers_pending)) {
        return -EINVAL;         /* DATA must follow HEADERS */
    }
    /* len == 0 just flushes the pending HEADERS. */
    do {
        long n = dconn_write_data_batch(c, p + done, len - done, end);

        if (n < 0) {
            return (int)n;
        }
        done += (size_t)n;
    } while (done < len);
    return 0;
}

int pyw_dconn_send_data(pyw_dconn_t *c, const void *data, size_t len)
{
    return dconn_send(c, data, len, 0);
}

int pyw_dconn_send_last(pyw_dconn_t *c, const void *data, size_t len)
{
    return dconn_send(c, data, len, 1);
}

int pyw_dconn_send_end(pyw_dconn_t *c)
{
    unsigned char end[PYW_FRAME_HEADER_SIZE];
    struct iovec iov[2];
    int n, with_pending, rv;

    if (c->err) {
        return c->err;
    }
    if (c->finished || (!c->headers_sent && !c->headers_pending)) {
        return -EINVAL;         /* END must follow HEADERS */
    }
    n = with_pending = pyw_dconn_iov_pending(c, iov);
    pyw_frame_header_put(end, sizeof(end), PYW_FRAME_END, 0);
    iov[n].iov_base = end;
    iov[n++].iov_len = sizeof(end);
    if ((rv = pyw_dconn_writev(c, c->waiter, iov, n, with_pending)) < 0) {
        return rv;
    }
    c->finished = 1;
    return 0;
}

int pyw_dconn_send_error(pyw_dconn_t *c, int status, const char *reason)
{
    size_t rlen = reason ? strnlen(reason, DCONN_MAX_REASON) : 0;
    size_t need = PYW_FRAME_HEADER_SIZE + 2 + rlen;
    struct iovec iov[1];
    int rv;

    if (c->err) {
        return c->err;
    }
    if (c->finished || status < 0 || status > 0xffff) {
        return -EINVAL;
    }
    /* Headers that never reached Apache are dropped: the ERROR status
     * replaces them.  Once sent, the pending buffer is already empty. */
    c->out_len = 0;
    c->headers_pending = 0;
    if ((rv = pyw_dconn_out_reserve(c, need)) < 0) {
        return rv;
    }
    iov[0].iov_base = c->out;
    iov[0].iov_len = pyw_error_put(c->out, c->out_cap, (uint16_t)status,
                                   reason ? reason : "", rlen);
    if (iov[0].iov_len == 0) {
        return -EINVAL;
    }
    if ((rv = pyw_dconn_writev(c, c->waiter, iov, 1, 0)) < 0) {
        return rv;
    }
    c->finished = 1;
    return 0;
}

/*
 * pyw_dconn_body.c - the request body, pulled: READ(len) to Apache, with
 * any pending HEADERS in the same write, and the BODY (or BODY_ABORT)
 * frame that answers it.
 */
#include <errno.h>
#include <sys/uio.h>

#include "../common/pyw_io.h"
#include "pyw_dconn_int.h"

/* Read the BODY frame that answers a READ(want) into buf. */
static long dconn_read_body_frame(pyw_dconn_t *c, void *buf, size_t want)
{
    int64_t deadline = pyw_io_deadline(PYW_DCONN_IO_TIMEOUT_MS);
    pyw_frame_t f;
    size_t got = 0;
    int rv;

    if ((rv = pyw_stream_next(&c->stream, &f, deadline)) < 0) {
        return c->err = rv;
    }
    if (f.type == PYW_FRAME_BODY_ABORT) {
        c->body_aborted = 1;
        return -ECANCELED;
    }
    if (f.type != PYW_FRAME_BODY || f.length > want) {
        c->stream.err = f.type != PYW_FRAME_BODY
                        ? "expected BODY or BODY_ABORT after READ"
                        : "BODY larger than the READ asked for";
        return c->err = -EPROTO;
    }
    if (f.length == 0) {
        c->body_done = 1;
        return 0;
    }
    while (got < f.length) {
        long n = pyw_stream_read_payload(&c->stream, (char *)buf + got,
                                         f.length - got, deadline);
        if (n <= 0) {
            return c->err = (n < 0 ? (int)n : -ECONNRESET);
        }
        got += (size_t)n;
    }
    return (long)got;
}

long pyw_dconn_read_body(pyw_dconn_t *c, void *buf, size_t len)
{
    unsigned char rd[PYW_FRAME_HEADER_SIZE + PYW_READ_SIZE];
    struct iovec iov[2];
    int n, with_pending, rv;

    if (c->body_done) {
        return 0;
    }
    if (c->body_aborted) {
        return -ECANCELED;
    }
    if (c->err) {
        return c->err;
    }
    if (len == 0) {
        return 0;
    }
    if (len > PYW_MAX_DATA_PAYLOAD) {
        len = PYW_MAX_DATA_PAYLOAD;
    }
    /* Pending HEADERS go out with the READ: one write, and Apache sees
     * the frames in the order the application produced them.  Called
     * without the GIL: no waiter. */
    pyw_dconn_lock_writes(c);           /* another thread may write() */
    n = with_pending = pyw_dconn_iov_pending(c, iov);
    pyw_read_put(rd, sizeof(rd), (uint32_t)len);
    iov[n].iov_base = rd;
    iov[n++].iov_len = sizeof(rd);
    rv = pyw_dconn_writev(c, NULL, iov, n, with_pending);
    pyw_dconn_unlock_writes(c);
    if (rv < 0) {
        return rv;
    }
    return dconn_read_body_frame(c, buf, len);
}

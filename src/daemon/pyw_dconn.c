/*
 * pyw_dconn.c - one Apache connection in the daemon: the response writer
 * and the body puller the WSGI adapter uses.
 *
 * Output rules:
 *   - HEADERS is only encoded (into the connection's reusable buffer); it
 *     goes out with the first DATA, END, ERROR or READ, in the same
 *     writev(), so a small response is one system call.
 *   - Body bytes are never copied: each DATA frame is a header on the stack
 *     plus an iovec pointing at the caller's data.
 * Any I/O or protocol failure is sticky (c->err): later calls fail at once
 * and the worker closes the connection instead of reusing it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../common/pyw_io.h"
#include "pyw_dconn_private.h"

#define DCONN_OUT_INITIAL  4096
/* DATA frames per writev(): 1 (pending) + 2 per frame stays far below
 * IOV_MAX and still moves 16 MB per call. */
#define DCONN_FRAMES_PER_WRITE  16
/* An ERROR reason longer than this is cut: it is a log line, not a page. */
#define DCONN_MAX_REASON  4096

pyw_dconn_t *pyw_dconn_new(int fd)
{
    pyw_dconn_t *c = calloc(1, sizeof(*c));

    if (c == NULL) {
        return NULL;
    }
    if (pyw_stream_init(&c->stream, fd) != 0) {
        free(c);
        return NULL;
    }
    c->fd = fd;
    c->state = PYW_DCONN_IDLE;
    return c;
}

void pyw_dconn_free(pyw_dconn_t *c)
{
    if (c == NULL) {
        return;
    }
    pyw_stream_free(&c->stream);
    if (c->fd >= 0) {
        close(c->fd);
    }
    free(c->out);
    free(c);
}

int pyw_dconn_fd(const pyw_dconn_t *c)
{
    return c->fd;
}

pyw_stream_t *pyw_dconn_stream(pyw_dconn_t *c)
{
    return &c->stream;
}

void pyw_dconn_reset(pyw_dconn_t *c)
{
    c->waiter = NULL;
    c->out_len = 0;
    c->headers_sent = 0;
    c->headers_pending = 0;
    c->body_done = 0;
    c->body_aborted = 0;
    c->finished = 0;
    /* c->err stays: a failed connection is never reused. */
}

void pyw_dconn_idle(pyw_dconn_t *c)
{
    pyw_stream_idle(&c->stream);
    if (c->out_cap > DCONN_OUT_INITIAL && c->out_len == 0) {
        free(c->out);
        c->out = NULL;
        c->out_cap = 0;
    }
}

void pyw_dconn_set_waiter(pyw_dconn_t *c, const pyw_dconn_waiter_t *w)
{
    c->waiter = w;
}

int pyw_dconn_finished(const pyw_dconn_t *c)
{
    return c->finished;
}

int pyw_dconn_broken(const pyw_dconn_t *c)
{
    return c->err != 0;
}

int pyw_dconn_headers_sent(const pyw_dconn_t *c)
{
    return c->headers_sent;
}

int pyw_dconn_body_aborted(const pyw_dconn_t *c)
{
    return c->body_aborted;
}

int pyw_dconn_frame_buffered(const pyw_dconn_t *c)
{
    const pyw_stream_t *s = &c->stream;
    pyw_frame_t f;
    const char *err;

    if (pyw_stream_buffered(s) == 0) {
        return 0;
    }
    /* A malformed header counts too: the worker reads it and fails. */
    return pyw_frame_decode(s->buf + s->pos, pyw_stream_buffered(s),
                            &f, &err) != PYW_DECODE_NEED_MORE;
}

/* Make room for `need` bytes of pending output. */
static int dconn_out_reserve(pyw_dconn_t *c, size_t need)
{
    size_t cap = c->out_cap ? c->out_cap : DCONN_OUT_INITIAL;
    unsigned char *p;

    if (need <= c->out_cap) {
        return 0;
    }
    while (cap < need) {
        cap *= 2;
    }
    p = realloc(c->out, cap);
    if (p == NULL) {
        return -ENOMEM;
    }
    c->out = p;
    c->out_cap = cap;
    return 0;
}

static int64_t dconn_write_timeout_ms = PYW_DCONN_IO_TIMEOUT_MS;

void pyw_dconn_set_write_timeout(int64_t ms)
{
    dconn_write_timeout_ms = ms > 0 ? ms : PYW_DCONN_IO_TIMEOUT_MS;
}

/* Write all of iov: at once if the socket has room, else with what the
 * waiter guards released for the wait.  w is NULL when the caller holds
 * nothing. */
static int dconn_writev_all(pyw_dconn_t *c, const pyw_dconn_waiter_t *w,
                            struct iovec *iov, int n)
{
    void *token;
    int rv;

    if (w == NULL) {
        return pyw_io_writev_full(c->fd, iov, n,
                                  pyw_io_deadline(dconn_write_timeout_ms));
    }
    if ((rv = pyw_io_writev_once(c->fd, &iov, &n)) != -EAGAIN) {
        return rv;
    }
    token = w->release();
    rv = pyw_io_writev_full(c->fd, iov, n,
                            pyw_io_deadline(dconn_write_timeout_ms));
    w->reacquire(token);
    return rv;
}

/* Write iov (whose first entry may be the pending output) and account for
 * it.  The first failure sticks to the connection. */
static int dconn_writev(pyw_dconn_t *c, const pyw_dconn_waiter_t *w,
                        struct iovec *iov, int n, int with_pending)
{
    int rv = dconn_writev_all(c, w, iov, n);

    if (rv < 0) {
        c->err = rv;
        return rv;
    }
    if (with_pending) {
        c->out_len = 0;
        if (c->headers_pending) {
            c->headers_pending = 0;
            c->headers_sent = 1;
        }
    }
    return 0;
}

/* iov[0] = pending output, if any; returns the number of entries used. */
static int dconn_iov_pending(pyw_dconn_t *c, struct iovec *iov)
{
    if (c->out_len == 0) {
        return 0;
    }
    iov[0].iov_base = c->out;
    iov[0].iov_len = c->out_len;
    return 1;
}

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
    if ((rv = dconn_out_reserve(c, PYW_FRAME_HEADER_SIZE + payload)) < 0) {
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
    int n = dconn_iov_pending(c, iov), with_pending = n, k, rv;
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
    rv = dconn_writev(c, c->waiter, iov, n, with_pending);
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
    n = with_pending = dconn_iov_pending(c, iov);
    pyw_frame_header_put(end, sizeof(end), PYW_FRAME_END, 0);
    iov[n].iov_base = end;
    iov[n++].iov_len = sizeof(end);
    if ((rv = dconn_writev(c, c->waiter, iov, n, with_pending)) < 0) {
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
    if ((rv = dconn_out_reserve(c, need)) < 0) {
        return rv;
    }
    iov[0].iov_base = c->out;
    iov[0].iov_len = pyw_error_put(c->out, c->out_cap, (uint16_t)status,
                                   reason ? reason : "", rlen);
    if (iov[0].iov_len == 0) {
        return -EINVAL;
    }
    if ((rv = dconn_writev(c, c->waiter, iov, 1, 0)) < 0) {
        return rv;
    }
    c->finished = 1;
    return 0;
}

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
    n = with_pending = dconn_iov_pending(c, iov);
    pyw_read_put(rd, sizeof(rd), (uint32_t)len);
    iov[n].iov_base = rd;
    iov[n++].iov_len = sizeof(rd);
    if ((rv = dconn_writev(c, NULL, iov, n, with_pending)) < 0) {
        return rv;
    }
    return dconn_read_body_frame(c, buf, len);
}

/* ---- FILE: body bytes as a descriptor ---- */

/* Pending output, FILE and (with `end`) END are laid out in c->out, so
 * the descriptor rides on the first byte of one buffer and one sendmsg()
 * moves it all.  The appended frames are dropped again on failure. */
static int dconn_file(pyw_dconn_t *c, int fd, uint64_t offset,
                      uint64_t length, int end)
{
    size_t pending = c->out_len, n;
    void *token;
    int rv;

    if (c->err) {
        return c->err;
    }
    if (c->finished || (!c->headers_sent && !c->headers_pending)
        || fd < 0 || length == 0) {
        return -EINVAL;         /* FILE must follow HEADERS, and carry bytes */
    }
    rv = dconn_out_reserve(c, pending + 2 * PYW_FRAME_HEADER_SIZE
                              + PYW_FILE_SIZE);
    if (rv < 0) {
        return rv;
    }
    n = pyw_file_put(c->out + pending, c->out_cap - pending, offset, length);
    if (n > 0 && end) {
        n += pyw_frame_header_put(c->out + pending + n,
                                  c->out_cap - pending - n, PYW_FRAME_END, 0);
    }
    /* Rare (once a response) and may wait: the waiter's lock goes first. */
    token = c->waiter ? c->waiter->release() : NULL;
    rv = pyw_io_send_fd(c->fd, c->out, pending + n, fd,
                        pyw_io_deadline(dconn_write_timeout_ms));
    if (c->waiter) {
        c->waiter->reacquire(token);
    }
    if (rv == -ETOOMANYREFS) {
        /* Too many descriptors in flight: refused before any byte went
         * out, so the connection is intact and the caller may stream. */
        c->out_len = pending;
        return rv;
    }
    if (rv < 0) {
        c->err = rv;
        return rv;
    }
    c->out_len = 0;
    if (c->headers_pending) {
        c->headers_pending = 0;
        c->headers_sent = 1;
    }
    c->finished = end ? 1 : c->finished;
    return 0;
}

int pyw_dconn_send_file(pyw_dconn_t *c, int fd, uint64_t offset,
                        uint64_t length)
{
    return dconn_file(c, fd, offset, length, 0);
}

int pyw_dconn_send_file_last(pyw_dconn_t *c, int fd, uint64_t offset,
                             uint64_t length)
{
    return dconn_file(c, fd, offset, length, 1);
}

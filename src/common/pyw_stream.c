/*
 * pyw_stream.c - buffered frame reader for one connection.
 *
 * Invariants:
 *   0 <= pos <= end <= cap; buf[pos..end) is received, unconsumed data.
 *   payload_left bytes of the current frame's payload are still unread;
 *   the first min(payload_left, end - pos) of them are in the buffer,
 *   anything after that is the next frames.
 *
 * Refills read as much as fits in the buffer, so small frames that arrive
 * together (HEADERS + DATA + END) cost one recv().  Large payload reads
 * bypass the buffer and go straight into the caller's memory.
 *
 * Every read is a recvmsg() with room for passed descriptors (the same
 * one system call as recv()): a descriptor riding on a byte read with
 * plain recv() would be dropped by the kernel.  fds[0..nfds) hold the
 * ones received and not yet taken, oldest first.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pyw_io.h"
#include "pyw_stream.h"

/* A read_payload() this large, with nothing buffered, goes directly into
 * the caller's buffer: the copy would cost more than the extra recv()
 * needed later for the next frame header. */
#define PYW_STREAM_DIRECT_MIN  (PYW_STREAM_INITIAL_CAP / 2)
/* pyw_stream_idle() keeps a buffer that was filled no further. */
#define PYW_STREAM_IDLE_KEEP   4096

int pyw_stream_init(pyw_stream_t *s, int fd)
{
    memset(s, 0, sizeof(*s));
    s->fd = fd;
    s->buf = malloc(PYW_STREAM_INITIAL_CAP);
    if (s->buf == NULL) {
        return -ENOMEM;
    }
    s->cap = PYW_STREAM_INITIAL_CAP;
    return 0;
}

/* The buffer, allocated again after pyw_stream_idle() freed it. */
static int stream_ensure(pyw_stream_t *s)
{
    if (s->buf != NULL) {
        return 0;
    }
    if ((s->buf = malloc(PYW_STREAM_INITIAL_CAP)) == NULL) {
        return -ENOMEM;
    }
    s->cap = PYW_STREAM_INITIAL_CAP;
    s->pos = s->end = 0;
    return 0;
}

void pyw_stream_idle(pyw_stream_t *s)
{
    if (s->buf != NULL && pyw_stream_buffered(s) == 0
        && s->high > PYW_STREAM_IDLE_KEEP) {
        free(s->buf);
        s->buf = NULL;
        s->cap = s->pos = s->end = 0;
    }
    s->high = s->end;
}

void pyw_stream_free(pyw_stream_t *s)
{
    while (s->nfds > 0) {
        close(s->fds[--s->nfds]);
    }
    free(s->buf);
    s->buf = NULL;
    s->cap = s->pos = s->end = 0;
    s->payload_left = 0;
}

/* One read from the socket (see pyw_io_read_some), keeping any
 * descriptors that came with it; those beyond the queue's room are
 * closed: a well-behaved peer never has that many in flight. */
static ssize_t stream_recv(pyw_stream_t *s, void *dst, size_t len,
                           int64_t deadline_ms)
{
    int got[PYW_IO_MAX_FDS], ngot = 0, i;
    ssize_t n;

    n = pyw_io_recv_fds(s->fd, dst, len, got, PYW_IO_MAX_FDS, &ngot,
                        deadline_ms);
    for (i = 0; i < ngot; i++) {
        if (s->nfds < PYW_STREAM_MAX_FDS) {
            s->fds[s->nfds++] = got[i];
        }
        else {
            close(got[i]);
        }
    }
    return n;
}

int pyw_stream_take_fd(pyw_stream_t *s)
{
    int fd;

    if (s->nfds == 0) {
        return -1;
    }
    fd = s->fds[0];
    s->nfds--;
    memmove(s->fds, s->fds + 1, (size_t)s->nfds * sizeof(s->fds[0]));
    return fd;
}

/* Move the unconsumed bytes to the start of the buffer. */
static void stream_compact(pyw_stream_t *s)
{
    size_t n = pyw_stream_buffered(s);

    if (s->pos > 0) {
        if (n > 0) {
            memmove(s->buf, s->buf + s->pos, n);
        }
        s->pos = 0;
        s->end = n;
    }
}

/* Make room for at least `want` bytes (want <= the largest frame) by
 * doubling the capacity.  0 or -ENOMEM. */
static int stream_grow(pyw_stream_t *s, size_t want)
{
    size_t cap;
    unsigned char *nb;

    if (stream_ensure(s) < 0) {
        return -ENOMEM;
    }
    if (want <= (cap = s->cap)) {
        return 0;
    }
    while (cap < want) {
        cap *= 2;
    }
    stream_compact(s);
    nb = realloc(s->buf, cap);
    if (nb == NULL) {
        return -ENOMEM;
    }
    s->buf = nb;
    s->cap = cap;
    return 0;
}

/* Buffer at least `want` bytes (want <= cap), reading as much as fits
 * each time.  Compacting first (fewer than `want` bytes move) gives each
 * recv() the whole free space.  0, -ECONNRESET on EOF, -ETIMEDOUT, -errno.
 */
static int stream_fill(pyw_stream_t *s, size_t want, int64_t deadline_ms)
{
    ssize_t n;

    if (pyw_stream_buffered(s) >= want) {
        return 0;
    }
    if (stream_ensure(s) < 0) {
        return -ENOMEM;
    }
    stream_compact(s);
    while (pyw_stream_buffered(s) < want) {
        n = stream_recv(s, s->buf + s->end, s->cap - s->end, deadline_ms);
        if (n < 0) {
            return (int)n;
        }
        if (n == 0) {
            return -ECONNRESET;
        }
        s->end += (size_t)n;
        s->high = s->end > s->high ? s->end : s->high;
    }
    return 0;
}

ssize_t pyw_stream_recv_ready(pyw_stream_t *s)
{
    ssize_t n;

    if (stream_ensure(s) < 0) {
        return -ENOMEM;
    }
    stream_compact(s);
    if (s->end == s->cap) {
        return -ENOBUFS;        /* a whole buffer unconsumed: caller bug */
    }
    /* A deadline long past: no waiting, one poll(0) at most. */
    n = stream_recv(s, s->buf + s->end, s->cap - s->end, 0);
    if (n > 0) {
        s->end += (size_t)n;
        s->high = s->end > s->high ? s->end : s->high;
    }
    return n == -ETIMEDOUT ? -EAGAIN : n;
}

int pyw_stream_peek_byte(const pyw_stream_t *s, size_t off)
{
    unsigned char b[PYW_FRAME_HEADER_SIZE];
    size_t have = pyw_stream_buffered(s), want;
    ssize_t n;

    if (off < have) {
        return s->buf[s->pos + off];
    }
    want = off - have + 1;
    if (want > sizeof(b)) {
        return -1;
    }
    n = recv(s->fd, b, want, MSG_PEEK | MSG_DONTWAIT);
    return n == (ssize_t)want ? b[want - 1] : -1;
}

int pyw_stream_next(pyw_stream_t *s, pyw_frame_t *f, int64_t deadline_ms)
{
    const char *err = NULL;
    int rc;

    if (s->payload_left != 0) {
        return -EINVAL;         /* caller bug: previous payload unread */
    }
    rc = stream_fill(s, PYW_FRAME_HEADER_SIZE, deadline_ms);
    if (rc < 0) {
        return rc;
    }
    /* With a whole header buffered, NEED_MORE still fills *f. */
    if (pyw_frame_decode(s->buf + s->pos, pyw_stream_buffered(s), f, &err)
        == PYW_DECODE_ERROR) {
        s->err = err;
        return -EPROTO;
    }
    s->pos += PYW_FRAME_HEADER_SIZE;
    s->payload_left = f->length;
    return 0;
}

int pyw_stream_payload(pyw_stream_t *s, const unsigned char **payload,
                       int64_t deadline_ms)
{
    size_t len = s->payload_left;
    int rc;

    /* payload_left was checked against the type's cap by the decoder, so
     * this never grows past the largest frame allowed. */
    rc = stream_grow(s, len);
    if (rc == 0) {
        rc = stream_fill(s, len, deadline_ms);
    }
    if (rc < 0) {
        return rc;
    }
    *payload = s->buf + s->pos;
    s->pos += len;
    s->payload_left = 0;
    return 0;
}

/* Take up to max bytes of payload from the buffer: how many were taken. */
static size_t stream_take(pyw_stream_t *s, const unsigned char **p,
                          size_t max)
{
    size_t n = pyw_stream_buffered(s);

    if (n > s->payload_left) {
        n = s->payload_left;
    }
    if (n > max) {
        n = max;
    }
    *p = s->buf + s->pos;
    s->pos += n;
    s->payload_left -= (uint32_t)n;
    return n;
}

long pyw_stream_peek_payload(pyw_stream_t *s, const unsigned char **p,
                             size_t max, int64_t deadline_ms)
{
    int rc;

    if (s->payload_left == 0) {
        return 0;
    }
    if (max == 0) {
        return -EINVAL;         /* 0 would read as "payload exhausted" */
    }
    if (pyw_stream_buffered(s) == 0) {
        rc = stream_fill(s, 1, deadline_ms);
        if (rc < 0) {
            return rc;
        }
    }
    return (long)stream_take(s, p, max);
}

long pyw_stream_read_payload(pyw_stream_t *s, void *dst, size_t len,
                             int64_t deadline_ms)
{
    const unsigned char *p;
    size_t want = len < s->payload_left ? len : s->payload_left;
    ssize_t n;
    long got;

    if (s->payload_left == 0) {
        return 0;
    }
    if (len == 0) {
        return -EINVAL;         /* 0 would read as "payload exhausted" */
    }
    if (pyw_stream_buffered(s) == 0 && want >= PYW_STREAM_DIRECT_MIN) {
        /* Never more than the payload: what follows belongs to the
         * buffer, not to the caller. */
        n = stream_recv(s, dst, want, deadline_ms);
        if (n <= 0) {
            return n == 0 ? -ECONNRESET : (long)n;
        }
        s->payload_left -= (uint32_t)n;
        return (long)n;
    }
    got = pyw_stream_peek_payload(s, &p, want, deadline_ms);
    if (got > 0) {
        memcpy(dst, p, (size_t)got);
    }
    return got;
}

int pyw_stream_skip_payload(pyw_stream_t *s, int64_t deadline_ms)
{
    const unsigned char *p;
    long n;

    while (s->payload_left > 0) {
        n = pyw_stream_peek_payload(s, &p, s->payload_left, deadline_ms);
        if (n < 0) {
            return (int)n;
        }
    }
    return 0;
}

/*
 * pyw_stream.h - buffered frame reading over one connection (pure C).
 *
 * One pyw_stream_t per connection, on both sides.  It owns a read buffer
 * (malloc'd, reused for the life of the connection) and hands out frames:
 * small frames whole and in place, large DATA/BODY payloads in pieces so
 * nothing big is ever copied into the buffer first.
 *
 * Descriptors passed with SCM_RIGHTS (the FILE frame) are captured by
 * every read and kept in a small FIFO until pyw_stream_take_fd(); more
 * than PYW_STREAM_MAX_FDS waiting at once are closed on arrival.
 * pyw_stream_free() closes any left.
 *
 * Not thread safe: a connection is used by one thread at a time.
 */
#ifndef PYW_STREAM_H
#define PYW_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "pyw_proto.h"

#define PYW_STREAM_INITIAL_CAP  (16u * 1024)
#define PYW_STREAM_MAX_FDS      4

typedef struct {
    int            fd;
    unsigned char *buf;
    size_t         cap;
    size_t         pos;         /* first unread byte */
    size_t         end;         /* one past last buffered byte */
    size_t         high;        /* most of buf filled since the last
                                   pyw_stream_idle() */
    uint32_t       payload_left; /* unread payload of the current frame */
    const char    *err;         /* reason for the last -EPROTO */
    int            nfds;        /* descriptors received, not yet taken */
    int            fds[PYW_STREAM_MAX_FDS]; /* oldest first */
} pyw_stream_t;

/* 0 or -ENOMEM. */
int  pyw_stream_init(pyw_stream_t *s, int fd);
/* Frees the buffer and closes descriptors not taken; does not close fd. */
void pyw_stream_free(pyw_stream_t *s);

/*
 * The connection goes idle.  If this exchange filled more than a page of
 * the buffer (a request body, a big environ) and nothing is left in it,
 * the buffer is freed; the next read allocates one again.  So a thousand
 * idle connections hold no buffers, while a small request, which fits in
 * one page, never allocates.
 */
void pyw_stream_idle(pyw_stream_t *s);

/* Bytes buffered and not yet consumed. */
static inline size_t pyw_stream_buffered(const pyw_stream_t *s)
{
    return s->end - s->pos;
}

/*
 * One non-blocking read into the buffer, for a caller that has just seen
 * the socket readable in poll(): bytes read (> 0), 0 at end of stream
 * (unlike pyw_stream_next, EOF and a reset stay apart), -EAGAIN if there
 * was nothing after all, -errno.  Saves the extra read a waiting
 * pyw_stream_next would start with.
 */
ssize_t pyw_stream_recv_ready(pyw_stream_t *s);

/*
 * The byte at `off` of what is still unread (buffered first, then the
 * socket), neither consumed nor waited for: a look at a frame header
 * before deciding who reads it (off < PYW_FRAME_HEADER_SIZE).  -1 if it
 * has not arrived.
 */
int pyw_stream_peek_byte(const pyw_stream_t *s, size_t off);

/*
 * Read the next frame header.  The previous frame's payload must have been
 * consumed.  0 on success; -ECONNRESET on EOF (also at a clean frame
 * boundary: the caller decides whether EOF was expected there);
 * -EPROTO on a malformed header (s->err says why); -ETIMEDOUT; -errno.
 */
int pyw_stream_next(pyw_stream_t *s, pyw_frame_t *f, int64_t deadline_ms);

/*
 * Make the whole payload of the current frame contiguous in the buffer
 * (growing it up to the type's cap) and return it in *payload; the payload
 * counts as consumed.  0 or -errno.
 */
int pyw_stream_payload(pyw_stream_t *s, const unsigned char **payload,
                       int64_t deadline_ms);

/*
 * Copy up to len bytes of the current frame's payload into dst.
 * >0 bytes copied, 0 when the payload is exhausted, -errno.
 * Large reads go straight from the socket into dst.
 */
long pyw_stream_read_payload(pyw_stream_t *s, void *dst, size_t len,
                             int64_t deadline_ms);

/*
 * Borrow up to max bytes of the current payload from the buffer without a
 * copy (reading from the socket if nothing is buffered).  The bytes are
 * valid until the next call on s.  >0, 0 when exhausted, -errno.
 */
long pyw_stream_peek_payload(pyw_stream_t *s, const unsigned char **p,
                             size_t max, int64_t deadline_ms);

/* Skip the rest of the current payload. 0 or -errno. */
int pyw_stream_skip_payload(pyw_stream_t *s, int64_t deadline_ms);

/*
 * The oldest received descriptor, now owned by the caller, or -1 if none
 * is waiting.  A descriptor sent with a frame has arrived by the time that
 * frame's header is returned by pyw_stream_next() (it rides on the first
 * byte of the sender's write, which is never after the frame).
 */
int pyw_stream_take_fd(pyw_stream_t *s);

/* Descriptors received and not yet taken. */
static inline int pyw_stream_fds_waiting(const pyw_stream_t *s)
{
    return s->nfds;
}

#endif /* PYW_STREAM_H */

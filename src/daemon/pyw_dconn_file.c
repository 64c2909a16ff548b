/*
 * pyw_dconn_file.c - body bytes as a descriptor: a FILE frame whose file
 * rides along (SCM_RIGHTS), for Apache to read or sendfile() itself.
 */
#include <errno.h>

#include "../common/pyw_io.h"
#include "pyw_dconn_int.h"

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
    rv = pyw_dconn_out_reserve(c, pending + 2 * PYW_FRAME_HEADER_SIZE
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
                        pyw_io_deadline(pyw_dconn_write_timeout_ms));
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

/*
 * pyw_dconn_write.c - a connection's output: the pending-output buffer
 * and the writes every frame goes out with.  A write is tried at once;
 * one that has to wait for room lets go of the waiter's lock (the GIL)
 * until it is done, and its first failure sticks to the connection.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/uio.h>

#include "../common/pyw_io.h"
#include "pyw_dconn_int.h"

/* Make room for `need` bytes of pending output. */
int pyw_dconn_out_reserve(pyw_dconn_t *c, size_t need)
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

int64_t pyw_dconn_write_timeout_ms = PYW_DCONN_IO_TIMEOUT_MS;

void pyw_dconn_set_write_timeout(int64_t ms)
{
    pyw_dconn_write_timeout_ms = ms > 0 ? ms : PYW_DCONN_IO_TIMEOUT_MS;
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
                                  pyw_io_deadline(pyw_dconn_write_timeout_ms));
    }
    if ((rv = pyw_io_writev_once(c->fd, &iov, &n)) != -EAGAIN) {
        return rv;
    }
    token = w->release();
    rv = pyw_io_writev_full(c->fd, iov, n,
                            pyw_io_deadline(pyw_dconn_write_timeout_ms));
    w->reacquire(token);
    return rv;
}

/* Write iov (whose first entry may be the pending output) and account for
 * it.  The first failure sticks to the connection. */
int pyw_dconn_writev(pyw_dconn_t *c, const pyw_dconn_waiter_t *w,
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
int pyw_dconn_iov_pending(pyw_dconn_t *c, struct iovec *iov)
{
    if (c->out_len == 0) {
        return 0;
    }
    iov[0].iov_base = c->out;
    iov[0].iov_len = c->out_len;
    return 1;
}

/*
 * pyw_dconn.c - one Apache connection in the daemon: its lifetime, the
 * per-request reset and what the worker asks of its state.  The response
 * writer the WSGI adapter uses is pyw_dconn_send.c and pyw_dconn_file.c
 * over the writes of pyw_dconn_write.c; the body puller is
 * pyw_dconn_body.c.
 *
 * Any I/O or protocol failure is sticky (c->err): later calls fail at once
 * and the worker closes the connection instead of reusing it.
 */
#include <stdlib.h>
#include <unistd.h>

#include "pyw_dconn_int.h"
#include "pyw_dfds.h"

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
    pthread_mutex_init(&c->wlock, NULL);
    c->fd = fd;
    c->state = PYW_DCONN_IDLE;
    pyw_dfds_add(fd);
    return c;
}

void pyw_dconn_free(pyw_dconn_t *c)
{
    if (c == NULL) {
        return;
    }
    pyw_stream_free(&c->stream);
    if (c->fd >= 0) {
        pyw_dfds_remove(c->fd);
        close(c->fd);
    }
    free(c->out);
    pthread_mutex_destroy(&c->wlock);
    free(c);
}

int pyw_dconn_trylock_writes(pyw_dconn_t *c)
{
    return pthread_mutex_trylock(&c->wlock);
}

void pyw_dconn_lock_writes(pyw_dconn_t *c)
{
    pthread_mutex_lock(&c->wlock);
}

void pyw_dconn_unlock_writes(pyw_dconn_t *c)
{
    pthread_mutex_unlock(&c->wlock);
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

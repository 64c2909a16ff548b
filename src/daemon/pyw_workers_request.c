/*
 * pyw_workers_request.c - one worker's request loop: read the REQUEST
 * frame, drop it if Apache gave up on it while it was queued, refuse it
 * if it waited longer than queue-timeout, run it through app->handle,
 * serve what Apache pipelined behind it.  Also the watchdog's refusal of
 * requests still queued past queue-timeout, which reads them the same
 * way.
 *
 * Queue time: Apache sends r->request_time as mod_pyworker.request_start
 * (microseconds since the epoch), so the wait a worker checks includes
 * the time in Apache and in the listen backlog.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../common/pyw_io.h"
#include "pyw_balance.h"
#include "pyw_dlog.h"
#include "pyw_dlogno.h"
#include "pyw_poller.h"
#include "pyw_workers_int.h"

/* How long a worker waits for the rest of a REQUEST frame once the
 * connection turned readable: Apache writes it in one go. */
#define WORKER_REQUEST_TIMEOUT_MS  (60 * 1000)
/* The watchdog reads a queued REQUEST itself to refuse it: it already
 * arrived, so this is only a bound for a peer that sent half a frame. */
#define WORKER_SWEEP_READ_MS       100

/* Apache's request start time and the URI for logs (REQUEST_URI, or the
 * URI a subrequest or internal redirect serves), from the first pairs,
 * where Apache puts them (pyw_proto.h): the payload is overwritten by
 * the first body read, the URI is needed until the end. */
#define WORKER_SCAN_PAIRS 4

static void worker_copy_uri(worker_req_t *rq, pyw_slice_t value)
{
    size_t n = value.len < sizeof(rq->uri) - 1 ? value.len
                                               : sizeof(rq->uri) - 1;

    memcpy(rq->uri, value.data, n);
    rq->uri[n] = '\0';
}

static void worker_scan(const unsigned char *env, size_t len,
                        worker_req_t *rq)
{
    static const char start_key[] = PYW_ENV_REQUEST_START;
    static const char served_key[] = PYW_ENV_SUBREQUEST_URI;
    pyw_pair_iter_t it;
    pyw_slice_t name, value;
    const char *err;
    int seen = 0, served = 0;

    strcpy(rq->uri, "-");
    rq->start_us = 0;
    pyw_pair_iter_init(&it, env, len);
    while (seen++ < WORKER_SCAN_PAIRS
           && pyw_pair_next(&it, &name, &value, &err) == 1) {
        if (name.len == 11 && memcmp(name.data, "REQUEST_URI", 11) == 0) {
            if (!served) {
                worker_copy_uri(rq, value);
            }
        }
        else if (name.len == sizeof(served_key) - 1
                 && memcmp(name.data, served_key, name.len) == 0) {
            worker_copy_uri(rq, value);
            served = 1;
        }
        else if (name.len == sizeof(start_key) - 1
                 && memcmp(name.data, start_key, name.len) == 0) {
            rq->start_us = pyw_decimal(value.data, value.len);
        }
    }
}

/* Milliseconds since Apache received the request; -1 if unknown. */
static int64_t worker_waited_ms(const worker_req_t *rq)
{
    struct timespec now;
    int64_t now_us;

    if (rq->start_us <= 0) {
        return -1;
    }
    clock_gettime(CLOCK_REALTIME, &now);
    now_us = (int64_t)now.tv_sec * 1000000 + now.tv_nsec / 1000;
    return now_us > rq->start_us ? (now_us - rq->start_us) / 1000 : 0;
}

/* Answer 503 without running the request.  0 clean, -1 close. */
static int workers_refuse(pyw_dconn_t *c, const worker_req_t *rq,
                          int64_t waited_ms)
{
    double limit = (double)pyw_wq.queue_timeout_ms / 1000.0;
    char reason[160];

    snprintf(reason, sizeof(reason), "request waited longer than "
             "queue-timeout (%g s) for a worker", limit);
    pyw_dlog(PYW_LOG_WARNING, PYW_LOG_QUEUE_TIMEOUT, rq->uri,
             "request waited %.1f s for a worker, longer than queue-timeout "
             "(%g s): answered 503 without running it",
             (double)waited_ms / 1000.0, limit);
    if (pyw_dconn_send_error(c, 503, reason) < 0 || pyw_dconn_broken(c)) {
        return -1;
    }
    return 0;
}

/* Milliseconds the request has waited: since Apache received it, or at
 * least since it was queued here (the pyw_io clock). */
static int64_t worker_waited_queued_ms(const worker_req_t *rq,
                                       int64_t queued_ms)
{
    int64_t waited = worker_waited_ms(rq);
    int64_t queued = pyw_io_now_ms() - queued_ms;

    return waited > queued ? waited : queued;
}

/*
 * Apache gives up on a request it sent by closing the connection: 504 at
 * request-timeout or socket-timeout (a connection left mid-exchange is
 * never reused), or its child or client went away.  Nobody would
 * read the answer, so a request whose REQUEST waited in the queue is
 * looked at before it runs.  The REQUEST is read first (the URI for the
 * log line, the claim given back); poll() still reports the close
 * (POLLHUP, POLLRDHUP) with or without bytes left to read.  Time
 * arithmetic would not be exact: socket-timeout may be Apache's Timeout
 * or a ProxyPass timeout=, and Apache counts request-timeout from its
 * handler's start.  1: given up on, logged; c is to be closed.
 */
static int worker_given_up(pyw_dconn_t *c, const worker_req_t *rq)
{
    struct pollfd p;

    p.fd = c->fd;
    p.events = POLLRDHUP;
    p.revents = 0;
    while (poll(&p, 1, 0) < 0 && errno == EINTR) {
    }
    if ((p.revents & (POLLRDHUP | POLLHUP | POLLERR)) == 0) {
        return 0;
    }
    pyw_dlog(PYW_LOG_INFO, PYW_LOG_GIVEN_UP, rq->uri,
             "Apache gave up on the request (closed the connection) while "
             "it waited %.1f s for a worker: not run",
             (double)worker_waited_queued_ms(rq, c->queued_ms) / 1000.0);
    return 1;
}

/* Read the REQUEST frame.  0 with env, len and probe (a health check,
 * PYW_REQUEST_PROBE) set, or -1: close. */
static int worker_read_request(pyw_dconn_t *c, const unsigned char **env,
                               size_t *len, int *probe, int64_t timeout_ms)
{
    pyw_stream_t *s = pyw_dconn_stream(c);
    int64_t deadline = pyw_io_deadline(timeout_ms);
    pyw_frame_t f = { 0 };
    int rv;

    rv = pyw_stream_next(s, &f, deadline);
    if (rv == -ECONNRESET && pyw_stream_buffered(s) == 0) {
        return -1;              /* Apache closed an idle connection */
    }
    if (rv == 0 && f.type != PYW_FRAME_REQUEST) {
        s->err = "expected a REQUEST frame";
        rv = -EPROTO;
    }
    if (rv == 0 && f.claim != 0) {
        pyw_balance_unclaim(f.claim);   /* counted as busy here */
    }
    if (rv == 0) {
        rv = pyw_stream_payload(s, env, deadline);
        *len = f.length;
        *probe = (f.flags & PYW_REQUEST_PROBE) != 0;
    }
    if (rv == -EPROTO) {
        pyw_dlog(PYW_LOG_ERR, PYW_LOG_PROTOCOL, NULL,
                 "protocol error from Apache: %s (type %s); closing",
                 s->err ? s->err : "?", pyw_frame_type_name(f.type));
    }
    else if (rv < 0) {
        pyw_dlog(PYW_LOG_INFO, PYW_LOG_REQUEST_READ, NULL,
                 "reading REQUEST failed: %s; closing", strerror(-rv));
    }
    return rv < 0 ? -1 : 0;
}

/* Run one request; queued: see pyw_worker_serve.  0: the connection is
 * clean; -1: close it. */
static int worker_run_one(pyw_worker_t *w, pyw_dconn_t *c, int queued)
{
    const unsigned char *env = NULL;
    size_t len = 0;
    worker_req_t rq;
    int64_t waited;
    int rv, probe = 0;

    pyw_dconn_reset(c);
    if (worker_read_request(c, &env, &len, &probe,
                            WORKER_REQUEST_TIMEOUT_MS) < 0) {
        return -1;
    }
    worker_scan(env, len, &rq);
    rq.probe = probe;
    if (queued && worker_given_up(c, &rq)) {
        return -1;
    }
    waited = worker_waited_ms(&rq);
    if (pyw_wq.queue_timeout_ms > 0 && waited > pyw_wq.queue_timeout_ms) {
        return workers_refuse(c, &rq, waited);
    }
    pyw_worker_begin(w, &rq);
    rv = pyw_wq.app->handle(w->app_thread, c, env, len);
    if (rv == 0 && !pyw_dconn_finished(c)) {
        /* Apache would wait for END forever; end the request here. */
        pyw_dlog(PYW_LOG_ERR, PYW_LOG_NO_END, w->uri,
                 "request ended without END or ERROR");
        if (pyw_dconn_headers_sent(c)
            || pyw_dconn_send_error(c, 500, "Internal Server Error") < 0) {
            rv = -1;
        }
    }
    pyw_worker_end(w, &rq);
    return (rv == 0 && !pyw_dconn_broken(c)) ? 0 : -1;
}

int pyw_worker_serve(pyw_worker_t *w, pyw_dconn_t *c, int queued)
{
    for (;;) {
        if (worker_run_one(w, c, queued) < 0) {
            pyw_poller_close(c);
            return 0;
        }
        queued = 0;     /* a pipelined request follows at once */
        /* Neither epoll nor poll reports bytes already in our buffer. */
        if (!pyw_dconn_frame_buffered(c)) {
            break;
        }
    }
    pyw_dconn_idle(c);
    return 1;
}

/* Refuse one connection taken from the queue: read its REQUEST here and
 * answer 503, then hand the connection back like a worker would. */
static void workers_refuse_queued(pyw_dconn_t *c, int64_t queued_ms)
{
    const unsigned char *env = NULL;
    size_t len = 0;
    worker_req_t rq;
    int probe = 0;

    pyw_dconn_reset(c);
    if (worker_read_request(c, &env, &len, &probe,
                            WORKER_SWEEP_READ_MS) < 0) {
        pyw_poller_close(c);    /* Apache closed it, or a broken frame */
        return;
    }
    worker_scan(env, len, &rq);
    if (worker_given_up(c, &rq)) {
        pyw_poller_close(c);    /* no 503 for a closed connection */
        return;
    }
    if (workers_refuse(c, &rq, worker_waited_queued_ms(&rq, queued_ms))
        < 0) {
        pyw_poller_close(c);
    }
    else if (pyw_dconn_frame_buffered(c)) {
        pyw_workers_push(c);    /* pipelined: queue it again, counted */
    }
    else {
        pyw_poller_rearm(c);
    }
}

void pyw_workers_expire_queued(void)
{
    pyw_dconn_t *c;
    int64_t queued;

    if (pyw_wq.queue_timeout_ms <= 0) {
        return;
    }
    for (;;) {
        /* The queue is FIFO: if the head is young enough, all are. */
        pthread_mutex_lock(&pyw_wq.lock);
        c = pyw_wq.head;
        if (c == NULL
            || pyw_io_now_ms() - c->queued_ms <= pyw_wq.queue_timeout_ms) {
            pthread_mutex_unlock(&pyw_wq.lock);
            return;
        }
        queued = c->queued_ms;
        pyw_workers_unlink_head();
        pthread_mutex_unlock(&pyw_wq.lock);
        workers_refuse_queued(c, queued);
        pyw_workers_done();
    }
}

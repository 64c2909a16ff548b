/*
 * pyw_workers.c - fixed thread pool and FIFO work queue of the daemon.
 *
 * Locking (one mutex, wq.lock):
 *   - wq.lock protects the queue (head, tail), the counters (busy,
 *     in_flight, ready, failed) and each worker's uri/started_ms.
 *   - It is held only to move a pointer or copy a short string: never
 *     around socket I/O, Python, or a log write.
 *   - Lock order: the poller's connection lock may be held when
 *     pyw_workers_push() takes wq.lock (at poller shutdown); a worker never
 *     holds wq.lock while calling into the poller.
 *   - A connection popped from the queue belongs to that worker alone until
 *     it calls pyw_poller_rearm()/pyw_poller_close(); only then is `busy`
 *     decremented, so busy == 0 means no request is queued or running.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/pyw_io.h"
#include "../python/pyw_interp.h"
#include "../python/pyw_wsgi.h"
#include "pyw_dconn_private.h"
#include "pyw_dlog.h"
#include "pyw_dlogno.h"
#include "pyw_poller.h"
#include "pyw_workers.h"

/* How long a worker waits for the rest of a REQUEST frame once the
 * connection turned readable: Apache writes it in one go. */
#define WORKER_REQUEST_TIMEOUT_MS  (60 * 1000)
#define WORKER_URI_MAX             512

typedef struct {
    pthread_t             tid;
    int                   index;
    pyw_interp_thread_t  *interp;
    /* wq.lock: what this worker runs now (started_ms == 0: nothing). */
    int64_t               started_ms;
    char                  uri[WORKER_URI_MAX];
} pyw_worker_t;

static struct {
    pthread_mutex_t  lock;
    pthread_cond_t   nonempty;   /* signalled per pushed connection      */
    pthread_cond_t   idle;       /* broadcast when busy drops to 0       */
    pthread_cond_t   started;    /* broadcast as each thread gets ready   */
    pyw_dconn_t     *head, *tail;
    int              busy;       /* queued + held by a worker            */
    int              in_flight;  /* inside pyw_wsgi_handle()             */
    int              ready, failed;
    int              n;
    pyw_worker_t    *workers;
} wq = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .nonempty = PTHREAD_COND_INITIALIZER,
    .started = PTHREAD_COND_INITIALIZER,
};

void pyw_workers_push(pyw_dconn_t *c)
{
    c->qnext = NULL;
    pthread_mutex_lock(&wq.lock);
    if (wq.tail) {
        wq.tail->qnext = c;
    }
    else {
        wq.head = c;
    }
    wq.tail = c;
    wq.busy++;
    pthread_cond_signal(&wq.nonempty);
    pthread_mutex_unlock(&wq.lock);
}

static pyw_dconn_t *workers_pop(void)
{
    pyw_dconn_t *c;

    pthread_mutex_lock(&wq.lock);
    while (wq.head == NULL) {
        pthread_cond_wait(&wq.nonempty, &wq.lock);
    }
    /* wq.lock is held and the queue is not empty. */
    c = wq.head;
    wq.head = c->qnext;
    if (wq.head == NULL) {
        wq.tail = NULL;
    }
    c->qnext = NULL;
    pthread_mutex_unlock(&wq.lock);
    return c;
}

/* The worker handed its connection back (re-armed or closed). */
static void workers_done(void)
{
    pthread_mutex_lock(&wq.lock);
    if (--wq.busy == 0) {
        pthread_cond_broadcast(&wq.idle);
    }
    pthread_mutex_unlock(&wq.lock);
}

/* Copy REQUEST_URI out of the environ pairs: the payload is overwritten
 * by the first body read, the URI is needed for logs until the end. */
static void worker_begin(pyw_worker_t *w, const unsigned char *env,
                         size_t len)
{
    pyw_pair_iter_t it;
    pyw_slice_t name, value;
    const char *err;
    char uri[WORKER_URI_MAX] = "-";

    pyw_pair_iter_init(&it, env, len);
    while (pyw_pair_next(&it, &name, &value, &err) == 1) {
        if (name.len == 11 && memcmp(name.data, "REQUEST_URI", 11) == 0) {
            size_t n = value.len < sizeof(uri) - 1 ? value.len
                                                   : sizeof(uri) - 1;
            memcpy(uri, value.data, n);
            uri[n] = '\0';
            break;
        }
    }
    pthread_mutex_lock(&wq.lock);
    memcpy(w->uri, uri, sizeof(uri));
    w->started_ms = pyw_io_now_ms();
    wq.in_flight++;
    pthread_mutex_unlock(&wq.lock);
}

static void worker_end(pyw_worker_t *w)
{
    pthread_mutex_lock(&wq.lock);
    w->started_ms = 0;
    wq.in_flight--;
    pthread_mutex_unlock(&wq.lock);
}

/* Read the REQUEST frame.  0 with env and len set, or -1: close. */
static int worker_read_request(pyw_dconn_t *c, const unsigned char **env,
                               size_t *len)
{
    pyw_stream_t *s = pyw_dconn_stream(c);
    int64_t deadline = pyw_io_deadline(WORKER_REQUEST_TIMEOUT_MS);
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
    if (rv == 0) {
        rv = pyw_stream_payload(s, env, deadline);
        *len = f.length;
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

/* Run one request.  0: the connection is clean; -1: close it. */
static int worker_run_one(pyw_worker_t *w, pyw_dconn_t *c)
{
    const unsigned char *env = NULL;
    size_t len = 0;
    int rv;

    pyw_dconn_reset(c);
    if (worker_read_request(c, &env, &len) < 0) {
        return -1;
    }
    worker_begin(w, env, len);
    rv = pyw_wsgi_handle(w->interp, c, env, len);
    if (rv == 0 && !pyw_dconn_finished(c)) {
        /* Apache would wait for END forever; end the request here. */
        pyw_dlog(PYW_LOG_ERR, PYW_LOG_NO_END, w->uri,
                 "request ended without END or ERROR");
        if (pyw_dconn_headers_sent(c)
            || pyw_dconn_send_error(c, 500, "Internal Server Error") < 0) {
            rv = -1;
        }
    }
    worker_end(w);
    return (rv == 0 && !pyw_dconn_broken(c)) ? 0 : -1;
}

static void worker_serve(pyw_worker_t *w, pyw_dconn_t *c)
{
    for (;;) {
        if (worker_run_one(w, c) < 0) {
            pyw_poller_close(c);
            return;
        }
        /* epoll will not report bytes that already sit in our buffer. */
        if (!pyw_dconn_frame_buffered(c)) {
            break;
        }
    }
    pyw_poller_rearm(c);
}

static void *worker_main(void *arg)
{
    pyw_worker_t *w = arg;

    w->interp = pyw_interp_thread_new();
    pthread_mutex_lock(&wq.lock);
    if (w->interp) {
        wq.ready++;
    }
    else {
        wq.failed++;
    }
    pthread_cond_broadcast(&wq.started);
    pthread_mutex_unlock(&wq.lock);
    if (w->interp == NULL) {
        return NULL;
    }
    for (;;) {
        worker_serve(w, workers_pop());
        workers_done();
    }
    return NULL;
}

static int workers_init_idle_cond(void)
{
    pthread_condattr_t attr;
    int rv;

    /* Shutdown waits against the monotonic clock, like pyw_io. */
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    rv = pthread_cond_init(&wq.idle, &attr);
    pthread_condattr_destroy(&attr);
    return rv;
}

int pyw_workers_start(int n)
{
    int i, rv, started = 0;

    if (n < 1 || workers_init_idle_cond() != 0
        || (wq.workers = calloc((size_t)n, sizeof(*wq.workers))) == NULL) {
        pyw_dlog(PYW_LOG_CRIT, PYW_LOG_THREADS_START, NULL,
                 "cannot set up %d worker threads", n);
        return -1;
    }
    wq.n = n;
    for (i = 0; i < n; i++) {
        wq.workers[i].index = i;
        rv = pthread_create(&wq.workers[i].tid, NULL, worker_main,
                            &wq.workers[i]);
        if (rv != 0) {
            pyw_dlog(PYW_LOG_CRIT, PYW_LOG_THREADS_START, NULL,
                     "cannot create worker thread %d of %d: %s",
                     i + 1, n, strerror(rv));
            break;
        }
        started++;
    }
    pthread_mutex_lock(&wq.lock);
    while (wq.ready + wq.failed < started) {
        pthread_cond_wait(&wq.started, &wq.lock);
    }
    rv = (started == n && wq.failed == 0) ? 0 : -1;
    pthread_mutex_unlock(&wq.lock);
    if (rv < 0 && started == n) {
        pyw_dlog(PYW_LOG_CRIT, PYW_LOG_THREADS_START, NULL,
                 "%d of %d worker threads could not get a Python thread "
                 "state", wq.failed, n);
    }
    return rv;
}

int pyw_workers_busy(void)
{
    int n;

    pthread_mutex_lock(&wq.lock);
    n = wq.busy;
    pthread_mutex_unlock(&wq.lock);
    return n;
}

int pyw_workers_in_flight(void)
{
    int n;

    pthread_mutex_lock(&wq.lock);
    n = wq.in_flight;
    pthread_mutex_unlock(&wq.lock);
    return n;
}

/* Absolute CLOCK_MONOTONIC time for a deadline on the pyw_io clock
 * (converted through "time left", so the two clocks need not agree). */
static struct timespec workers_abstime(int64_t deadline_ms)
{
    int64_t left = deadline_ms - pyw_io_now_ms();
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    if (left < 0) {
        left = 0;
    }
    ts.tv_sec += (time_t)(left / 1000);
    ts.tv_nsec += (long)(left % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int pyw_workers_wait_idle(int64_t deadline_ms)
{
    struct timespec ts = workers_abstime(deadline_ms);
    int rv = 0;

    pthread_mutex_lock(&wq.lock);
    while (wq.busy > 0 && rv != ETIMEDOUT) {
        if (deadline_ms == PYW_NO_DEADLINE) {
            pthread_cond_wait(&wq.idle, &wq.lock);
        }
        else {
            rv = pthread_cond_timedwait(&wq.idle, &wq.lock, &ts);
        }
    }
    rv = wq.busy > 0 ? -ETIMEDOUT : 0;
    pthread_mutex_unlock(&wq.lock);
    return rv;
}

void pyw_workers_log_running(int level, int code)
{
    int64_t now = pyw_io_now_ms();
    int i;

    for (i = 0; i < wq.n; i++) {
        pyw_worker_t *w = &wq.workers[i];
        char uri[WORKER_URI_MAX];
        int64_t started;

        pthread_mutex_lock(&wq.lock);
        started = w->started_ms;
        memcpy(uri, w->uri, sizeof(uri));
        pthread_mutex_unlock(&wq.lock);
        if (started) {
            pyw_dlog(level, code, uri,
                     "request still running after %.1f s (thread %d)",
                     (double)(now - started) / 1000.0, i + 1);
        }
    }
}

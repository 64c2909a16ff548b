/*
 * pyw_workers.c - fixed thread pool and FIFO work queue of the daemon.
 *
 * Locking (one mutex, wq.lock):
 *   - wq.lock protects the queue (head, tail, each entry's queued_ms), the
 *     counters (busy, in_flight, ready, failed, completed, last_activity)
 *     and each worker's uri/started_ms/overdue.
 *   - It is held only to move a pointer or copy a short string: never
 *     around socket I/O, Python, or a log write.
 *   - Lock order: the poller's connection lock may be held when
 *     pyw_workers_push() takes wq.lock (at poller shutdown); a worker never
 *     holds wq.lock while calling into the poller.
 *   - A connection popped from the queue belongs to that worker alone until
 *     it calls pyw_poller_rearm()/pyw_poller_close(); only then is `busy`
 *     decremented, so busy == 0 means no request is queued or running.
 *     The watchdog (queue-timeout) and the poller's drain pop connections
 *     too, under the same rule.
 *
 * Queue time: Apache sends r->request_time as mod_pyworker.request_start
 * (microseconds since the epoch), so the wait a worker checks includes
 * the time in Apache and in the listen backlog.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/pyw_io.h"
#include "../common/pyw_wboard.h"
#include "pyw_app.h"
#include "pyw_balance.h"
#include "pyw_dconn_private.h"
#include "pyw_dlog.h"
#include "pyw_dlogno.h"
#include "pyw_poller.h"
#include "pyw_watchdog.h"
#include "pyw_workers.h"

/* How long a worker waits for the rest of a REQUEST frame once the
 * connection turned readable: Apache writes it in one go. */
#define WORKER_REQUEST_TIMEOUT_MS  (60 * 1000)
/* The watchdog reads a queued REQUEST itself to refuse it: it already
 * arrived, so this is only a bound for a peer that sent half a frame. */
#define WORKER_SWEEP_READ_MS       100
#define WORKER_URI_MAX             512

typedef struct {
    pthread_t             tid;
    int                   index;
    pyw_app_thread_t     *app_thread;
    /* wq.lock: what this worker runs now (started_ms == 0: nothing). */
    int64_t               started_ms;
    int                   overdue;      /* reported past request-timeout */
    char                  uri[WORKER_URI_MAX];
} pyw_worker_t;

/* What a worker needs from the REQUEST environ, found in one pass. */
typedef struct {
    char     uri[WORKER_URI_MAX];
    int64_t  start_us;      /* Apache's request_time; 0 = not sent */
} worker_req_t;

static struct {
    pthread_mutex_t  lock;
    sem_t            pushed;     /* posted per pushed connection: a
                                    semaphore, not a condition variable,
                                    because glibc's cond_wait re-takes
                                    the mutex as contended and so costs
                                    a FUTEX_WAKE per pop (strace)       */
    pthread_cond_t   idle;       /* broadcast when busy drops to 0       */
    pthread_cond_t   started;    /* broadcast as each thread gets ready   */
    pyw_dconn_t     *head, *tail;
    int              queued;     /* length of the queue; written under
                                    the lock, read lock-free as a hint  */
    int              busy;       /* queued + held by a worker            */
    int              in_flight;  /* inside app->handle()                 */
    int              ready, failed;
    int64_t          completed;  /* requests run to the end              */
    int64_t          last_activity; /* a request started or ended; 0:
                                     none yet                          */
    int64_t          queue_timeout_ms;  /* set before the threads start  */
    int64_t          max_requests;      /* set before the threads start  */
    const pyw_app_t *app;               /* set before the threads start  */
    int              n;
    pyw_worker_t    *workers;
    struct pyw_wboard *wboard;          /* set before the threads start  */
    int              pindex;            /* our process's index on it     */
} wq = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .started = PTHREAD_COND_INITIALIZER,
};

void pyw_workers_push(pyw_dconn_t *c)
{
    c->qnext = NULL;
    pthread_mutex_lock(&wq.lock);
    c->queued_ms = pyw_io_now_ms();
    if (wq.tail) {
        wq.tail->qnext = c;
    }
    else {
        wq.head = c;
    }
    wq.tail = c;
    __atomic_store_n(&wq.queued, wq.queued + 1, __ATOMIC_RELAXED);
    pyw_wboard_queued(wq.wboard, wq.pindex, wq.queued);
    pyw_balance_busy(++wq.busy);
    pthread_mutex_unlock(&wq.lock);
    sem_post(&wq.pushed);
}

/* wq.lock held, queue not empty. */
static pyw_dconn_t *workers_unlink_head(void)
{
    pyw_dconn_t *c = wq.head;

    wq.head = c->qnext;
    if (wq.head == NULL) {
        wq.tail = NULL;
    }
    __atomic_store_n(&wq.queued, wq.queued - 1, __ATOMIC_RELAXED);
    pyw_wboard_queued(wq.wboard, wq.pindex, wq.queued);
    c->qnext = NULL;
    return c;
}

static pyw_dconn_t *workers_pop(void)
{
    pyw_dconn_t *c;

    /* One post per push; the watchdog and the drain also take queued
     * connections, so a post may find the queue empty: wait again. */
    for (;;) {
        while (sem_wait(&wq.pushed) != 0) {
            /* EINTR */
        }
        pthread_mutex_lock(&wq.lock);
        c = wq.head ? workers_unlink_head() : NULL;
        pthread_mutex_unlock(&wq.lock);
        if (c != NULL) {
            return c;
        }
    }
}

void pyw_workers_dropped(int n)
{
    pthread_mutex_lock(&wq.lock);
    wq.busy -= n;
    pyw_balance_busy(wq.busy);
    if (wq.busy == 0) {
        pthread_cond_broadcast(&wq.idle);
    }
    pthread_mutex_unlock(&wq.lock);
    pyw_poller_capacity_freed();    /* after busy dropped: see there */
}

/* The worker handed its connection back (re-armed or closed). */
static void workers_done(void)
{
    pyw_workers_dropped(1);
}

pyw_dconn_t *pyw_workers_take_head(void)
{
    pyw_dconn_t *c;

    pthread_mutex_lock(&wq.lock);
    c = wq.head ? workers_unlink_head() : NULL;
    pthread_mutex_unlock(&wq.lock);
    return c;
}

int pyw_workers_queued_hint(void)
{
    return __atomic_load_n(&wq.queued, __ATOMIC_RELAXED);
}

pyw_dconn_t *pyw_workers_take_queued(void)
{
    pyw_dconn_t *c;

    pthread_mutex_lock(&wq.lock);
    c = wq.head;
    wq.head = wq.tail = NULL;
    __atomic_store_n(&wq.queued, 0, __ATOMIC_RELAXED);
    pyw_wboard_queued(wq.wboard, wq.pindex, 0);
    pthread_mutex_unlock(&wq.lock);
    return c;
}

/* Microseconds as Apache printed them; 0 (no check) if not a number. */
static int64_t worker_parse_us(pyw_slice_t v)
{
    int64_t n = 0;
    size_t i;

    if (v.len == 0 || v.len > 18) {
        return 0;
    }
    for (i = 0; i < v.len; i++) {
        if (v.data[i] < '0' || v.data[i] > '9') {
            return 0;
        }
        n = n * 10 + (v.data[i] - '0');
    }
    return n;
}

/* One pass over the environ pairs for REQUEST_URI (the payload is
 * overwritten by the first body read, the URI is needed for logs until
 * the end) and Apache's request start time. */
static void worker_scan(const unsigned char *env, size_t len,
                        worker_req_t *rq)
{
    static const char start_key[] = PYW_ENV_REQUEST_START;
    pyw_pair_iter_t it;
    pyw_slice_t name, value;
    const char *err;
    int found = 0;

    strcpy(rq->uri, "-");
    rq->start_us = 0;
    pyw_pair_iter_init(&it, env, len);
    while (found < 2 && pyw_pair_next(&it, &name, &value, &err) == 1) {
        if (name.len == 11 && memcmp(name.data, "REQUEST_URI", 11) == 0) {
            size_t n = value.len < sizeof(rq->uri) - 1 ? value.len
                                                       : sizeof(rq->uri) - 1;
            memcpy(rq->uri, value.data, n);
            rq->uri[n] = '\0';
            found++;
        }
        else if (name.len == sizeof(start_key) - 1
                 && memcmp(name.data, start_key, name.len) == 0) {
            rq->start_us = worker_parse_us(value);
            found++;
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
    double limit = (double)wq.queue_timeout_ms / 1000.0;
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

static void worker_begin(pyw_worker_t *w, const worker_req_t *rq)
{
    pthread_mutex_lock(&wq.lock);
    memcpy(w->uri, rq->uri, sizeof(w->uri));
    w->started_ms = wq.last_activity = pyw_io_now_ms();
    w->overdue = 0;
    wq.in_flight++;
    pthread_mutex_unlock(&wq.lock);
    pyw_wboard_begin(wq.wboard, wq.pindex, w->index, w->started_ms, w->uri);
}

static void worker_end(pyw_worker_t *w)
{
    int reached;

    pyw_wboard_end(wq.wboard, wq.pindex, w->index);
    pthread_mutex_lock(&wq.lock);
    w->started_ms = 0;
    wq.last_activity = pyw_io_now_ms();
    wq.in_flight--;
    reached = ++wq.completed == wq.max_requests;
    pthread_mutex_unlock(&wq.lock);
    if (reached) {
        pyw_watchdog_poke();    /* at once, not at its next tick */
    }
}

/* Read the REQUEST frame.  0 with env and len set, or -1: close. */
static int worker_read_request(pyw_dconn_t *c, const unsigned char **env,
                               size_t *len, int64_t timeout_ms)
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
    worker_req_t rq;
    int64_t waited;
    int rv;

    pyw_dconn_reset(c);
    if (worker_read_request(c, &env, &len, WORKER_REQUEST_TIMEOUT_MS) < 0) {
        return -1;
    }
    worker_scan(env, len, &rq);
    waited = worker_waited_ms(&rq);
    if (wq.queue_timeout_ms > 0 && waited > wq.queue_timeout_ms) {
        return workers_refuse(c, &rq, waited);
    }
    worker_begin(w, &rq);
    rv = wq.app->handle(w->app_thread, c, env, len);
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
    pyw_dconn_idle(c);
    pyw_poller_rearm(c);
}

static void *worker_main(void *arg)
{
    pyw_worker_t *w = arg;

    w->app_thread = wq.app->thread_new();
    pthread_mutex_lock(&wq.lock);
    if (w->app_thread) {
        wq.ready++;
    }
    else {
        wq.failed++;
    }
    pthread_cond_broadcast(&wq.started);
    pthread_mutex_unlock(&wq.lock);
    if (w->app_thread == NULL) {
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

/* stack-size=, rounded up to whole pages and to libc's minimum. */
static int workers_stack_size(pthread_attr_t *attr, int64_t bytes)
{
    long page = sysconf(_SC_PAGESIZE);
    size_t size = (size_t)bytes;

    if (page > 0) {
        size = (size + (size_t)page - 1) / (size_t)page * (size_t)page;
    }
    if (size < (size_t)PTHREAD_STACK_MIN) {
        size = (size_t)PTHREAD_STACK_MIN;
    }
    return pthread_attr_setstacksize(attr, size);
}

int pyw_workers_start(const pyw_daemon_spec_t *spec, const pyw_app_t *app)
{
    pthread_attr_t attr;
    int i, rv, started = 0, n = spec->threads;

    wq.app = app;
    wq.wboard = spec->wboard;
    wq.pindex = spec->process_index;
    pyw_wboard_join(wq.wboard, wq.pindex, getpid());
    wq.queue_timeout_ms = spec->queue_timeout_ms > 0
                          ? spec->queue_timeout_ms : 0;
    wq.max_requests = spec->maximum_requests > 0
                      ? spec->maximum_requests : 0;

    if (n < 1 || workers_init_idle_cond() != 0
        || sem_init(&wq.pushed, 0, 0) != 0
        || (wq.workers = calloc((size_t)n, sizeof(*wq.workers))) == NULL) {
        pyw_dlog(PYW_LOG_CRIT, PYW_LOG_THREADS_START, NULL,
                 "cannot set up %d worker threads", n);
        return -1;
    }
    wq.n = n;
    pthread_attr_init(&attr);
    if (spec->stack_size > 0
        && (rv = workers_stack_size(&attr, spec->stack_size)) != 0) {
        pyw_dlog(PYW_LOG_CRIT, PYW_LOG_THREADS_START, NULL,
                 "stack-size=%lld: %s", (long long)spec->stack_size,
                 strerror(rv));
        pthread_attr_destroy(&attr);
        return -rv;
    }
    for (i = 0; i < n; i++) {
        wq.workers[i].index = i;
        rv = pthread_create(&wq.workers[i].tid, &attr, worker_main,
                            &wq.workers[i]);
        if (rv != 0) {
            pyw_dlog(PYW_LOG_CRIT, PYW_LOG_THREADS_START, NULL,
                     "cannot create worker thread %d of %d: %s",
                     i + 1, n, strerror(rv));
            break;
        }
        started++;
    }
    pthread_attr_destroy(&attr);
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

int64_t pyw_workers_completed(void)
{
    int64_t n;

    pthread_mutex_lock(&wq.lock);
    n = wq.completed;
    pthread_mutex_unlock(&wq.lock);
    return n;
}

int64_t pyw_workers_idle_since(void)
{
    int64_t t;

    pthread_mutex_lock(&wq.lock);
    t = wq.busy == 0 ? wq.last_activity : 0;
    pthread_mutex_unlock(&wq.lock);
    return t;
}

int pyw_workers_quiet(int64_t *since)
{
    int quiet;

    pthread_mutex_lock(&wq.lock);
    quiet = wq.busy == 0;
    *since = wq.last_activity;
    pthread_mutex_unlock(&wq.lock);
    return quiet;
}

int pyw_workers_all_held(int64_t min_ms)
{
    int64_t now = pyw_io_now_ms();
    int i, held;

    pthread_mutex_lock(&wq.lock);
    held = wq.busy >= wq.n;
    for (i = 0; i < wq.n && held; i++) {
        int64_t t = wq.workers[i].started_ms;

        held = t != 0 && now - t >= min_ms;
    }
    pthread_mutex_unlock(&wq.lock);
    return held;
}

int pyw_workers_overdue(int64_t limit_ms, char *uri, size_t len,
                        int64_t *elapsed_ms)
{
    int64_t now = pyw_io_now_ms();
    int i, found = 0;

    pthread_mutex_lock(&wq.lock);
    for (i = 0; i < wq.n && !found; i++) {
        pyw_worker_t *w = &wq.workers[i];

        if (w->started_ms && !w->overdue && now - w->started_ms > limit_ms) {
            w->overdue = found = 1;
            *elapsed_ms = now - w->started_ms;
            snprintf(uri, len, "%s", w->uri);
        }
    }
    pthread_mutex_unlock(&wq.lock);
    return found;
}

/* Refuse one connection taken from the queue: read its REQUEST here and
 * answer 503, then hand the connection back like a worker would. */
static void workers_refuse_queued(pyw_dconn_t *c, int64_t queued_ms)
{
    const unsigned char *env = NULL;
    size_t len = 0;
    worker_req_t rq;
    int64_t waited;

    pyw_dconn_reset(c);
    if (worker_read_request(c, &env, &len, WORKER_SWEEP_READ_MS) < 0) {
        pyw_poller_close(c);    /* Apache closed it, or a broken frame */
        return;
    }
    worker_scan(env, len, &rq);
    waited = worker_waited_ms(&rq);
    if (waited < pyw_io_now_ms() - queued_ms) {
        waited = pyw_io_now_ms() - queued_ms;
    }
    if (workers_refuse(c, &rq, waited) < 0) {
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

    if (wq.queue_timeout_ms <= 0) {
        return;
    }
    for (;;) {
        /* The queue is FIFO: if the head is young enough, all are. */
        pthread_mutex_lock(&wq.lock);
        c = wq.head;
        if (c == NULL
            || pyw_io_now_ms() - c->queued_ms <= wq.queue_timeout_ms) {
            pthread_mutex_unlock(&wq.lock);
            return;
        }
        queued = c->queued_ms;
        workers_unlink_head();
        pthread_mutex_unlock(&wq.lock);
        workers_refuse_queued(c, queued);
        workers_done();
    }
}

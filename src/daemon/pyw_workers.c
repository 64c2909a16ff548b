/*
 * pyw_workers.c - fixed thread pool and FIFO work queue of the daemon:
 * starting the threads, each thread's loop (take a connection, serve it
 * (pyw_workers_request.c), hand it back), and the waits on the queue.
 * The per-worker accounting is pyw_workers_account.c.
 *
 * Locking (one mutex, pyw_wq.lock):
 *   - pyw_wq.lock protects the queue (head, tail, each entry's queued_ms),
 *     the counters (busy, in_flight, ready, failed, completed,
 *     last_activity) and each worker's uri/started_ms/overdue.
 *   - It is held only to move a pointer or copy a short string: never
 *     around socket I/O, Python, or a log write.
 *   - Lock order: the poller's connection lock may be held when
 *     pyw_workers_push() takes pyw_wq.lock (at poller shutdown); a worker
 *     never holds pyw_wq.lock while calling into the poller.
 *   - A connection popped from the queue belongs to that worker alone until
 *     it calls pyw_poller_rearm()/pyw_poller_close(), or counts it as
 *     `holding` while it waits on it for the next request
 *     (pyw_workers_linger.c); busy == 0 means no request is queued or
 *     running, and with holding == 0 too every connection is the
 *     poller's.  The watchdog (queue-timeout) and the poller's drain pop
 *     connections too, under the same rule.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../common/pyw_io.h"
#include "pyw_balance.h"
#include "pyw_dlog.h"
#include "pyw_dlogno.h"
#include "pyw_poller.h"
#include "pyw_workers_int.h"

/* A connection a worker pops within this long of its push did not wait
 * for a worker: its request runs without a look at whether Apache still
 * waits for it (pyw_workers_request.c), since a give-up that soon races
 * the start of the request anyway, and the look costs a syscall.  The
 * pyw_io clock counts whole milliseconds, so the line falls between 1
 * and 2 ms. */
#define WORKERS_PROMPT_MS  1

pyw_wq_t pyw_wq = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .started = PTHREAD_COND_INITIALIZER,
};

/* pyw_wq.lock held, a connection just queued: if fewer workers wait on
 * the queue than it holds, one that waits on its own connection must
 * come (pyw_workers_linger.c).  Its fd to wake, or -1. */
static int workers_wake_lingerer(void)
{
    if (pyw_wq.lingering == NULL
        || __atomic_load_n(&pyw_wq.sem_idle, __ATOMIC_SEQ_CST)
           >= pyw_wq.queued) {
        return -1;
    }
    return pyw_workers_linger_pick();
}

void pyw_workers_push(pyw_dconn_t *c)
{
    int fd;

    c->qnext = NULL;
    pthread_mutex_lock(&pyw_wq.lock);
    c->queued_ms = pyw_io_now_ms();
    if (pyw_wq.tail) {
        pyw_wq.tail->qnext = c;
    }
    else {
        pyw_wq.head = c;
    }
    pyw_wq.tail = c;
    __atomic_store_n(&pyw_wq.queued, pyw_wq.queued + 1, __ATOMIC_RELAXED);
    pyw_wboard_queued(pyw_wq.wboard, pyw_wq.pindex, pyw_wq.queued);
    pyw_balance_busy(++pyw_wq.busy);
    fd = workers_wake_lingerer();
    pthread_mutex_unlock(&pyw_wq.lock);
    sem_post(&pyw_wq.pushed);
    pyw_workers_linger_wake(fd);
}

/* pyw_wq.lock held, queue not empty. */
pyw_dconn_t *pyw_workers_unlink_head(void)
{
    pyw_dconn_t *c = pyw_wq.head;

    pyw_wq.head = c->qnext;
    if (pyw_wq.head == NULL) {
        pyw_wq.tail = NULL;
    }
    __atomic_store_n(&pyw_wq.queued, pyw_wq.queued - 1, __ATOMIC_RELAXED);
    pyw_wboard_queued(pyw_wq.wboard, pyw_wq.pindex, pyw_wq.queued);
    c->qnext = NULL;
    return c;
}

static pyw_dconn_t *workers_pop(void)
{
    pyw_dconn_t *c;

    /* One post per push; the watchdog and the drain also take queued
     * connections, so a post may find the queue empty: wait again. */
    for (;;) {
        __atomic_add_fetch(&pyw_wq.sem_idle, 1, __ATOMIC_SEQ_CST);
        while (sem_wait(&pyw_wq.pushed) != 0) {
            /* EINTR */
        }
        __atomic_sub_fetch(&pyw_wq.sem_idle, 1, __ATOMIC_SEQ_CST);
        pthread_mutex_lock(&pyw_wq.lock);
        c = pyw_wq.head ? pyw_workers_unlink_head() : NULL;
        pthread_mutex_unlock(&pyw_wq.lock);
        if (c != NULL) {
            return c;
        }
    }
}

/* n requests counted out; `hold` of their connections stay with their
 * workers (lingering), which a drain waits for as for a request. */
static void workers_count_out(int n, int hold)
{
    pthread_mutex_lock(&pyw_wq.lock);
    pyw_wq.busy -= n;
    pyw_wq.holding += hold;
    pyw_balance_busy(pyw_wq.busy);
    pyw_workers_idle_check();
    pthread_mutex_unlock(&pyw_wq.lock);
    pyw_poller_capacity_freed();    /* after busy dropped: see there */
}

/* pyw_wq.lock held. */
void pyw_workers_idle_check(void)
{
    if (pyw_wq.busy == 0 && pyw_wq.holding == 0) {
        pthread_cond_broadcast(&pyw_wq.idle);
    }
}

void pyw_workers_dropped(int n)
{
    workers_count_out(n, 0);
}

/* The worker handed its connection back (re-armed or closed). */
void pyw_workers_done(void)
{
    workers_count_out(1, 0);
}

pyw_dconn_t *pyw_workers_take_head(void)
{
    pyw_dconn_t *c;

    pthread_mutex_lock(&pyw_wq.lock);
    c = pyw_wq.head ? pyw_workers_unlink_head() : NULL;
    pthread_mutex_unlock(&pyw_wq.lock);
    return c;
}

void pyw_workers_put_back(pyw_dconn_t *c)
{
    int fd;

    pthread_mutex_lock(&pyw_wq.lock);
    c->qnext = pyw_wq.head;
    pyw_wq.head = c;
    if (pyw_wq.tail == NULL) {
        pyw_wq.tail = c;
    }
    __atomic_store_n(&pyw_wq.queued, pyw_wq.queued + 1, __ATOMIC_RELAXED);
    pyw_wboard_queued(pyw_wq.wboard, pyw_wq.pindex, pyw_wq.queued);
    fd = workers_wake_lingerer();
    pthread_mutex_unlock(&pyw_wq.lock);
    /* A worker may have used up this connection's post meanwhile and
     * found the queue empty; a spare post only costs a look. */
    sem_post(&pyw_wq.pushed);
    pyw_workers_linger_wake(fd);
}

int pyw_workers_queued_hint(void)
{
    return __atomic_load_n(&pyw_wq.queued, __ATOMIC_RELAXED);
}

pyw_dconn_t *pyw_workers_take_queued(void)
{
    pyw_dconn_t *c;

    pthread_mutex_lock(&pyw_wq.lock);
    c = pyw_wq.head;
    pyw_wq.head = pyw_wq.tail = NULL;
    __atomic_store_n(&pyw_wq.queued, 0, __ATOMIC_RELAXED);
    pyw_wboard_queued(pyw_wq.wboard, pyw_wq.pindex, 0);
    pthread_mutex_unlock(&pyw_wq.lock);
    return c;
}

/* Serve c and count it out.  1: c is still w's, idle, and counted as
 * held (pyw_workers_linger ends that); 0: it was closed. */
static int workers_serve(pyw_worker_t *w, pyw_dconn_t *c, int queued)
{
    int kept = pyw_worker_serve(w, c, queued);

    workers_count_out(1, kept);
    return kept;
}

static void *worker_main(void *arg)
{
    pyw_worker_t *w = arg;

    w->app_thread = pyw_wq.app->thread_new();
    pthread_mutex_lock(&pyw_wq.lock);
    if (w->app_thread) {
        pyw_wq.ready++;
    }
    else {
        pyw_wq.failed++;
    }
    pthread_cond_broadcast(&pyw_wq.started);
    pthread_mutex_unlock(&pyw_wq.lock);
    if (w->app_thread == NULL) {
        return NULL;
    }
    for (;;) {
        pyw_dconn_t *c = workers_pop();
        int queued = pyw_io_now_ms() - c->queued_ms > WORKERS_PROMPT_MS;

        /* What comes on c while w lingers is read at once: never looked
         * at again. */
        if (workers_serve(w, c, queued)) {
            while (pyw_workers_linger(w, c) && workers_serve(w, c, 0)) {
            }
        }
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
    rv = pthread_cond_init(&pyw_wq.idle, &attr);
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

    pyw_wq.app = app;
    pyw_wq.wboard = spec->wboard;
    pyw_wq.pindex = PYW_WBOARD_ENTRY(spec->process_index,
                                     spec->wboard_lane);
    pyw_wboard_join(pyw_wq.wboard, pyw_wq.pindex, getpid());
    pyw_wq.queue_timeout_ms = spec->queue_timeout_ms > 0
                              ? spec->queue_timeout_ms : 0;
    pyw_wq.max_requests = spec->maximum_requests > 0
                          ? spec->maximum_requests : 0;

    if (n < 1 || workers_init_idle_cond() != 0
        || sem_init(&pyw_wq.pushed, 0, 0) != 0
        || (pyw_wq.workers = calloc((size_t)n, sizeof(*pyw_wq.workers)))
           == NULL) {
        pyw_dlog(PYW_LOG_CRIT, PYW_LOG_THREADS_START, NULL,
                 "cannot set up %d worker threads", n);
        return -1;
    }
    pyw_wq.n = n;
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
        pyw_wq.workers[i].index = i;
        (void)pyw_workers_linger_init(&pyw_wq.workers[i]);  /* -1: never */
        rv = pthread_create(&pyw_wq.workers[i].tid, &attr, worker_main,
                            &pyw_wq.workers[i]);
        if (rv != 0) {
            pyw_dlog(PYW_LOG_CRIT, PYW_LOG_THREADS_START, NULL,
                     "cannot create worker thread %d of %d: %s",
                     i + 1, n, strerror(rv));
            break;
        }
        started++;
    }
    pthread_attr_destroy(&attr);
    pthread_mutex_lock(&pyw_wq.lock);
    while (pyw_wq.ready + pyw_wq.failed < started) {
        pthread_cond_wait(&pyw_wq.started, &pyw_wq.lock);
    }
    rv = (started == n && pyw_wq.failed == 0) ? 0 : -1;
    pthread_mutex_unlock(&pyw_wq.lock);
    if (rv < 0 && started == n) {
        pyw_dlog(PYW_LOG_CRIT, PYW_LOG_THREADS_START, NULL,
                 "%d of %d worker threads could not get a Python thread "
                 "state", pyw_wq.failed, n);
    }
    return rv;
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

    pthread_mutex_lock(&pyw_wq.lock);
    while ((pyw_wq.busy > 0 || pyw_wq.holding > 0) && rv != ETIMEDOUT) {
        if (deadline_ms == PYW_NO_DEADLINE) {
            pthread_cond_wait(&pyw_wq.idle, &pyw_wq.lock);
        }
        else {
            rv = pthread_cond_timedwait(&pyw_wq.idle, &pyw_wq.lock, &ts);
        }
    }
    rv = pyw_wq.busy > 0 || pyw_wq.holding > 0 ? -ETIMEDOUT : 0;
    pthread_mutex_unlock(&pyw_wq.lock);
    return rv;
}

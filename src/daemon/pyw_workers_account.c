/*
 * pyw_workers_account.c - per-worker accounting: what each worker runs
 * and since when, the pool's counters, and what the stop sequence, the
 * poller's balancing and the watchdog read of them (all under
 * pyw_wq.lock, see pyw_workers.c).
 */
#include <stdio.h>
#include <string.h>

#include "../common/pyw_io.h"
#include "pyw_dlog.h"
#include "pyw_watchdog.h"
#include "pyw_workers_int.h"

/* A health check (rq->probe) is no activity: it keeps no daemon from
 * idle-timeout or inactivity-timeout, nor counts for maximum-requests. */
void pyw_worker_begin(pyw_worker_t *w, const worker_req_t *rq)
{
    pthread_mutex_lock(&pyw_wq.lock);
    memcpy(w->uri, rq->uri, sizeof(w->uri));
    w->started_ms = pyw_io_now_ms();
    if (!rq->probe) {
        pyw_wq.last_activity = w->started_ms;
    }
    w->overdue = 0;
    pyw_wq.in_flight++;
    pthread_mutex_unlock(&pyw_wq.lock);
    pyw_wboard_begin(pyw_wq.wboard, pyw_wq.pindex, w->index, w->started_ms,
                     w->uri);
}

void pyw_worker_end(pyw_worker_t *w, const worker_req_t *rq)
{
    int reached = 0;

    pyw_wboard_end(pyw_wq.wboard, pyw_wq.pindex, w->index);
    pthread_mutex_lock(&pyw_wq.lock);
    w->started_ms = 0;
    pyw_wq.in_flight--;
    if (!rq->probe) {
        pyw_wq.last_activity = pyw_io_now_ms();
        reached = ++pyw_wq.completed == pyw_wq.max_requests;
    }
    pthread_mutex_unlock(&pyw_wq.lock);
    if (reached) {
        pyw_watchdog_poke();    /* at once, not at its next tick */
    }
}

int pyw_workers_busy(void)
{
    int n;

    pthread_mutex_lock(&pyw_wq.lock);
    n = pyw_wq.busy;
    pthread_mutex_unlock(&pyw_wq.lock);
    return n;
}

int pyw_workers_in_flight(void)
{
    int n;

    pthread_mutex_lock(&pyw_wq.lock);
    n = pyw_wq.in_flight;
    pthread_mutex_unlock(&pyw_wq.lock);
    return n;
}

void pyw_workers_log_running(int level, int code)
{
    int64_t now = pyw_io_now_ms();
    int i;

    for (i = 0; i < pyw_wq.n; i++) {
        pyw_worker_t *w = &pyw_wq.workers[i];
        char uri[WORKER_URI_MAX];
        int64_t started;

        pthread_mutex_lock(&pyw_wq.lock);
        started = w->started_ms;
        memcpy(uri, w->uri, sizeof(uri));
        pthread_mutex_unlock(&pyw_wq.lock);
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

    pthread_mutex_lock(&pyw_wq.lock);
    n = pyw_wq.completed;
    pthread_mutex_unlock(&pyw_wq.lock);
    return n;
}

int64_t pyw_workers_idle_since(void)
{
    int64_t t;

    pthread_mutex_lock(&pyw_wq.lock);
    t = pyw_wq.busy == 0 ? pyw_wq.last_activity : 0;
    pthread_mutex_unlock(&pyw_wq.lock);
    return t;
}

int pyw_workers_quiet(int64_t *since)
{
    int quiet;

    pthread_mutex_lock(&pyw_wq.lock);
    quiet = pyw_wq.busy == 0;
    *since = pyw_wq.last_activity;
    pthread_mutex_unlock(&pyw_wq.lock);
    return quiet;
}

int pyw_workers_all_held(int64_t min_ms)
{
    int64_t now = pyw_io_now_ms();
    int i, held;

    pthread_mutex_lock(&pyw_wq.lock);
    held = pyw_wq.busy >= pyw_wq.n;
    for (i = 0; i < pyw_wq.n && held; i++) {
        int64_t t = pyw_wq.workers[i].started_ms;

        held = t != 0 && now - t >= min_ms;
    }
    pthread_mutex_unlock(&pyw_wq.lock);
    return held;
}

int pyw_workers_overdue(int64_t limit_ms, char *uri, size_t len,
                        int64_t *elapsed_ms)
{
    int64_t now = pyw_io_now_ms();
    int i, found = 0;

    pthread_mutex_lock(&pyw_wq.lock);
    for (i = 0; i < pyw_wq.n && !found; i++) {
        pyw_worker_t *w = &pyw_wq.workers[i];

        if (w->started_ms && !w->overdue && now - w->started_ms > limit_ms) {
            w->overdue = found = 1;
            *elapsed_ms = now - w->started_ms;
            snprintf(uri, len, "%s", w->uri);
        }
    }
    pthread_mutex_unlock(&pyw_wq.lock);
    return found;
}

/*
 * pyw_poller_loop.c - the poller thread's loop: wait in epoll_wait() with
 * the timeouts accepting and balancing ask for, hand each idle connection
 * that turned readable to the workers, and at a drain make the shutdown
 * pass (GOODBYE to idle and queued connections) and end.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pyw_balance.h"
#include "pyw_daemon.h"
#include "pyw_dlog.h"
#include "pyw_dlogno.h"
#include "pyw_poller_int.h"
#include "pyw_workers.h"

#define POLLER_EVENTS          64

/* An idle connection's oneshot event fired: the poller owns it now. */
static void poller_conn_event(pyw_dconn_t *c, uint32_t events)
{
    char b;

    if (events & (EPOLLERR | EPOLLHUP)) {
        pyw_poller_close(c);
        return;
    }
    /* Half-closed with nothing left to read: Apache dropped it. */
    if ((events & EPOLLRDHUP) && pyw_stream_buffered(&c->stream) == 0) {
        ssize_t n = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            pyw_poller_close(c);
            return;
        }
    }
    pthread_mutex_lock(&pyw_pl.lock);
    if (pyw_poller_should_hand_back(c)) {
        pyw_poller_goodbye(c);
        pthread_mutex_unlock(&pyw_pl.lock);
        return;
    }
    if (c->fresh) {
        c->fresh = 0;           /* its reserved worker becomes busy */
        pyw_balance_fresh(--pyw_pl.fresh);
    }
    c->state = PYW_DCONN_BUSY;
    pthread_mutex_unlock(&pyw_pl.lock);
    pyw_workers_push(c);
}

/*
 * Shutdown pass, pyw_pl.lock held: stop accepting, then say GOODBYE to each
 * idle connection and to each one still waiting for a worker.  A request
 * Apache already sent on one of them was not read by anybody: Apache
 * sends it again to another daemon of the group (the replacement).  One
 * that was sent again already stays and is served here: a request moves
 * at most once, or daemons replaced in quick succession (a small
 * maximum-requests) would pass it on until Apache gave up (PYW0142).
 * Unless the workers are stuck (deadlock-timeout): then all go.
 */
static void poller_shutdown_pass(void)
{
    pyw_dconn_t *c, *next, *kept = NULL;
    int idle = 0, queued = 0, stay = 0;

    pyw_poller_listen_ctl(0);
    for (c = pyw_pl.conns; c; c = next) {
        next = c->next;
        if (c->state == PYW_DCONN_IDLE) {
            pyw_poller_goodbye(c);
            idle++;
        }
    }
    for (c = pyw_workers_take_queued(); c; c = next) {
        next = c->qnext;
        if (!pyw_pl.hand_back_all && pyw_poller_request_resent(c)) {
            c->qnext = kept;            /* reversed: put back last first */
            kept = c;
            stay++;
            continue;
        }
        pyw_poller_goodbye(c);
        queued++;
    }
    for (c = kept; c; c = next) {
        next = c->qnext;
        pyw_workers_put_back(c);        /* at the head: arrival order */
    }
    if (queued > 0) {
        pyw_workers_dropped(queued);
    }
    pyw_dlog(PYW_LOG_INFO, PYW_LOG_DRAIN, NULL,
             "draining: stopped accepting; GOODBYE to %d idle and %d queued "
             "connections (Apache sends those requests elsewhere), %d sent "
             "here again are served here; %d requests still running",
             idle, queued, stay, pyw_workers_in_flight());
}

/* Handle one epoll_wait() batch. */
static void poller_dispatch(struct epoll_event *evs, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        void *p = evs[i].data.ptr;

        if (p == &pyw_poller_tag_wake) {
            uint64_t v;
            ssize_t rv = read(pyw_pl.wakefd, &v, sizeof(v));
            (void)rv;           /* only the wake-up matters */
        }
        else if (p == &pyw_poller_tag_listen) {
            if (!pyw_pl.balance || !pyw_poller_gate_close()) {
                pyw_poller_accept();
            }
        }
        else {
            poller_conn_event(p, evs[i].events);
        }
    }
}

static int poller_timeout(void)
{
    int a = pyw_poller_accept_timeout(), b = pyw_poller_balance_timeout();

    return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

void *pyw_poller_main(void *arg)
{
    struct epoll_event evs[POLLER_EVENTS];
    int n, stop;

    (void)arg;
    for (;;) {
        n = epoll_wait(pyw_pl.epfd, evs, POLLER_EVENTS, poller_timeout());
        if (n < 0 && errno != EINTR) {
            /* Cannot happen short of a bug; without the poller nothing
             * is served, so stop gracefully and let the parent restart. */
            pyw_dlog(PYW_LOG_CRIT, PYW_LOG_EPOLL, NULL,
                     "epoll_wait() failed: %s; stopping the daemon",
                     strerror(errno));
            pyw_daemon_stop_self();
            return NULL;
        }
        poller_dispatch(evs, n < 0 ? 0 : n);
        if (pyw_pl.listen_gone) {
            return NULL;        /* stopping: see pyw_poller_accept() */
        }
        pyw_poller_balance();

        /* Checked after the batch: no event in it refers to a
         * connection the shutdown pass is about to free. */
        pthread_mutex_lock(&pyw_pl.lock);
        stop = pyw_pl.stopping;
        if (stop) {
            poller_shutdown_pass();
        }
        pthread_mutex_unlock(&pyw_pl.lock);
        if (stop) {
            return NULL;
        }
    }
}

/*
 * pyw_workers_linger.c - a worker that finished a request waits for the
 * next one on the same connection before handing it back to the poller.
 *
 * Apache's next request to a process usually comes on the connection
 * that just finished: a child reuses its most recent idle connection to
 * a process with room (pyw_conn.c).  Handed back, that request costs two
 * wake-ups before it runs (the poller's, then a worker's); a worker that
 * waits on the connection itself reads it at once, as a single-threaded
 * server's one loop does.  On an otherwise idle core a wake-up costs
 * tens of microseconds.
 *
 * While it lingers the worker counts as free and the connection is its
 * own (not in epoll).  It stops when
 *   - the connection turns readable: it serves that request itself;
 *   - a connection is queued and no worker waits on the queue: the push
 *     wakes one lingerer, which hands its connection back and takes
 *     from the queue, even if its own turned readable meanwhile (first
 *     come, first served: serving its own lengthened p99 by half at 10
 *     and 50 connections);
 *   - the daemon drains: all of them, so their connections get GOODBYE;
 *   - LINGER_MS pass with nothing.
 * Locking: the list of lingerers and each worker's `woken` are under
 * pyw_wq.lock; eventfd writes happen after it is let go.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "pyw_balance.h"
#include "pyw_poller.h"
#include "pyw_workers_int.h"

/* Only bounds the wait: every event that matters ends it sooner. */
#define LINGER_MS 2000

int pyw_workers_linger_init(pyw_worker_t *w)
{
    w->linger_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return w->linger_fd >= 0 ? 0 : -1;
}

/* pyw_wq.lock held.  Take one lingerer off the list to be woken (its fd,
 * to write once the lock is let go), or -1: none lingers. */
int pyw_workers_linger_pick(void)
{
    pyw_worker_t *w = pyw_wq.lingering;

    if (w == NULL) {
        return -1;
    }
    pyw_wq.lingering = w->linger_next;
    w->linger_next = NULL;
    w->woken = 1;
    return w->linger_fd;
}

void pyw_workers_linger_wake(int fd)
{
    uint64_t one = 1;
    ssize_t rv;

    if (fd >= 0) {
        rv = write(fd, &one, sizeof(one));
        (void)rv;               /* a full counter still wakes poll */
    }
}

void pyw_workers_linger_wake_all(void)
{
    int fd;

    for (;;) {
        pthread_mutex_lock(&pyw_wq.lock);
        fd = pyw_workers_linger_pick();
        pthread_mutex_unlock(&pyw_wq.lock);
        if (fd < 0) {
            return;
        }
        pyw_workers_linger_wake(fd);
    }
}

/* pyw_wq.lock held: w leaves the list, if a push did not take it off. */
static void linger_unlist(pyw_worker_t *w)
{
    pyw_worker_t **p;

    for (p = &pyw_wq.lingering; *p != NULL; p = &(*p)->linger_next) {
        if (*p == w) {
            *p = w->linger_next;
            w->linger_next = NULL;
            return;
        }
    }
}

/* c goes back to the poller (GOODBYE if the daemon drains), and only
 * then stops counting as held: a drain never exits holding it. */
static void linger_hand_back(pyw_dconn_t *c)
{
    pyw_poller_rearm(c);
    pthread_mutex_lock(&pyw_wq.lock);
    pyw_wq.holding--;
    pyw_workers_idle_check();
    pthread_mutex_unlock(&pyw_wq.lock);
}

/*
 * c is clean and idle after w's request, counted as held.  1: a request
 * came on it and w holds it again, counted busy, to serve; 0: nothing
 * came (or w is needed for the queue, or the daemon drains): c was
 * handed back.
 */
int pyw_workers_linger(pyw_worker_t *w, pyw_dconn_t *c)
{
    struct pollfd p[2];
    int readable, woken;
    uint64_t v;
    ssize_t rv;

    pthread_mutex_lock(&pyw_wq.lock);
    if (pyw_wq.head != NULL || w->linger_fd < 0 || pyw_poller_draining()) {
        pthread_mutex_unlock(&pyw_wq.lock);
        linger_hand_back(c);
        return 0;
    }
    w->linger_next = pyw_wq.lingering;
    pyw_wq.lingering = w;
    pthread_mutex_unlock(&pyw_wq.lock);

    p[0].fd = c->fd;
    p[0].events = POLLIN | POLLRDHUP;
    p[1].fd = w->linger_fd;
    p[1].events = POLLIN;
    p[0].revents = p[1].revents = 0;
    while (poll(p, 2, LINGER_MS) < 0 && errno == EINTR) {
    }
    readable = p[0].revents != 0;

    pthread_mutex_lock(&pyw_wq.lock);
    woken = w->woken;
    w->woken = 0;
    linger_unlist(w);
    /* A push chose w: the request queued first goes first, and one that
     * came on c meanwhile follows it through the poller. */
    readable = readable && !pyw_poller_draining()
               && !(woken && pyw_wq.head != NULL);
    if (readable) {
        pyw_wq.holding--;
        pyw_balance_busy(++pyw_wq.busy);
    }
    pthread_mutex_unlock(&pyw_wq.lock);
    if (woken) {
        rv = read(w->linger_fd, &v, sizeof(v));
        (void)rv;
    }
    if (!readable) {
        linger_hand_back(c);
    }
    return readable;
}

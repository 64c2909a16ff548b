/*
 * pyw_poller.c - the daemon's epoll thread, its state and its connection
 * list: who owns each connection, re-arm and close for the workers,
 * GOODBYE, and starting and stopping the thread.  The thread's loop is
 * pyw_poller_loop.c, accepting pyw_poller_accept.c, balancing a group of
 * several processes pyw_poller_balance.c.
 *
 * Locking (pyw_pl.lock):
 *   - pyw_pl.lock protects the list of all connections, every connection's
 *     `state`, and `stopping`.
 *   - Only this thread calls epoll_wait().  Workers call epoll_ctl(MOD/DEL)
 *     (thread safe in the kernel) but only under pyw_pl.lock, so a re-arm
 *     can never race with the shutdown pass that closes idle connections.
 *   - Every connection is EPOLLONESHOT: once its event fired it is disarmed
 *     and owned by whoever the poller gave it to, until re-armed.
 *   - A descriptor is always removed with EPOLL_CTL_DEL before close():
 *     a child forked by the application may still hold a copy, which would
 *     keep a stale registration (and a dangling data.ptr) alive.
 *   - Lock order: pyw_pl.lock, then the work queue lock.
 *   - Drain (`stopping`): set by any thread; the poller thread does the
 *     shutdown pass and ends, and from then on every connection handed
 *     back is closed with a GOODBYE frame.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pyw_balance.h"
#include "pyw_dfds.h"
#include "pyw_dlog.h"
#include "pyw_dlogno.h"
#include "pyw_poller_int.h"
#include "pyw_workers.h"

/* data.ptr tags for the two non-connection descriptors. */
char pyw_poller_tag_listen, pyw_poller_tag_wake;

pyw_poller_state_t pyw_pl = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .epfd = -1, .wakefd = -1, .listen_fd = -1,
};

/* pyw_pl.lock held. */
void pyw_poller_link(pyw_dconn_t *c)
{
    c->prev = NULL;
    c->next = pyw_pl.conns;
    if (pyw_pl.conns) {
        pyw_pl.conns->prev = c;
    }
    pyw_pl.conns = c;
    pyw_pl.nconns++;
}

/* pyw_pl.lock held.  Unregister, unlink and free. */
void pyw_poller_destroy(pyw_dconn_t *c)
{
    if (c->fresh) {
        pyw_balance_fresh(--pyw_pl.fresh);  /* Apache gave up before sending */
    }
    epoll_ctl(pyw_pl.epfd, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->prev) {
        c->prev->next = c->next;
    }
    else {
        pyw_pl.conns = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    pyw_pl.nconns--;
    pyw_dconn_free(c);
}

/* pyw_pl.lock held.  Tell Apache nothing it sent here will be run, then
 * close.  The connection is idle, so its send buffer is empty and the 8
 * bytes go out at once; if not, closing alone says enough. */
void pyw_poller_goodbye(pyw_dconn_t *c)
{
    unsigned char bye[PYW_FRAME_HEADER_SIZE];
    ssize_t n;

    pyw_goodbye_put(bye, sizeof(bye), (uint8_t)pyw_pl.goodbye_flags);
    do {
        n = send(c->fd, bye, sizeof(bye), MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    pyw_poller_destroy(c);
}

void pyw_poller_close(pyw_dconn_t *c)
{
    pthread_mutex_lock(&pyw_pl.lock);
    pyw_poller_destroy(c);
    pthread_mutex_unlock(&pyw_pl.lock);
}

void pyw_poller_rearm(pyw_dconn_t *c)
{
    struct epoll_event ev;

    pthread_mutex_lock(&pyw_pl.lock);
    if (pyw_pl.stopping) {
        pyw_poller_goodbye(c);      /* draining: no new requests here */
    }
    else {
        c->state = PYW_DCONN_IDLE;
        ev.events = POLLER_CONN_EVENTS;
        ev.data.ptr = c;
        if (epoll_ctl(pyw_pl.epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
            pyw_dlog(PYW_LOG_ERR, PYW_LOG_REARM, NULL,
                     "epoll_ctl(MOD) failed: %s; closing connection",
                     strerror(errno));
            pyw_poller_destroy(c);
        }
    }
    pthread_mutex_unlock(&pyw_pl.lock);
}

int pyw_poller_draining(void)
{
    return __atomic_load_n(&pyw_pl.stopping, __ATOMIC_SEQ_CST);
}

int pyw_poller_connections(void)
{
    int n;

    pthread_mutex_lock(&pyw_pl.lock);
    n = pyw_pl.nconns;
    pthread_mutex_unlock(&pyw_pl.lock);
    return n;
}

int pyw_poller_start(int listen_fd, const pyw_daemon_spec_t *spec)
{
    struct epoll_event ev;
    int flags, rv;

    pyw_pl.balance = spec->processes > 1;
    pyw_pl.threads = spec->threads;
    pyw_pl.sndbuf = (int)spec->send_buffer_size;
    pyw_pl.rcvbuf = (int)spec->receive_buffer_size;
    pyw_balance_start(spec);
    /* The listening socket is shared with the group's other daemons,
     * which all accept non-blocking too; the parent never accepts. */
    flags = fcntl(listen_fd, F_GETFL);
    if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) < 0
        || (pyw_pl.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0
        || (pyw_pl.wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        rv = -errno;
        goto fail;
    }
    pyw_pl.listen_fd = listen_fd;
    pyw_dfds_add(listen_fd);
    ev.events = EPOLLIN;
    ev.data.ptr = &pyw_poller_tag_wake;
    if (epoll_ctl(pyw_pl.epfd, EPOLL_CTL_ADD, pyw_pl.wakefd, &ev) < 0) {
        rv = -errno;
        goto fail;
    }
    if ((rv = pyw_poller_listen_ctl(1)) < 0) {
        goto fail;
    }
    if ((rv = pthread_create(&pyw_pl.tid, NULL, pyw_poller_main, NULL)) != 0) {
        rv = -rv;
        goto fail;
    }
    pyw_pl.started = 1;
    return 0;

fail:
    pyw_dlog(PYW_LOG_CRIT, PYW_LOG_THREADS_START, NULL,
             "cannot start the poller: %s", strerror(-rv));
    return rv;
}

void pyw_poller_drain_all(void)
{
    pthread_mutex_lock(&pyw_pl.lock);
    pyw_pl.hand_back_all = 1;
    pthread_mutex_unlock(&pyw_pl.lock);
    pyw_poller_drain();
}

void pyw_poller_drain(void)
{
    uint64_t one = 1;
    ssize_t rv;

    pthread_mutex_lock(&pyw_pl.lock);
    __atomic_store_n(&pyw_pl.stopping, 1, __ATOMIC_SEQ_CST);
    pthread_mutex_unlock(&pyw_pl.lock);
    pyw_workers_linger_wake_all();  /* their connections get GOODBYE */
    pyw_balance_leave();
    if (pyw_pl.wakefd >= 0) {
        rv = write(pyw_pl.wakefd, &one, sizeof(one));
        (void)rv;               /* a full counter still wakes epoll */
    }
}

void pyw_poller_apache_stopping(void)
{
    pthread_mutex_lock(&pyw_pl.lock);
    pyw_pl.goodbye_flags |= PYW_GOODBYE_APACHE_STOP;
    pthread_mutex_unlock(&pyw_pl.lock);
}

void pyw_poller_stop(void)
{
    pyw_poller_drain();
    if (pyw_pl.started && !pyw_pl.joined) {
        pthread_join(pyw_pl.tid, NULL);
        pyw_pl.joined = 1;
    }
}

/*
 * pyw_poller_accept.c - accepting on the group's listening socket: one
 * connection per wake-up, its socket buffers, the HELLO frame Apache
 * waits for, joining the epoll set; watching the socket or not, and the
 * pause after accept4() runs out of descriptors or memory.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/pyw_io.h"
#include "pyw_balance.h"
#include "pyw_daemon.h"
#include "pyw_dlog.h"
#include "pyw_dlogno.h"
#include "pyw_poller_int.h"

/* HELLO goes into an empty socket buffer; this never really waits. */
#define POLLER_HELLO_TIMEOUT_MS 1000

/* send-buffer-size / receive-buffer-size: an accepted Unix socket does
 * not inherit the listener's, so each connection gets them.  Best
 * effort: the kernel clamps to its maximum, and the default works. */
static void poller_set_buffers(int fd)
{
    if (pyw_pl.sndbuf > 0) {
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &pyw_pl.sndbuf,
                         sizeof(pyw_pl.sndbuf));
    }
    if (pyw_pl.rcvbuf > 0) {
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &pyw_pl.rcvbuf,
                         sizeof(pyw_pl.rcvbuf));
    }
}

/* A new connection: HELLO first (Apache waits for it), then watch it. */
static void poller_add_conn(int fd)
{
    unsigned char hello[PYW_FRAME_HEADER_SIZE + PYW_HELLO_SIZE];
    size_t len = pyw_hello_put(hello, sizeof(hello), (uint32_t)getpid());
    struct epoll_event ev;
    pyw_dconn_t *c;
    int rv;

    poller_set_buffers(fd);
    rv = pyw_io_write_full(fd, hello, len,
                           pyw_io_deadline(POLLER_HELLO_TIMEOUT_MS));
    if (rv < 0) {
        pyw_dlog(PYW_LOG_INFO, PYW_LOG_HELLO, NULL,
                 "writing HELLO failed: %s", strerror(-rv));
        close(fd);
        return;
    }
    if ((c = pyw_dconn_new(fd)) == NULL) {
        pyw_dlog(PYW_LOG_ERR, PYW_LOG_CONN_SETUP, NULL,
                 "out of memory for a new connection");
        close(fd);
        return;
    }
    ev.events = POLLER_CONN_EVENTS;
    ev.data.ptr = c;
    pthread_mutex_lock(&pyw_pl.lock);
    pyw_poller_link(c);
    if (pyw_pl.balance) {
        c->fresh = 1;
        pyw_balance_fresh(++pyw_pl.fresh);
    }
    if (epoll_ctl(pyw_pl.epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        pyw_dlog(PYW_LOG_ERR, PYW_LOG_CONN_SETUP, NULL,
                 "epoll_ctl(ADD) failed: %s", strerror(errno));
        pyw_poller_destroy(c);
    }
    pthread_mutex_unlock(&pyw_pl.lock);
}

/* Watch the listening socket or stop watching it.  0 or -errno. */
int pyw_poller_listen_ctl(int on)
{
    struct epoll_event ev;
    int rv;

    if (on == pyw_pl.listening) {
        return 0;
    }
    /* Level-triggered and shared: every process of the group is woken
     * and they race for each connection.  EPOLLEXCLUSIVE kept waking the
     * same process, which then owned most of the persistent connections
     * while its siblings' threads sat idle. */
    ev.events = EPOLLIN;
    ev.data.ptr = &pyw_poller_tag_listen;
    rv = epoll_ctl(pyw_pl.epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL,
                   pyw_pl.listen_fd, on ? &ev : NULL);
    if (rv < 0 && on) {
        return -errno;
    }
    pyw_pl.listening = on;
    return 0;
}

/* Accept one connection per wake-up: the socket stays readable while
 * more wait, so the group's processes take turns and share the
 * persistent connections instead of one draining the backlog. */
void pyw_poller_accept(void)
{
    for (;;) {
        int fd = accept4(pyw_pl.listen_fd, NULL, NULL,
                         SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd >= 0) {
            poller_add_conn(fd);
            return;
        }
        switch (errno) {
        case EAGAIN:
#if EWOULDBLOCK != EAGAIN
        case EWOULDBLOCK:
#endif
            return;
        case EINTR:
        case ECONNABORTED:
        case EPROTO:
            continue;
        case EBADF:
        case ENOTSOCK:
        case EINVAL:
            /* The application closed the group's socket, or put another
             * file at its number: nothing more can be accepted, and its
             * epoll entry cannot be removed (it is the parent's open
             * socket), so the poller would spin.  Stop and be replaced. */
            pyw_dlog(PYW_LOG_CRIT, PYW_LOG_ACCEPT, NULL,
                     "accept4() on the group's socket (descriptor %d) "
                     "failed: %s (did the application close it?); "
                     "stopping the daemon", pyw_pl.listen_fd,
                     strerror(errno));
            pyw_pl.listen_gone = 1;
            pyw_daemon_stop_self();
            return;
        default:
            /* EMFILE, ENFILE, ENOBUFS, ENOMEM: the backlog stays
             * readable, so pause instead of spinning on it. */
            pyw_dlog(PYW_LOG_ERR, PYW_LOG_ACCEPT, NULL,
                     "accept4() failed: %s; pausing accept for %d ms",
                     strerror(errno), POLLER_ACCEPT_PAUSE_MS);
            pyw_poller_listen_ctl(0);
            pyw_pl.accept_resume = pyw_io_now_ms() + POLLER_ACCEPT_PAUSE_MS;
            return;
        }
    }
}

/* Resume accepting after a pause (or keep pausing): the wait for it. */
int pyw_poller_accept_timeout(void)
{
    int64_t left;

    if (pyw_pl.accept_resume == 0) {
        return -1;
    }
    left = pyw_pl.accept_resume - pyw_io_now_ms();
    if (left > 0) {
        return (int)left;
    }
    if (pyw_poller_listen_ctl(1) < 0) {
        pyw_pl.accept_resume = pyw_io_now_ms() + POLLER_ACCEPT_PAUSE_MS;
        return POLLER_ACCEPT_PAUSE_MS;
    }
    pyw_pl.accept_resume = 0;
    return -1;
}

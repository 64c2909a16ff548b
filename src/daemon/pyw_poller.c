/*
 * pyw_poller.c - the daemon's epoll thread: accept, HELLO, and hand
 * readable idle connections to the workers.
 *
 * Locking (pl.lock):
 *   - pl.lock protects the list of all connections, every connection's
 *     `state`, and `stopping`.
 *   - Only this thread calls epoll_wait().  Workers call epoll_ctl(MOD/DEL)
 *     (thread safe in the kernel) but only under pl.lock, so a re-arm can
 *     never race with the shutdown pass that closes idle connections.
 *   - Every connection is EPOLLONESHOT: once its event fired it is disarmed
 *     and owned by whoever the poller gave it to, until re-armed.
 *   - A descriptor is always removed with EPOLL_CTL_DEL before close():
 *     a child forked by the application may still hold a copy, which would
 *     keep a stale registration (and a dangling data.ptr) alive.
 *   - Lock order: pl.lock, then the work queue lock.
 *   - Drain (`stopping`): set by any thread; the poller thread does the
 *     shutdown pass and ends, and from then on every connection handed
 *     back is closed with a GOODBYE frame.
 *
 * Balancing a group of several processes (processes > 1).  A persistent
 * connection stays with the daemon that accepted it, so without care one
 * daemon can own every busy connection while its siblings idle: a burst
 * of connects all won by one process, or the survivors of a recycle
 * keeping every connection.  Two rules keep the group's workers equally
 * loaded, the listen backlog being the group's one shared queue:
 *   - Accept only with a free worker: busy (queued + running) plus the
 *     `fresh` connections (accepted, first request not yet read; each
 *     has a worker reserved) must stay below the thread count.  Other
 *     connects wait in the backlog for whichever daemon frees a worker
 *     first, as mod_wsgi's daemons wait in accept().
 *   - Hand back instead of queueing: a request arriving on an idle
 *     connection while every worker is busy, each for 1 ms or more,
 *     and the group's load board (pyw_board.h) shows a sibling with a
 *     free worker, is answered GOODBYE unread.  Apache sends it again
 *     on a new connection, which the backlog gives to a daemon with a
 *     free worker.  A fresh connection's first request is never handed
 *     back (its worker was reserved), so a request moves at most once.
 *     When the whole group is saturated nothing moves: requests queue
 *     where they are, with no reconnects.
 * With one process there is nobody to balance with: connections are
 * accepted at once and requests queue here, which costs no reconnect.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../common/pyw_io.h"
#include "pyw_balance.h"
#include "pyw_dconn_private.h"
#include "pyw_dlog.h"
#include "pyw_dlogno.h"
#include "pyw_poller.h"
#include "pyw_workers.h"

#define POLLER_EVENTS          64
#define POLLER_CONN_EVENTS     (EPOLLIN | EPOLLRDHUP | EPOLLONESHOT)
/* After EMFILE and friends, accepting again at once would spin. */
#define POLLER_ACCEPT_PAUSE_MS 1000
/* Balancing: hand a request back only when every worker has been on
 * its request this long (a reconnect costs about 0.1 ms; 10 ms left
 * io10ms @10 at 667-745 req/s of 800, 1 ms gives 760-764, hello the
 * same). */
#define POLLER_HAND_BACK_AFTER_MS 1
/* How often a daemon with requests waiting looks at the board: a
 * sibling's freed worker idles until then (10 ms cost requests queued at
 * the balancer 2.3 % of requests/s, 2 ms 0.8 %; the look is one read of
 * the board). */
#define POLLER_BALANCE_TICK_MS    2
/* HELLO goes into an empty socket buffer; this never really waits. */
#define POLLER_HELLO_TIMEOUT_MS 1000

/* data.ptr tags for the two non-connection descriptors. */
static char tag_listen, tag_wake;

static struct {
    pthread_mutex_t  lock;
    pyw_dconn_t     *conns;          /* pl.lock: all open connections     */
    int              nconns;         /* pl.lock                           */
    int              stopping;       /* pl.lock                           */
    int              epfd, wakefd, listen_fd;
    int              listening;      /* poller thread only                */
    int              started;        /* main thread only                  */
    int              joined;         /* main thread only                  */
    int64_t          accept_resume;  /* poller thread only; 0 = running   */
    int              balance;        /* processes > 1; set before start   */
    int              threads;        /* worker count; set before start    */
    int              sndbuf, rcvbuf; /* send-/receive-buffer-size; 0: OS  */
    int              fresh;          /* pl.lock: connections with a worker
                                        reserved for their first request */
    int              gated;          /* atomic: not accepting for lack of
                                        a free worker                    */
    pthread_t        tid;
} pl = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .epfd = -1, .wakefd = -1, .listen_fd = -1,
};

/* pl.lock held. */
static void poller_link(pyw_dconn_t *c)
{
    c->prev = NULL;
    c->next = pl.conns;
    if (pl.conns) {
        pl.conns->prev = c;
    }
    pl.conns = c;
    pl.nconns++;
}

/* pl.lock held.  Unregister, unlink and free. */
static void poller_destroy(pyw_dconn_t *c)
{
    if (c->fresh) {
        pyw_balance_fresh(--pl.fresh);  /* Apache gave up before sending */
    }
    epoll_ctl(pl.epfd, EPOLL_CTL_DEL, c->fd, NULL);
    if (c->prev) {
        c->prev->next = c->next;
    }
    else {
        pl.conns = c->next;
    }
    if (c->next) {
        c->next->prev = c->prev;
    }
    pl.nconns--;
    pyw_dconn_free(c);
}

/* pl.lock held.  Tell Apache nothing it sent here will be run, then
 * close.  The connection is idle, so its send buffer is empty and the 8
 * bytes go out at once; if not, closing alone says enough. */
static void poller_goodbye(pyw_dconn_t *c)
{
    unsigned char bye[PYW_FRAME_HEADER_SIZE];
    ssize_t n;

    pyw_frame_header_put(bye, sizeof(bye), PYW_FRAME_GOODBYE, 0);
    do {
        n = send(c->fd, bye, sizeof(bye), MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    poller_destroy(c);
}

void pyw_poller_close(pyw_dconn_t *c)
{
    pthread_mutex_lock(&pl.lock);
    poller_destroy(c);
    pthread_mutex_unlock(&pl.lock);
}

void pyw_poller_rearm(pyw_dconn_t *c)
{
    struct epoll_event ev;

    pthread_mutex_lock(&pl.lock);
    if (pl.stopping) {
        poller_goodbye(c);      /* draining: no new requests here */
    }
    else {
        c->state = PYW_DCONN_IDLE;
        ev.events = POLLER_CONN_EVENTS;
        ev.data.ptr = c;
        if (epoll_ctl(pl.epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0) {
            pyw_dlog(PYW_LOG_ERR, PYW_LOG_REARM, NULL,
                     "epoll_ctl(MOD) failed: %s; closing connection",
                     strerror(errno));
            poller_destroy(c);
        }
    }
    pthread_mutex_unlock(&pl.lock);
}

int pyw_poller_connections(void)
{
    int n;

    pthread_mutex_lock(&pl.lock);
    n = pl.nconns;
    pthread_mutex_unlock(&pl.lock);
    return n;
}

/* send-buffer-size / receive-buffer-size: an accepted Unix socket does
 * not inherit the listener's, so each connection gets them.  Best
 * effort: the kernel clamps to its maximum, and the default works. */
static void poller_set_buffers(int fd)
{
    if (pl.sndbuf > 0) {
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &pl.sndbuf,
                         sizeof(pl.sndbuf));
    }
    if (pl.rcvbuf > 0) {
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &pl.rcvbuf,
                         sizeof(pl.rcvbuf));
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
    pthread_mutex_lock(&pl.lock);
    poller_link(c);
    if (pl.balance) {
        c->fresh = 1;
        pyw_balance_fresh(++pl.fresh);
    }
    if (epoll_ctl(pl.epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        pyw_dlog(PYW_LOG_ERR, PYW_LOG_CONN_SETUP, NULL,
                 "epoll_ctl(ADD) failed: %s", strerror(errno));
        poller_destroy(c);
    }
    pthread_mutex_unlock(&pl.lock);
}

/* Watch the listening socket or stop watching it.  0 or -errno. */
static int poller_listen_ctl(int on)
{
    struct epoll_event ev;
    int rv;

    if (on == pl.listening) {
        return 0;
    }
    /* Level-triggered and shared: every process of the group is woken
     * and they race for each connection.  EPOLLEXCLUSIVE kept waking the
     * same process, which then owned most of the persistent connections
     * while its siblings' threads sat idle. */
    ev.events = EPOLLIN;
    ev.data.ptr = &tag_listen;
    rv = epoll_ctl(pl.epfd, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL,
                   pl.listen_fd, on ? &ev : NULL);
    if (rv < 0 && on) {
        return -errno;
    }
    pl.listening = on;
    return 0;
}

/* Accept one connection per wake-up: the socket stays readable while
 * more wait, so the group's processes take turns and share the
 * persistent connections instead of one draining the backlog. */
static void poller_accept(void)
{
    for (;;) {
        int fd = accept4(pl.listen_fd, NULL, NULL,
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
        default:
            /* EMFILE, ENFILE, ENOBUFS, ENOMEM: the backlog stays
             * readable, so pause instead of spinning on it. */
            pyw_dlog(PYW_LOG_ERR, PYW_LOG_ACCEPT, NULL,
                     "accept4() failed: %s; pausing accept for %d ms",
                     strerror(errno), POLLER_ACCEPT_PAUSE_MS);
            poller_listen_ctl(0);
            pl.accept_resume = pyw_io_now_ms() + POLLER_ACCEPT_PAUSE_MS;
            return;
        }
    }
}

/* pl.lock held.  A request on an idle connection while every worker is
 * held by a request that is not about to end, and a sibling has a free
 * one (see "Balancing" above).  Requests shorter than that are cheaper
 * to queue than to send again on a new connection. */
static int poller_should_hand_back(const pyw_dconn_t *c)
{
    /* The board first: it takes no lock, and when the whole group is
     * saturated it already says no. */
    return pl.balance && !c->fresh && !pl.stopping
           && pyw_balance_sibling_has_room()
           && pyw_workers_all_held(POLLER_HAND_BACK_AFTER_MS);
}

/* Balancing: 1 if a worker is neither busy nor reserved. */
static int poller_has_room(void)
{
    int room;

    pthread_mutex_lock(&pl.lock);
    room = pyw_workers_busy() + pl.fresh < pl.threads;
    pthread_mutex_unlock(&pl.lock);
    return room;
}

/* Balancing: a connect waits, no worker here is free and a sibling has
 * one, so stop listening and leave the connect to it.  Lazy: a daemon
 * that gets no connects never touches epoll for this.  `gated` is set
 * before the count is read and a worker reads it after lowering busy,
 * so a worker freed in between always sees it and wakes the poller.
 * 1 if the gate closed. */
static int poller_gate_close(void)
{
    __atomic_store_n(&pl.gated, 1, __ATOMIC_SEQ_CST);
    if (poller_has_room() || !pyw_balance_sibling_has_room()) {
        __atomic_store_n(&pl.gated, 0, __ATOMIC_SEQ_CST);
        return 0;
    }
    poller_listen_ctl(0);
    return 1;
}

/* Balancing: listen again once a worker is free here, or once no
 * sibling has one (then connects queue here, as with one process: the
 * backlog must never hold a connect that nobody accepts). */
static void poller_gate_reopen(int sibling_room)
{
    if (!__atomic_load_n(&pl.gated, __ATOMIC_SEQ_CST)
        || (sibling_room && !poller_has_room())) {
        return;
    }
    __atomic_store_n(&pl.gated, 0, __ATOMIC_SEQ_CST);
    if (pl.accept_resume == 0 && poller_listen_ctl(1) < 0) {
        pl.accept_resume = pyw_io_now_ms() + POLLER_ACCEPT_PAUSE_MS;
    }
}

/* Balancing: a request queued here while a sibling has a free worker
 * goes back to Apache unread (GOODBYE), at most one per tick so the
 * sibling's board entry can catch up. */
static void poller_hand_back_queued(void)
{
    static int64_t last_ms;
    int64_t now = pyw_io_now_ms();
    pyw_dconn_t *c;

    if (now - last_ms < POLLER_BALANCE_TICK_MS
        || pyw_workers_queued_hint() == 0
        || !pyw_workers_all_held(POLLER_HAND_BACK_AFTER_MS)
        || (c = pyw_workers_take_head()) == NULL) {
        return;
    }
    last_ms = now;
    pthread_mutex_lock(&pl.lock);
    poller_goodbye(c);
    pthread_mutex_unlock(&pl.lock);
    pyw_workers_dropped(1);
}

/* Balancing, after every batch and every tick while something waits. */
static void poller_balance(void)
{
    int sibling_room;

    if (!pl.balance) {
        return;
    }
    sibling_room = pyw_balance_sibling_has_room();
    poller_gate_reopen(sibling_room);
    if (sibling_room) {
        poller_hand_back_queued();
    }
}

/* Balancing: re-read the board this often while connects or requests
 * wait on this daemon. */
static int poller_balance_timeout(void)
{
    if (!pl.balance) {
        return -1;
    }
    return __atomic_load_n(&pl.gated, __ATOMIC_SEQ_CST)
           || pyw_workers_queued_hint() > 0 ? POLLER_BALANCE_TICK_MS : -1;
}

void pyw_poller_capacity_freed(void)
{
    uint64_t one = 1;
    ssize_t rv;

    if (__atomic_load_n(&pl.gated, __ATOMIC_SEQ_CST) && pl.wakefd >= 0) {
        rv = write(pl.wakefd, &one, sizeof(one));
        (void)rv;               /* a full counter still wakes epoll */
    }
}

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
    pthread_mutex_lock(&pl.lock);
    if (poller_should_hand_back(c)) {
        poller_goodbye(c);
        pthread_mutex_unlock(&pl.lock);
        return;
    }
    if (c->fresh) {
        c->fresh = 0;           /* its reserved worker becomes busy */
        pyw_balance_fresh(--pl.fresh);
    }
    c->state = PYW_DCONN_BUSY;
    pthread_mutex_unlock(&pl.lock);
    pyw_workers_push(c);
}

/*
 * Shutdown pass, pl.lock held: stop accepting, then say GOODBYE to each
 * idle connection and to each one still waiting for a worker.  A request
 * Apache already sent on one of them was not read by anybody: Apache
 * sends it again to another daemon of the group (the replacement).
 */
static void poller_shutdown_pass(void)
{
    pyw_dconn_t *c, *next;
    int idle = 0, queued = 0;

    poller_listen_ctl(0);
    for (c = pl.conns; c; c = next) {
        next = c->next;
        if (c->state == PYW_DCONN_IDLE) {
            poller_goodbye(c);
            idle++;
        }
    }
    for (c = pyw_workers_take_queued(); c; c = next) {
        next = c->qnext;
        poller_goodbye(c);
        queued++;
    }
    if (queued > 0) {
        pyw_workers_dropped(queued);
    }
    pyw_dlog(PYW_LOG_INFO, PYW_LOG_DRAIN, NULL,
             "draining: stopped accepting; GOODBYE to %d idle and %d queued "
             "connections (Apache sends those requests elsewhere); %d "
             "requests still running", idle, queued,
             pyw_workers_in_flight());
}

/* Handle one epoll_wait() batch. */
static void poller_dispatch(struct epoll_event *evs, int n)
{
    int i;

    for (i = 0; i < n; i++) {
        void *p = evs[i].data.ptr;

        if (p == &tag_wake) {
            uint64_t v;
            ssize_t rv = read(pl.wakefd, &v, sizeof(v));
            (void)rv;           /* only the wake-up matters */
        }
        else if (p == &tag_listen) {
            if (!pl.balance || !poller_gate_close()) {
                poller_accept();
            }
        }
        else {
            poller_conn_event(p, evs[i].events);
        }
    }
}

/* Resume accepting after a pause (or keep pausing): the wait for it. */
static int poller_accept_timeout(void)
{
    int64_t left;

    if (pl.accept_resume == 0) {
        return -1;
    }
    left = pl.accept_resume - pyw_io_now_ms();
    if (left > 0) {
        return (int)left;
    }
    if (poller_listen_ctl(1) < 0) {
        pl.accept_resume = pyw_io_now_ms() + POLLER_ACCEPT_PAUSE_MS;
        return POLLER_ACCEPT_PAUSE_MS;
    }
    pl.accept_resume = 0;
    return -1;
}

static int poller_timeout(void)
{
    int a = poller_accept_timeout(), b = poller_balance_timeout();

    return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

static void *poller_main(void *arg)
{
    struct epoll_event evs[POLLER_EVENTS];
    int n, stop;

    (void)arg;
    for (;;) {
        n = epoll_wait(pl.epfd, evs, POLLER_EVENTS, poller_timeout());
        if (n < 0 && errno != EINTR) {
            /* Cannot happen short of a bug; without the poller nothing
             * is served, so stop gracefully and let the parent restart. */
            pyw_dlog(PYW_LOG_CRIT, PYW_LOG_EPOLL, NULL,
                     "epoll_wait() failed: %s; stopping the daemon",
                     strerror(errno));
            kill(getpid(), SIGTERM);
            return NULL;
        }
        poller_dispatch(evs, n < 0 ? 0 : n);
        poller_balance();

        /* Checked after the batch: no event in it refers to a
         * connection the shutdown pass is about to free. */
        pthread_mutex_lock(&pl.lock);
        stop = pl.stopping;
        if (stop) {
            poller_shutdown_pass();
        }
        pthread_mutex_unlock(&pl.lock);
        if (stop) {
            return NULL;
        }
    }
}

int pyw_poller_start(int listen_fd, const pyw_daemon_spec_t *spec)
{
    struct epoll_event ev;
    int flags, rv;

    pl.balance = spec->processes > 1;
    pl.threads = spec->threads;
    pl.sndbuf = (int)spec->send_buffer_size;
    pl.rcvbuf = (int)spec->receive_buffer_size;
    pyw_balance_start(spec);
    /* The listening socket is shared with the group's other daemons,
     * which all accept non-blocking too; the parent never accepts. */
    flags = fcntl(listen_fd, F_GETFL);
    if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) < 0
        || (pl.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0
        || (pl.wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        rv = -errno;
        goto fail;
    }
    pl.listen_fd = listen_fd;
    ev.events = EPOLLIN;
    ev.data.ptr = &tag_wake;
    if (epoll_ctl(pl.epfd, EPOLL_CTL_ADD, pl.wakefd, &ev) < 0) {
        rv = -errno;
        goto fail;
    }
    if ((rv = poller_listen_ctl(1)) < 0) {
        goto fail;
    }
    if ((rv = pthread_create(&pl.tid, NULL, poller_main, NULL)) != 0) {
        rv = -rv;
        goto fail;
    }
    pl.started = 1;
    return 0;

fail:
    pyw_dlog(PYW_LOG_CRIT, PYW_LOG_THREADS_START, NULL,
             "cannot start the poller: %s", strerror(-rv));
    return rv;
}

void pyw_poller_drain(void)
{
    uint64_t one = 1;
    ssize_t rv;

    pthread_mutex_lock(&pl.lock);
    pl.stopping = 1;
    pthread_mutex_unlock(&pl.lock);
    pyw_balance_leave();
    if (pl.wakefd >= 0) {
        rv = write(pl.wakefd, &one, sizeof(one));
        (void)rv;               /* a full counter still wakes epoll */
    }
}

void pyw_poller_stop(void)
{
    pyw_poller_drain();
    if (pl.started && !pl.joined) {
        pthread_join(pl.tid, NULL);
        pl.joined = 1;
    }
}

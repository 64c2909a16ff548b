/*
 * pyw_poller_balance.c - the poller's side of balancing a group of several
 * processes (processes > 1; the load board is pyw_balance.c).
 *
 * A persistent connection stays with the daemon that accepted it, so
 * without care one daemon can own every busy connection while its
 * siblings idle: a burst of connects all won by one process, or the
 * survivors of a recycle keeping every connection.  Two rules keep the
 * group's workers equally loaded, the listen backlog being the group's
 * one shared queue:
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
 *     back (its worker was reserved), nor is a request Apache marks as
 *     sent again (PYW_REQUEST_RESENT), so a request moves at most once:
 *     when several requests race for one free worker on the board, the
 *     losers queue where they land instead of bouncing between the
 *     siblings until Apache gives up on them (PYW0142, a 503).  When
 *     the whole group is saturated nothing moves: requests queue where
 *     they are, with no reconnects.
 * With one process there is nobody to balance with: connections are
 * accepted at once and requests queue here, which costs no reconnect.
 */
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include "../common/pyw_io.h"
#include "../common/pyw_proto.h"
#include "../common/pyw_stream.h"
#include "pyw_balance.h"
#include "pyw_poller_int.h"
#include "pyw_workers.h"

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

/* pyw_pl.lock held.  A request on an idle connection while every worker is
 * held by a request that is not about to end, and a sibling has a free
 * one (see "Balancing" above).  Requests shorter than that are cheaper
 * to queue than to send again on a new connection. */
int pyw_poller_should_hand_back(const pyw_dconn_t *c)
{
    /* The board first: it takes no lock, and when the whole group is
     * saturated it already says no. */
    return pyw_pl.balance && !c->fresh && !pyw_pl.stopping
           && pyw_balance_sibling_has_room()
           && pyw_workers_all_held(POLLER_HAND_BACK_AFTER_MS);
}

/* Balancing: 1 if a worker is neither busy nor reserved. */
static int poller_has_room(void)
{
    int room;

    pthread_mutex_lock(&pyw_pl.lock);
    room = pyw_workers_busy() + pyw_pl.fresh < pyw_pl.threads;
    pthread_mutex_unlock(&pyw_pl.lock);
    return room;
}

/* Balancing: a connect waits, no worker here is free and a sibling has
 * one, so stop listening and leave the connect to it.  Lazy: a daemon
 * that gets no connects never touches epoll for this.  `gated` is set
 * before the count is read and a worker reads it after lowering busy,
 * so a worker freed in between always sees it and wakes the poller.
 * 1 if the gate closed. */
int pyw_poller_gate_close(void)
{
    __atomic_store_n(&pyw_pl.gated, 1, __ATOMIC_SEQ_CST);
    if (poller_has_room() || !pyw_balance_sibling_has_room()) {
        __atomic_store_n(&pyw_pl.gated, 0, __ATOMIC_SEQ_CST);
        return 0;
    }
    pyw_poller_listen_ctl(0);
    return 1;
}

/* Balancing: listen again once a worker is free here, or once no
 * sibling has one (then connects queue here, as with one process: the
 * backlog must never hold a connect that nobody accepts). */
static void poller_gate_reopen(int sibling_room)
{
    if (!__atomic_load_n(&pyw_pl.gated, __ATOMIC_SEQ_CST)
        || (sibling_room && !poller_has_room())) {
        return;
    }
    __atomic_store_n(&pyw_pl.gated, 0, __ATOMIC_SEQ_CST);
    if (pyw_pl.accept_resume == 0 && pyw_poller_listen_ctl(1) < 0) {
        pyw_pl.accept_resume = pyw_io_now_ms() + POLLER_ACCEPT_PAUSE_MS;
    }
}

int pyw_poller_request_resent(const pyw_dconn_t *c)
{
    int flags = pyw_stream_peek_byte(&c->stream, PYW_FRAME_FLAGS_OFFSET);

    return flags > 0 && (flags & PYW_REQUEST_RESENT);
}

/* Balancing: a request queued here while a sibling has a free worker
 * goes back to Apache unread (GOODBYE), at most one per tick so the
 * sibling's board entry can catch up; one sent again stays. */
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
    if (pyw_poller_request_resent(c)) {
        pyw_workers_put_back(c);
        return;
    }
    pthread_mutex_lock(&pyw_pl.lock);
    pyw_poller_goodbye(c);
    pthread_mutex_unlock(&pyw_pl.lock);
    pyw_workers_dropped(1);
}

/* Balancing, after every batch and every tick while something waits. */
void pyw_poller_balance(void)
{
    int sibling_room;

    if (!pyw_pl.balance) {
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
int pyw_poller_balance_timeout(void)
{
    if (!pyw_pl.balance) {
        return -1;
    }
    return __atomic_load_n(&pyw_pl.gated, __ATOMIC_SEQ_CST)
           || pyw_workers_queued_hint() > 0 ? POLLER_BALANCE_TICK_MS : -1;
}

void pyw_poller_capacity_freed(void)
{
    uint64_t one = 1;
    ssize_t rv;

    if (__atomic_load_n(&pyw_pl.gated, __ATOMIC_SEQ_CST)
        && pyw_pl.wakefd >= 0) {
        rv = write(pyw_pl.wakefd, &one, sizeof(one));
        (void)rv;               /* a full counter still wakes epoll */
    }
}

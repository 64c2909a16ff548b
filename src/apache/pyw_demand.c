/*
 * pyw_demand.c - groups that run only while they are used: start=on-demand
 * and idle-timeout (in the Apache parent, see pyw_pm.h).
 *
 * A dormant group has its listening socket and its board, and no daemon.
 * The waker (pyw_waker.c) polls the socket as well as the status pipes:
 * POLLIN on a listening socket means a connection waits in the backlog
 * (the waker never accepts it).  pyw_pm_poll() then starts every dormant
 * group with a connection waiting, all its slots at once.  The connection
 * waits in the backlog meanwhile: connect() succeeded at once, and
 * Apache's child waits for the daemon's HELLO within connect-timeout
 * (pyw_conn.c), so the first request is answered, not refused.
 *
 * Idle stop.  A daemon with idle-timeout says IDLE on its status pipe
 * once it had no request for that long, and ACTIVE if one comes after
 * all.  When every slot's current process is ready and idle, with no
 * replacement or rolling restart under way, the group becomes dormant at
 * once and its daemons are stopped as retired ones are (SIGTERM with
 * PYW_RETIRE_IDLE): they stop accepting, say GOODBYE on idle connections
 * (Apache sends those requests again on a new connection) and finish
 * what runs.  The group being dormant from that moment, any connection
 * that comes while they drain, new or resent, starts it again at once:
 * it never waits for the old daemons to exit, and none is lost.
 *
 * A dormant group's death rule: when the last process of a group that
 * may sleep dies (a crash, a failed start) and no connection waits, the
 * group is left dormant rather than restarted, so a broken site that
 * nobody visits costs nothing; its start-up back-off is kept for the
 * next start.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "httpd.h"
#include "http_log.h"

#include "pyw_config.h"
#include "pyw_log.h"
#include "pyw_pm.h"
#include "pyw_procmgr.h"

static struct pyw_group_rt **pyw_demand_rts(int *n)
{
    *n = pyw_pm.rts != NULL ? pyw_pm.rts->nelts : 0;
    return *n > 0 ? (struct pyw_group_rt **)pyw_pm.rts->elts : NULL;
}

int pyw_pm_group_may_sleep(const pyw_group_t *g)
{
    return g->on_demand || g->idle_timeout_ms > 0;
}

int pyw_pm_group_dormant(const pyw_group_t *g, const pyw_board_load_t *load)
{
    return load->threads == 0 && pyw_pm_group_may_sleep(g);
}

int pyw_demand_pending(const struct pyw_group_rt *rt)
{
    struct pollfd pfd = { .fd = rt->listen_fd, .events = POLLIN };

    return rt->listen_fd >= 0 && poll(&pfd, 1, 0) > 0
           && (pfd.revents & POLLIN);
}

static void pyw_demand_start(struct pyw_group_rt *rt)
{
    const pyw_group_t *g = rt->group;
    int j;

    rt->dormant = 0;
    rt->woken_at = apr_time_now();
    pyw_pm.events++;            /* the waker woke us for this */
    PYW_SLOG(APLOG_INFO, 0, pyw_pm.s, 50, g->name, 0L, "a connection "
             "waits: starting the group's %d process(es) on demand",
             g->processes);
    for (j = 0; j < g->processes; j++) {
        if (rt->slots[j].cur->proc.pid <= 0) {
            pyw_slot_spawn(&rt->slots[j]);
        }
    }
}

void pyw_demand_start_or_sleep(struct pyw_group_rt *rt)
{
    const pyw_group_t *g = rt->group;
    int j, handed = 0;

    for (j = 0; j < g->processes; j++) {
        handed |= rt->slots[j].old != NULL;
    }
    /* A group that served before a restart goes on serving: its
     * successors start now, as for any group. */
    if (g->on_demand && !handed) {
        rt->dormant = 1;
        PYW_SLOG(APLOG_DEBUG, 0, pyw_pm.s, 53, g->name, 0L, "start=on-"
                 "demand: no daemon until a connection comes");
        return;
    }
    for (j = 0; j < g->processes; j++) {
        pyw_slot_spawn(&rt->slots[j]);
    }
}

/* One poll() for every dormant group's socket. */
void pyw_demand_wake(void)
{
    struct pyw_group_rt **rts;
    struct pollfd *pfd;
    int i, n, k = 0;

    rts = pyw_demand_rts(&n);
    for (i = 0; i < n; i++) {
        k += rts[i]->dormant && rts[i]->listen_fd >= 0;
    }
    if (k == 0 || (pfd = calloc((size_t)k, sizeof(*pfd))) == NULL) {
        return;
    }
    for (i = 0, k = 0; i < n; i++) {
        if (rts[i]->dormant && rts[i]->listen_fd >= 0) {
            pfd[k].fd = rts[i]->listen_fd;
            pfd[k++].events = POLLIN;
        }
    }
    if (poll(pfd, (nfds_t)k, 0) > 0) {
        for (i = 0, k = 0; i < n; i++) {
            if (!rts[i]->dormant || rts[i]->listen_fd < 0) {
                continue;
            }
            if (pfd[k++].revents & POLLIN) {
                pyw_demand_start(rts[i]);
            }
        }
    }
    free(pfd);
}

/* Every slot's process serves, said IDLE, and nothing replaces it. */
static int pyw_demand_all_idle(const struct pyw_group_rt *rt)
{
    const pyw_slot_t *slot;
    int j;

    if (rt->dormant || rt->rolling || rt->group->idle_timeout_ms <= 0) {
        return 0;
    }
    for (j = 0; j < rt->group->processes; j++) {
        slot = &rt->slots[j];
        if (slot->cur->proc.pid <= 0 || !slot->cur->ready
            || !slot->cur->idle || slot->cur->term_at != 0
            || slot->old != NULL) {
            return 0;
        }
    }
    return 1;
}

/* Dormant now; each daemon leaves its slot for the stopping list (the
 * status page lists it as draining, pyw_proc_stop), and the slot gets an
 * empty record for the next start. */
static void pyw_demand_sleep(struct pyw_group_rt *rt)
{
    const pyw_group_t *g = rt->group;
    int64_t budget = pyw_group_stop_budget(g, PYW_WHY_IDLE);
    pyw_slot_t *slot;
    pyw_proc_t *p;
    int j;

    rt->dormant = 1;
    rt->woken_at = 0;
    pyw_pm.events++;
    PYW_SLOG(APLOG_INFO, 0, pyw_pm.s, 52, g->name, 0L, "no request for "
             "%g s (idle-timeout): stopping the group's %d process(es); "
             "the next request starts it again", g->idle_timeout_ms / 1000.0,
             g->processes);
    for (j = 0; j < g->processes; j++) {
        slot = &rt->slots[j];
        p = slot->cur;
        slot->cur = pyw_proc_alloc(g->name, slot->index);
        slot->cur->slot = slot;
        slot->failures = slot->ready_deaths = 0;
        pyw_proc_stop(p, PYW_WHY_IDLE, budget);
    }
}

void pyw_demand_idle_checks(void)
{
    struct pyw_group_rt **rts;
    int i, n;

    rts = pyw_demand_rts(&n);
    for (i = 0; i < n; i++) {
        if (rts[i]->idle_check) {
            rts[i]->idle_check = 0;
            if (pyw_demand_all_idle(rts[i])) {
                pyw_demand_sleep(rts[i]);
            }
        }
    }
}

/*
 * Whether a connection in the backlog of rt's socket, which no daemon
 * will accept now, still has its Apache child at the other end.  A Unix
 * socket keeps a connection queued after the child that made it gave up
 * (connect-timeout) and closed it: taken for a waiting request, it would
 * restart a broken group at every back-off, for ever.  So each is taken
 * off the queue here and closed; a live one's child connects again
 * (pyw_conn.c: a connection closed before its greeting), and that wakes
 * the group as any new connection does.
 */
static int pyw_demand_live_waiting(const struct pyw_group_rt *rt)
{
    struct pollfd pfd;
    int fd, live = 0;

    while (pyw_demand_pending(rt)
           && (fd = accept4(rt->listen_fd, NULL, NULL,
                            SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0) {
        pfd.fd = fd;
        pfd.events = POLLIN | POLLRDHUP;
        pfd.revents = 0;
        if (poll(&pfd, 1, 0) == 0
            || !(pfd.revents & (POLLHUP | POLLRDHUP | POLLERR))) {
            live++;
        }
        close(fd);
    }
    return live;
}

int pyw_demand_after_death(pyw_slot_t *slot)
{
    struct pyw_group_rt *rt = slot->rt;
    int j;

    if (!pyw_pm_group_may_sleep(rt->group) || pyw_pm_stopping()) {
        return 0;
    }
    for (j = 0; j < rt->group->processes; j++) {
        if (rt->slots[j].cur->proc.pid > 0 || rt->slots[j].old != NULL) {
            return 0;
        }
    }
    if (pyw_demand_live_waiting(rt) > 0) {
        return 0;
    }
    rt->dormant = 1;
    rt->woken_at = 0;
    return 1;
}

void pyw_demand_ready(pyw_slot_t *slot)
{
    struct pyw_group_rt *rt = slot->rt;
    int j;

    if (rt->woken_at == 0) {
        return;
    }
    PYW_SLOG(APLOG_INFO, 0, pyw_pm.s, 51, rt->group->name,
             (long)slot->cur->proc.pid, "started on demand: process %d "
             "ready %ld ms after a connection started the group",
             slot->index + 1,
             (long)apr_time_as_msec(apr_time_now() - rt->woken_at));
    for (j = 0; j < rt->group->processes; j++) {
        if (!rt->slots[j].cur->ready) {
            return;
        }
    }
    rt->woken_at = 0;
}

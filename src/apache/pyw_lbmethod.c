/*
 * pyw_lbmethod.c - "byfreeworkers", a mod_proxy_balancer method that
 * knows the daemons.
 *
 *   <Proxy balancer://site>
 *       BalancerMember pyworker://zeo1
 *       BalancerMember pyworker://zeo2
 *       ProxySet lbmethod=byfreeworkers
 *   </Proxy>
 *
 * bybusyness counts the requests this Apache has in flight to each
 * member; it cannot see a member's worker threads, nor requests that
 * reach the same group another way (a PyWorkerScriptAlias, another
 * balancer), nor that a group's daemons are restarting.  A pyworker://
 * member's load board (pyw_board.h) shows all of that: per process its
 * threads and the requests queued or running.  A member is worth
 *
 *     threads of its serving processes - max(board busy, Apache busy)
 *
 * (Apache's count also holds requests still on their way to a daemon),
 * so the most free workers win, a queue counts against, and ties go to
 * the lower Apache busy count, then round robin by lbfactor as in
 * bybusyness.  A member of another scheme (http://) counts as lbfactor
 * workers (mod_proxy keeps lbfactor x 100).  A group with no daemon
 * that a request starts (start=on-demand, idle-timeout) counts as the
 * workers it will have: waiting for one of its workers to come free
 * would wait for ever, as only a request starts it.
 *
 * Choosing among usable members (error, drain, standby, spare, lbset) is
 * mod_proxy's own proxy_balancer_get_best_worker, fetched as an optional
 * function, so nothing here links to mod_proxy.  Whether to wait, and
 * for which free worker, looks at the members it would choose from
 * (pyw_lb_candidates): a free worker of a hot standby or of a draining
 * member is no reason to stop waiting.
 *
 * Queueing at the balancer.  When no member has a free worker, a request
 * sent on at once queues inside one daemon, behind whatever that
 * process runs: a 5 ms request can wait for a 500 ms one while another
 * group frees a worker first.  With the balancer's own `timeout=`
 * (ProxySet timeout=S, "how long to wait for a free worker"), the
 * request instead waits here: one queue in front of every worker of
 * every member, as HAProxy's per-server maxconn queue (what Plone's
 * documentation sets up).
 *   - First come, first served: the waiters of every Apache child stand
 *     in one line (pyw_lbline.c) and only the first one looks; a
 *     newcomer joins the line while anyone waits.
 *   - Nobody polls: the others sleep until the first leaves, and the
 *     first sleeps on the members' boards until a daemon frees a worker
 *     (pyw_board_wake.h).  Polling every 0.25 ms cost a fifth of a core
 *     with 40 requests waiting.
 *   - One waiter per free worker: the first in line leaves only for a
 *     free worker of some process that no request has claimed, and
 *     claims it on the group's board (pyw_claim.c).  The daemon that
 *     reads the request gives the claim back as it counts the request,
 *     so waiters in other children never all leave for the same worker.
 * The finder runs under the balancer's thread lock; it lets go of it
 * while it sleeps, so that this child's finished requests are counted
 * out meanwhile.  When the timeout passes, the request goes to the best
 * member anyway (it queues there), never to a 503.  The line is bounded
 * by the members' queue-limit= when all of them have one
 * (pyw_lb_line_has_room); a member that reached its limit scores below
 * any queue (PYW_LB_FULL).  After a wait the
 * boards alone choose the member: Apache's busy counts still hold
 * requests whose responses are on their way to their clients, and would
 * send the request to a group with no free worker.
 */
#include <string.h>
#include <strings.h>

#include "apr_optional.h"
#include "ap_provider.h"
#include "httpd.h"
#include "mod_proxy.h"

#include "../common/pyw_board_wake.h"
#include "pyw_claim.h"
#include "pyw_lbline.h"
#include "pyw_procmgr.h"
#include "pyw_proxy.h"

#define PYW_LB_NAME "byfreeworkers"
#define PYW_LB_POLL_US 250      /* how often a queued request looks
                                   where the kernel cannot sleep on the
                                   boards (pyw_board_wake.h)           */
/* The longest sleep of the first in line: members going in or out of
 * service (error, drain, balancer-manager) change no board. */
#define PYW_LB_SLEEP_MAX_US 10000

typedef struct {
    int  total_factor;          /* lbfactors of the candidates seen     */
    long best_free;             /* the score of the best one so far     */
    int  board_only;            /* 1: after a wait, the boards decide   */
    proxy_worker *claimed;      /* the member whose worker r claimed    */
} pyw_lb_baton_t;

/* The daemon group of a pyworker:// member, or NULL (another scheme, or
 * a group that is gone). */
static const pyw_group_t *pyw_lb_group(const proxy_worker *w)
{
    return strcasecmp(w->s->scheme, "pyworker") == 0
           ? pyw_proxy_find_group(w->s->hostname_ex) : NULL;
}

/* A member whose group holds all its queue-limit allows scores lower
 * than any queue: a request sent there would only get 503. */
#define PYW_LB_FULL (-1000000000L)

/* What more the group may take under its queue-limit= (processes x
 * threads + queue-limit, less the requests Apache holds for it), or -1
 * without a limit. */
static long pyw_lb_allowance(const pyw_group_t *g)
{
    long cap = (long)g->processes * g->threads + g->queue_limit;

    return g->queue_limit > 0 ? cap - pyw_pm_held(g) : -1;
}

/* Free workers of a member: negative when requests queue.  board_only:
 * without Apache's busy count, which still holds requests whose
 * responses are on their way to clients. */
static long pyw_lb_free(proxy_worker *w, int board_only)
{
    const pyw_group_t *g = pyw_lb_group(w);
    pyw_board_load_t load;
    long busy = (long)w->s->busy, threads;

    if (g == NULL) {
        threads = w->s->lbfactor / 100;
        return (threads > 0 ? threads : 1) - busy;
    }
    if (pyw_lb_allowance(g) == 0) {
        return PYW_LB_FULL;
    }
    pyw_pm_group_load(g, &load);
    threads = pyw_pm_group_dormant(g, &load)
              ? (long)g->processes * g->threads : (long)load.threads;
    if (board_only) {
        return threads - load.busy;
    }
    return threads - (load.busy > busy ? load.busy : busy);
}

/* A regular member mod_proxy may choose: usable, not draining, neither
 * hot standby nor spare. */
static int pyw_lb_regular(const proxy_worker *w)
{
    return PROXY_WORKER_IS_USABLE(w) && !PROXY_WORKER_IS_DRAINING(w)
           && !PROXY_WORKER_IS_STANDBY(w) && !PROXY_WORKER_IS_SPARE(w);
}

/*
 * The members mod_proxy's choice would take r to, as it chooses: the
 * regular ones of the lowest lbset that has any, else the usable
 * standbys and spares (not draining).  At most n, into c; their number.
 */
static int pyw_lb_candidates(proxy_balancer *balancer, proxy_worker **c,
                             int n)
{
    proxy_worker **w = (proxy_worker **)balancer->workers->elts;
    int i, k = 0, lbset = -1;

    for (i = 0; i < balancer->workers->nelts; i++) {
        if (pyw_lb_regular(w[i]) && (lbset < 0 || w[i]->s->lbset < lbset)) {
            lbset = w[i]->s->lbset;
        }
    }
    for (i = 0; i < balancer->workers->nelts && k < n; i++) {
        if (lbset >= 0 ? pyw_lb_regular(w[i]) && w[i]->s->lbset == lbset
            : PROXY_WORKER_IS_USABLE(w[i])
              && !PROXY_WORKER_IS_DRAINING(w[i])) {
            c[k++] = w[i];
        }
    }
    return k;
}

#define PYW_LB_CANDIDATES_MAX 64

static int pyw_lb_is_best(proxy_worker *current, proxy_worker *prev_best,
                          void *baton)
{
    pyw_lb_baton_t *b = baton;
    long free = pyw_lb_free(current, b->board_only);
    int best;

    current->s->lbstatus += current->s->lbfactor;
    b->total_factor += current->s->lbfactor;
    if (b->claimed != NULL
        && (current == b->claimed || prev_best == b->claimed)) {
        b->best_free = free;
        return current == b->claimed;
    }
    best = prev_best == NULL || free > b->best_free
           || (free == b->best_free
               && (current->s->busy < prev_best->s->busy
                   || (current->s->busy == prev_best->s->busy
                       && current->s->lbstatus > prev_best->s->lbstatus)));
    if (best) {
        b->best_free = free;
    }
    return best;
}

/*
 * The member to leave the wait for: one whose board shows a free worker
 * no other request has claimed, now claimed for r (Apache sends each
 * request to the process with the most room, pyw_conn.c), or NULL.
 * Apache's busy counts cannot be used while waiting: they go down in
 * mod_proxy's post_request, under the balancer lock this finder holds.
 * For the same reason a member of another scheme, whose load only
 * Apache's counts show, ends the wait at once (without a claim).
 */
static proxy_worker *pyw_lb_claim(proxy_balancer *balancer, request_rec *r,
                                  int *done)
{
    proxy_worker *w[PYW_LB_CANDIDATES_MAX];
    const pyw_group_t *g;
    pyw_board_load_t load;
    int i, n = pyw_lb_candidates(balancer, w, PYW_LB_CANDIDATES_MAX);

    for (i = 0; i < n; i++) {
        g = pyw_lb_group(w[i]);
        if (g == NULL) {
            *done = 1;
            return NULL;
        }
        pyw_pm_group_load(g, &load);
        if (pyw_pm_group_dormant(g, &load)) {
            *done = 1;              /* the request starts it */
            return NULL;
        }
        if (pyw_claim_take(r, g)) {
            *done = 1;
            return w[i];
        }
    }
    return NULL;
}

/* 1 if no member mod_proxy would choose has a free worker (by both
 * counts). */
static int pyw_lb_full(proxy_balancer *balancer)
{
    proxy_worker *w[PYW_LB_CANDIDATES_MAX];
    int i, n = pyw_lb_candidates(balancer, w, PYW_LB_CANDIDATES_MAX);

    for (i = 0; i < n; i++) {
        if (pyw_lb_free(w[i], 0) > 0) {
            return 0;
        }
    }
    return 1;
}

/* The boards of the pyworker:// members, which the first in line sleeps
 * on (pyw_board_wake.h), counted as a sleeper on each while it is. */
typedef struct {
    pyw_board_t *board[PYW_BOARD_WAIT_MAX];
    uint32_t     word[PYW_BOARD_WAIT_MAX];
    int          n;
} pyw_lb_boards_t;

static void pyw_lb_boards_count_in(pyw_lb_boards_t *bs,
                                   proxy_balancer *balancer)
{
    proxy_worker **w = (proxy_worker **)balancer->workers->elts;
    const pyw_group_t *g;
    int i;

    for (i = 0; i < balancer->workers->nelts && bs->n < PYW_BOARD_WAIT_MAX;
         i++) {
        g = pyw_lb_group(w[i]);
        if (g != NULL && pyw_pm_group_board(g) != NULL) {
            bs->board[bs->n] = pyw_pm_group_board(g);
            pyw_board_sleepers(bs->board[bs->n++], 1);
        }
    }
}

static void pyw_lb_boards_count_out(pyw_lb_boards_t *bs)
{
    while (bs->n > 0) {
        pyw_board_sleepers(bs->board[--bs->n], -1);
    }
}

static void pyw_lb_boards_read(pyw_lb_boards_t *bs)
{
    int i;

    for (i = 0; i < bs->n; i++) {
        bs->word[i] = pyw_board_wake_word(bs->board[i]);
    }
}

/* The first in line, nothing free: sleep until a worker of some member
 * may have come free.  The lock is let go meanwhile, so that this
 * child's finished requests pass mod_proxy's post_request. */
static void pyw_lb_sleep(pyw_lb_boards_t *bs, proxy_balancer *balancer,
                         apr_time_t deadline)
{
    apr_time_t left = deadline - apr_time_now();
    long us = left < PYW_LB_SLEEP_MAX_US ? (long)left : PYW_LB_SLEEP_MAX_US;

    PROXY_THREAD_UNLOCK(balancer);
    if (us > 0 && pyw_board_wait_any(bs->board, bs->word, bs->n, us) < 0) {
        apr_sleep(PYW_LB_POLL_US);      /* no futex_waitv: poll */
    }
    PROXY_THREAD_LOCK(balancer);
}

/* Every member is full, or others wait already: wait in line, up to the
 * balancer's timeout, for a free worker anywhere (see the top of this
 * file).  The member r claimed a worker of, or NULL. */
static proxy_worker *pyw_lb_queue(proxy_balancer *balancer, request_rec *r,
                                  pyw_lb_line_t *line)
{
    apr_time_t deadline = apr_time_now() + balancer->s->timeout;
    proxy_worker *claimed = NULL;
    pyw_lb_waiter_t me;
    pyw_lb_boards_t bs;
    int first = 0, done = 0;

    bs.n = 0;
    pyw_lb_line_join(line, &me);
    /* A child told to stop sends its waiters on (pyw_lb_find). */
    while (apr_time_now() < deadline && !pyw_pm_stopping()) {
        if (!pyw_lb_line_first(line, &me)) {
            pyw_lb_line_wait_turn(line, balancer, &me, deadline);
            continue;
        }
        if (!first) {
            first = 1;
            pyw_lb_boards_count_in(&bs, balancer);
        }
        /* The words before the look: a worker freed after it changes
         * one, and the sleep returns at once. */
        pyw_lb_boards_read(&bs);
        if ((claimed = pyw_lb_claim(balancer, r, &done)) != NULL || done) {
            break;
        }
        pyw_lb_sleep(&bs, balancer, deadline);
    }
    pyw_lb_boards_count_out(&bs);
    pyw_lb_line_leave(line, &me);
    return claimed;
}

/*
 * Whether one more request may wait in the line: requests waiting here
 * hold Apache's threads as surely as those queued in a daemon, so when
 * every usable member is a group with a queue-limit, the line holds no
 * more than what the members may still take, added up.  A request past
 * that goes to a member at once, whose queue-limit answers it.  A member
 * without a limit (or of another scheme) leaves the line unbounded.
 */
static int pyw_lb_line_has_room(proxy_balancer *balancer,
                                const pyw_lb_line_t *line)
{
    proxy_worker *w[PYW_LB_CANDIDATES_MAX];
    const pyw_group_t *g;
    long room = 0, more;
    int i, n = pyw_lb_candidates(balancer, w, PYW_LB_CANDIDATES_MAX);

    for (i = 0; i < n; i++) {
        g = pyw_lb_group(w[i]);
        if (g == NULL || (more = pyw_lb_allowance(g)) < 0) {
            return 1;
        }
        room += more;
    }
    return pyw_lb_line_length(line) < room;
}

static proxy_worker *pyw_lb_find(proxy_balancer *balancer, request_rec *r)
{
    APR_OPTIONAL_FN_TYPE(proxy_balancer_get_best_worker) *get_best =
        APR_RETRIEVE_OPTIONAL_FN(proxy_balancer_get_best_worker);
    pyw_lb_baton_t baton = { 0, 0, 0, NULL };
    pyw_lb_line_t *line;
    proxy_worker *w;

    if (get_best == NULL) {
        return NULL;            /* a mod_proxy older than 2.4.35 */
    }
    /* A newcomer does not pass those already waiting.  A child told to
     * stop queues nobody: the request goes to a member now (whose daemon
     * answers at once while Apache stops), else mod_proxy_balancer would
     * ask again until timeout= and hold the child until the MPM's
     * SIGKILL. */
    if (balancer->s->timeout > 0 && !pyw_pm_stopping()
        && (pyw_lb_line_busy(line = pyw_lb_line_of(balancer))
            || pyw_lb_full(balancer))
        && pyw_lb_line_has_room(balancer, line)) {
        baton.claimed = pyw_lb_queue(balancer, r, line);
        baton.board_only = 1;
    }
    w = get_best(balancer, r, pyw_lb_is_best, &baton);
    if (w != NULL) {
        w->s->lbstatus -= baton.total_factor;
    }
    return w;
}

static apr_status_t pyw_lb_reset(proxy_balancer *balancer, server_rec *s)
{
    return APR_SUCCESS;
}

static apr_status_t pyw_lb_age(proxy_balancer *balancer, server_rec *s)
{
    return APR_SUCCESS;
}

static const proxy_balancer_method pyw_lb_method = {
    PYW_LB_NAME,
    pyw_lb_find,
    NULL,
    pyw_lb_reset,
    pyw_lb_age,
    NULL
};

/* The lines waiters stand in, shared by this generation's children. */
static int pyw_lb_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp, server_rec *s)
{
    pyw_lb_lines_init(pconf);
    return OK;
}

void pyw_lbmethod_register(apr_pool_t *p)
{
    ap_hook_post_config(pyw_lb_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_register_provider(p, PROXY_LBMETHOD, PYW_LB_NAME, "0",
                         &pyw_lb_method);
}

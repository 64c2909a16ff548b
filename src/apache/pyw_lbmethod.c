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
 * workers.
 *
 * Choosing among usable members (error, drain, standby, spare, lbset) is
 * mod_proxy's own proxy_balancer_get_best_worker, fetched as an optional
 * function, so nothing here links to mod_proxy.
 */
#include <string.h>
#include <strings.h>

#include "apr_optional.h"
#include "ap_provider.h"
#include "httpd.h"
#include "mod_proxy.h"

#include "pyw_procmgr.h"
#include "pyw_proxy.h"

#define PYW_LB_NAME "byfreeworkers"

typedef struct {
    int  total_factor;          /* lbfactors of the candidates seen     */
    long best_free;             /* the score of the best one so far     */
} pyw_lb_baton_t;

/* Free workers of a member: negative when requests queue. */
static long pyw_lb_free(proxy_worker *w)
{
    const pyw_group_t *g = NULL;
    pyw_board_load_t load;
    long busy = (long)w->s->busy;

    if (strcasecmp(w->s->scheme, "pyworker") == 0) {
        g = pyw_proxy_find_group(w->s->hostname_ex);
    }
    if (g == NULL) {
        return (long)w->s->lbfactor - busy;
    }
    pyw_pm_group_load(g, &load);
    return (long)load.threads - (load.busy > busy ? load.busy : busy);
}

static int pyw_lb_is_best(proxy_worker *current, proxy_worker *prev_best,
                          void *baton)
{
    pyw_lb_baton_t *b = baton;
    long free = pyw_lb_free(current);
    int best;

    current->s->lbstatus += current->s->lbfactor;
    b->total_factor += current->s->lbfactor;
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

static proxy_worker *pyw_lb_find(proxy_balancer *balancer, request_rec *r)
{
    APR_OPTIONAL_FN_TYPE(proxy_balancer_get_best_worker) *get_best =
        APR_RETRIEVE_OPTIONAL_FN(proxy_balancer_get_best_worker);
    pyw_lb_baton_t baton = { 0, 0 };
    proxy_worker *w;

    if (get_best == NULL) {
        return NULL;            /* a mod_proxy older than 2.4.35 */
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

void pyw_lbmethod_register(apr_pool_t *p)
{
    ap_register_provider(p, PROXY_LBMETHOD, PYW_LB_NAME, "0",
                         &pyw_lb_method);
}

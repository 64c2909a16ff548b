/*
 * pyw_claim.c - a request's claim on a free worker of a daemon group
 * (see pyw_claim.h and the claims in pyw_board.h).
 *
 * Requests waiting at the balancer in several Apache children all see
 * the same free worker on the board until the first of them reaches its
 * daemon.  Without claims they all leave the wait for it, and all but
 * one queue behind it.  With them, each takes a claim before it leaves,
 * and a worker counts as free for the next waiter only if the claims
 * already taken leave one over.  The REQUEST names the claim, so the
 * daemon worker that reads it gives it back the moment its own count
 * holds the request: no moment in between shows the worker free.
 */
#include "apr_pools.h"

#include "../common/pyw_board.h"
#include "../common/pyw_io.h"
#include "pyw_claim.h"
#include "pyw_procmgr.h"

#define PYW_CLAIM_KEY "pyworker-claim"

typedef struct {
    const pyw_group_t *group;
    pyw_board_t       *board;
    uint16_t           id;
} pyw_claim_t;

/* At the end of the request: a claim no daemon read (the request never
 * reached one) is given back here; otherwise this does nothing. */
static apr_status_t pyw_claim_give_back(void *data)
{
    pyw_claim_t *c = data;

    pyw_board_unclaim(c->board, c->id);
    return APR_SUCCESS;
}

int pyw_claim_take(request_rec *r, const pyw_group_t *g)
{
    pyw_board_t *b = pyw_pm_group_board(g);
    pyw_board_load_t load;
    pyw_claim_t *c;
    int64_t now = pyw_io_now_ms();
    uint16_t id;

    pyw_pm_group_load(g, &load);
    if (load.free - pyw_board_claims(b, now) <= 0
        || (id = pyw_board_claim(b, now)) == 0) {
        return 0;
    }
    /* Another child may have claimed the same worker meanwhile: count
     * again with ours in, and back off if that is one too many. */
    if (pyw_board_claims(b, now) > load.free) {
        pyw_board_unclaim(b, id);
        return 0;
    }
    c = apr_palloc(r->pool, sizeof(*c));
    c->group = g;
    c->board = b;
    c->id = id;
    apr_pool_cleanup_register(r->pool, c, pyw_claim_give_back,
                              apr_pool_cleanup_null);
    apr_pool_userdata_setn(c, PYW_CLAIM_KEY, NULL, r->pool);
    return 1;
}

uint16_t pyw_claim_id(request_rec *r, const pyw_group_t *g)
{
    void *p = NULL;
    const pyw_claim_t *c;

    if (apr_pool_userdata_get(&p, PYW_CLAIM_KEY, r->pool) != APR_SUCCESS
        || (c = p) == NULL || c->group != g) {
        return 0;       /* none, or a failed-over request at another group */
    }
    return c->id;
}

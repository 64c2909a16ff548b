/*
 * pyw_procmgr_inflight.c - the queue-limit= of a group: how many of its
 * requests Apache's children hold (pyw_inflight.h).
 *
 *   parent, post_config   a table per group with a limit, kept with its
 *                         socket across restarts (pyw_procmgr_sock.c)
 *   child, child_init     claims its row in each table, gives it back
 *                         when it exits
 *   request               pyw_pm_hold / pyw_pm_unhold
 *   parent, child_status  frees the row of a child that died holding it
 *   parent, post_config   frees the rows of children gone without a word
 *   and monitor           (a full restart's, whose exits the MPM may not
 *                         report)
 */
#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "ap_mpm.h"

#include "pyw_log.h"
#include "pyw_pm.h"
#include "pyw_procmgr.h"
#include "pyw_procmgr_int.h"
#include "../common/pyw_inflight.h"

/* Rows for every child the MPM may run, twice over: the children of two
 * generations share the table while a graceful restart overlaps them. */
static int pyw_inflight_rows_wanted(void)
{
    int limit = 0;

    if (ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit) != APR_SUCCESS
        || limit < 1) {
        limit = 16;
    }
    return 2 * limit;
}

static int pyw_inflight_alive(pid_t pid)
{
    return kill(pid, 0) == 0 || errno == EPERM;
}

void pyw_sock_inflight(server_rec *s, pyw_sock_t *k, pyw_group_t *g)
{
    int want = pyw_inflight_rows_wanted();

    if (g->queue_limit > 0 && pyw_inflight_rows(k->inflight) < want) {
        /* New, or ServerLimit grew: children of the old table keep
         * counting there until they exit. */
        pyw_inflight_destroy(k->inflight);
        if ((k->inflight = pyw_inflight_create(want)) == NULL) {
            PYW_SLOG(APLOG_WARNING, errno, s, 61, g->name, 0L, "cannot map "
                     "the table of requests held by Apache: queue-limit "
                     "will not be applied");
        }
    }
    g->rt->inflight = g->queue_limit > 0 ? k->inflight : NULL;
    g->rt->inflight_row = -1;
    pyw_inflight_sweep(g->rt->inflight, pyw_inflight_alive);
}

void pyw_inflight_sweep_all(void)
{
    struct pyw_group_rt **rts = (struct pyw_group_rt **)pyw_pm.rts->elts;
    int i;

    for (i = 0; i < pyw_pm.rts->nelts; i++) {
        pyw_inflight_sweep(rts[i]->inflight, pyw_inflight_alive);
    }
}

static apr_status_t pyw_inflight_release_row(void *data)
{
    struct pyw_group_rt *rt = data;

    pyw_inflight_release(rt->inflight, rt->inflight_row, getpid());
    rt->inflight_row = -1;
    return APR_SUCCESS;
}

void pyw_inflight_child_init(apr_pool_t *pchild, struct pyw_group_rt *rt)
{
    if (rt->inflight == NULL) {
        return;
    }
    rt->inflight_row = pyw_inflight_claim(rt->inflight, getpid());
    if (rt->inflight_row < 0) {
        PYW_SLOG(APLOG_WARNING, 0, pyw_pm.s, 62, rt->group->name, 0L,
                 "no free row in the table of requests held by Apache: "
                 "this child's requests are not counted for queue-limit");
        return;
    }
    apr_pool_cleanup_register(pchild, rt, pyw_inflight_release_row,
                              apr_pool_cleanup_null);
}

/* The parent: a child that crashed gave nothing back. */
static void pyw_inflight_child_status(server_rec *s, pid_t pid,
                                      ap_generation_t gen, int slot,
                                      mpm_child_status state)
{
    struct pyw_group_rt **rts;
    int i;

    if (state != MPM_CHILD_EXITED || pyw_pm.rts == NULL
        || getpid() != pyw_pm.parent) {
        return;
    }
    rts = (struct pyw_group_rt **)pyw_pm.rts->elts;
    for (i = 0; i < pyw_pm.rts->nelts; i++) {
        pyw_inflight_forget(rts[i]->inflight, pid);
    }
}

long pyw_pm_hold(const pyw_group_t *g)
{
    struct pyw_group_rt *rt = g->rt;

    return rt != NULL && rt->inflight != NULL
           ? pyw_inflight_enter(rt->inflight, rt->inflight_row) : 0;
}

void pyw_pm_unhold(const pyw_group_t *g)
{
    struct pyw_group_rt *rt = g->rt;

    if (rt != NULL && rt->inflight != NULL) {
        pyw_inflight_leave(rt->inflight, rt->inflight_row);
    }
}

long pyw_pm_held(const pyw_group_t *g)
{
    return g->rt != NULL ? pyw_inflight_total(g->rt->inflight) : 0;
}

void pyw_inflight_register_hooks(apr_pool_t *p)
{
    ap_hook_child_status(pyw_inflight_child_status, NULL, NULL,
                         APR_HOOK_MIDDLE);
}

/*
 * pyw_handler_limit.c - queue-limit=: a group takes at most processes x
 * threads + queue-limit of Apache's threads.  Each of its requests holds
 * one from before its body is read until its response is sent; one more
 * is answered 503 at once instead of waiting, so a slow or flooded site
 * leaves Apache's other threads to the other sites.  The count is kept
 * by Apache's children themselves (pyw_procmgr_inflight.c).
 */
#include <string.h>

#include "apr_strings.h"
#include "httpd.h"

#include "pyw_handler_int.h"
#include "pyw_procmgr.h"
#include "pyw_status_page.h"

int pyw_handler_hold(request_rec *r, const pyw_group_t *g,
                     pyw_forward_outcome_t *how)
{
    long workers = (long)g->processes * g->threads;
    long held;
    int status;

    if (g->queue_limit <= 0
        || (held = pyw_pm_hold(g)) <= workers + g->queue_limit) {
        return OK;
    }
    pyw_pm_unhold(g);
    memset(how, 0, sizeof(*how));
    how->result = PYW_FWD_QUEUE_FULL;
    how->reason = apr_psprintf(r->pool, "%ld requests of the group are in "
                               "Apache with this one, more than its %ld "
                               "workers and queue-limit=%d", held, workers,
                               g->queue_limit);
    status = pyw_handler_outcome(r, g, 0L, how);
    pyw_status_count(r, g, status, pyw_handler_what(r, how));
    return status;
}

void pyw_handler_unhold(const pyw_group_t *g)
{
    if (g->queue_limit > 0) {
        pyw_pm_unhold(g);
    }
}

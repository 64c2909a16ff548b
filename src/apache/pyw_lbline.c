/*
 * pyw_lbline.c - first come, first served among the requests of every
 * Apache child waiting at a balancer (see pyw_lbline.h).
 *
 * The parent maps the lines once per configuration, before it forks the
 * children of that generation; a balancer's line is found by the
 * address of its shared record (balancer->s), which mod_proxy_balancer
 * places in its own shared memory before the fork, so every child of
 * the generation finds the same line.
 */
#include "pyw_lbline.h"

#define PYW_LB_TURN_CHECK_US 100000     /* a dead holder is noticed by */

static pyw_ticket_line_t *pyw_lb_lines;

static apr_status_t pyw_lb_lines_unmap(void *lines)
{
    pyw_ticket_lines_destroy(lines);
    if (pyw_lb_lines == lines) {
        pyw_lb_lines = NULL;
    }
    return APR_SUCCESS;
}

void pyw_lb_lines_init(apr_pool_t *pconf)
{
    pyw_lb_lines = pyw_ticket_lines_create();
    if (pyw_lb_lines != NULL) {
        apr_pool_cleanup_register(pconf, pyw_lb_lines, pyw_lb_lines_unmap,
                                  apr_pool_cleanup_null);
    }
}

pyw_lb_line_t *pyw_lb_line_of(const proxy_balancer *balancer)
{
    return pyw_ticket_line_of(pyw_lb_lines,
                              (uint64_t)(uintptr_t)balancer->s);
}

void pyw_lb_line_join(pyw_lb_line_t *line, pyw_lb_waiter_t *w)
{
    w->ticket = line != NULL ? pyw_ticket_take(line) : 0;
}

void pyw_lb_line_leave(pyw_lb_line_t *line, pyw_lb_waiter_t *w)
{
    if (line != NULL) {
        pyw_ticket_leave(line, w->ticket);
    }
}

int pyw_lb_line_first(pyw_lb_line_t *line, const pyw_lb_waiter_t *w)
{
    return line == NULL || pyw_ticket_mine(line, w->ticket);
}

void pyw_lb_line_wait_turn(pyw_lb_line_t *line, proxy_balancer *balancer,
                           const pyw_lb_waiter_t *w, apr_time_t deadline)
{
    apr_time_t left = deadline - apr_time_now();

    if (line == NULL || left <= 0) {
        return;
    }
    PROXY_THREAD_UNLOCK(balancer);
    (void)pyw_ticket_wait(line, w->ticket, left < PYW_LB_TURN_CHECK_US
                                           ? (long)left
                                           : PYW_LB_TURN_CHECK_US);
    PROXY_THREAD_LOCK(balancer);
}

long pyw_lb_line_length(const pyw_lb_line_t *line)
{
    return line != NULL ? (long)pyw_ticket_waiting(line) : 0;
}

int pyw_lb_line_busy(const pyw_lb_line_t *line)
{
    return line != NULL && pyw_ticket_busy(line);
}

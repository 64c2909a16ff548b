/*
 * pyw_lbline.c - first come, first served among this child's requests
 * waiting at a balancer (see pyw_lbline.h).
 *
 * A fixed table, one entry per balancer that ever queued in this child,
 * found by the balancer's address.  An entry is taken with a
 * compare-and-swap, since two balancers' waiters hold different locks;
 * its list is then only touched under its own balancer's lock.
 */
#include "pyw_lbline.h"

#define PYW_LB_LINES 64

struct pyw_lb_line {
    const proxy_balancer *balancer;     /* NULL: a free entry */
    pyw_lb_waiter_t      *head;
    pyw_lb_waiter_t      *tail;
};

static pyw_lb_line_t pyw_lb_lines[PYW_LB_LINES];

pyw_lb_line_t *pyw_lb_line_of(const proxy_balancer *balancer)
{
    const proxy_balancer *seen;
    int i;

    for (i = 0; i < PYW_LB_LINES; i++) {
        seen = __atomic_load_n(&pyw_lb_lines[i].balancer, __ATOMIC_ACQUIRE);
        if (seen == balancer) {
            return &pyw_lb_lines[i];
        }
        if (seen == NULL
            && __atomic_compare_exchange_n(&pyw_lb_lines[i].balancer, &seen,
                                           balancer, 0, __ATOMIC_ACQ_REL,
                                           __ATOMIC_ACQUIRE)) {
            return &pyw_lb_lines[i];
        }
        if (seen == balancer) {
            return &pyw_lb_lines[i];    /* another thread took it for us */
        }
    }
    return NULL;
}

void pyw_lb_line_join(pyw_lb_line_t *line, pyw_lb_waiter_t *w)
{
    w->next = NULL;
    if (line == NULL) {
        return;
    }
    if (line->tail != NULL) {
        line->tail->next = w;
    }
    else {
        line->head = w;
    }
    line->tail = w;
}

void pyw_lb_line_leave(pyw_lb_line_t *line, pyw_lb_waiter_t *w)
{
    pyw_lb_waiter_t **p, *prev = NULL;

    if (line == NULL) {
        return;
    }
    for (p = &line->head; *p != NULL; prev = *p, p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            if (line->tail == w) {
                line->tail = prev;
            }
            return;
        }
    }
}

int pyw_lb_line_first(const pyw_lb_line_t *line, const pyw_lb_waiter_t *w)
{
    return line == NULL || line->head == w;
}

int pyw_lb_line_busy(const pyw_lb_line_t *line)
{
    return line != NULL && line->head != NULL;
}

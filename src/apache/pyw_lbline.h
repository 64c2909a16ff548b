/*
 * pyw_lbline.h - the order in which this Apache child's requests waiting
 * at one balancer for a free worker (pyw_lbmethod.c) may leave: first
 * come, first served.  Polling alone serves whichever waiter looks first
 * after a worker frees, so an unlucky one can wait through many frees:
 * the short requests' p99 was bybusyness's.  Every function is called
 * under the balancer's thread lock (PROXY_THREAD_LOCK), which is per
 * child and per balancer, like the line.
 */
#ifndef PYW_LBLINE_H
#define PYW_LBLINE_H

#include "mod_proxy.h"

typedef struct pyw_lb_waiter {
    struct pyw_lb_waiter *next;
} pyw_lb_waiter_t;

typedef struct pyw_lb_line pyw_lb_line_t;

/* The balancer's line in this child; NULL past PYW_LB_LINES balancers
 * (their waiters leave in any order). */
pyw_lb_line_t *pyw_lb_line_of(const proxy_balancer *balancer);

void pyw_lb_line_join(pyw_lb_line_t *line, pyw_lb_waiter_t *w);
void pyw_lb_line_leave(pyw_lb_line_t *line, pyw_lb_waiter_t *w);

/* 1 if w is first in line (always, without a line). */
int pyw_lb_line_first(const pyw_lb_line_t *line, const pyw_lb_waiter_t *w);

/* Not first in line: sleep, with the balancer's lock let go, until the
 * first leaves or the deadline passes (at once without a line).  No
 * polling: a long line costs no CPU. */
void pyw_lb_line_wait_turn(pyw_lb_line_t *line, proxy_balancer *balancer,
                           apr_time_t deadline);

/* 1 if somebody waits (never, without a line). */
int pyw_lb_line_busy(const pyw_lb_line_t *line);

#endif /* PYW_LBLINE_H */

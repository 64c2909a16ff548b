/*
 * pyw_lbline.h - the order in which requests waiting at one balancer for
 * a free worker (pyw_lbmethod.c) may leave: first come, first served,
 * across every Apache child (src/common/pyw_ticket.h: one shared line
 * per balancer).  Polling alone served whichever waiter looked first
 * after a worker freed, and lines kept per child raced each other: an
 * unlucky request could wait through many frees.
 */
#ifndef PYW_LBLINE_H
#define PYW_LBLINE_H

#include "apr_pools.h"
#include "mod_proxy.h"

#include "../common/pyw_ticket.h"

typedef struct {
    uint32_t ticket;
} pyw_lb_waiter_t;

typedef pyw_ticket_line_t pyw_lb_line_t;

/* The parent, in post_config: the shared lines its children inherit. */
void pyw_lb_lines_init(apr_pool_t *pconf);

/* The balancer's line; NULL without the shared lines or past
 * PYW_TICKET_LINES balancers (their waiters leave in any order). */
pyw_lb_line_t *pyw_lb_line_of(const proxy_balancer *balancer);

void pyw_lb_line_join(pyw_lb_line_t *line, pyw_lb_waiter_t *w);
void pyw_lb_line_leave(pyw_lb_line_t *line, pyw_lb_waiter_t *w);

/* 1 if it is w's turn (always, without a line). */
int pyw_lb_line_first(pyw_lb_line_t *line, const pyw_lb_waiter_t *w);

/* Not w's turn: sleep, with the balancer's lock let go, until it comes
 * or the deadline passes (at most 0.1 s: a turn held by a child that
 * died is then moved on).  No polling: a long line costs no CPU. */
void pyw_lb_line_wait_turn(pyw_lb_line_t *line, proxy_balancer *balancer,
                           const pyw_lb_waiter_t *w, apr_time_t deadline);

/* 1 if somebody waits (never, without a line). */
int pyw_lb_line_busy(const pyw_lb_line_t *line);
/* How many stand in it (those who left early but are not yet skipped
 * too); 0 for NULL. */
long pyw_lb_line_length(const pyw_lb_line_t *line);

#endif /* PYW_LBLINE_H */

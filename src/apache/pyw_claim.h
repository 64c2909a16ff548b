/*
 * pyw_claim.h - a request's claim on a free worker of a daemon group,
 * from the moment it leaves the balancer's wait (pyw_lbmethod.c) until
 * a daemon worker reads it.  See the claims in pyw_board.h.
 */
#ifndef PYW_CLAIM_H
#define PYW_CLAIM_H

#include "httpd.h"

#include "pyw_config.h"

/* Claim one of g's free workers for r, if a worker of g is free that no
 * other request has claimed: 1 (claimed; r's pool gives it back at the
 * latest), else 0. */
int pyw_claim_take(request_rec *r, const pyw_group_t *g);

/* The id of r's claim on g's board for its REQUEST to name, or 0. */
uint16_t pyw_claim_id(request_rec *r, const pyw_group_t *g);

#endif /* PYW_CLAIM_H */

/*
 * pyw_balance.h - this daemon's entry on its group's load board
 * (src/common/pyw_board.h): what it publishes, what it asks.
 */
#ifndef PYW_BALANCE_H
#define PYW_BALANCE_H

#include <stdint.h>

#include "pyw_daemon.h"

/* Join the board (no-op without one or with a single process). */
void pyw_balance_start(const pyw_daemon_spec_t *spec);

/* Draining: siblings stop counting on this daemon's workers. */
void pyw_balance_leave(void);

void pyw_balance_busy(int busy);
void pyw_balance_fresh(int fresh);

/* A REQUEST named a balancer's claim on a free worker of the group: this
 * daemon counts the request now, so the claim goes (pyw_board.h). */
void pyw_balance_unclaim(uint16_t claim);

/* 1 if another process of the group has a free worker right now. */
int pyw_balance_sibling_has_room(void);

#endif /* PYW_BALANCE_H */

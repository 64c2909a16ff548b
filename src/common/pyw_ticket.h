/*
 * pyw_ticket.h - a first come, first served line shared by processes:
 * the requests of every Apache child waiting at one balancer for a free
 * worker (pyw_lbline.c), in the order they came, whichever child holds
 * them.  Without it each child kept its own line, and on every free
 * worker the first of each line raced: a request could wait through
 * many frees, and with several children the p99 of equal requests was
 * worse than queueing in the daemons.
 *
 * A bakery: a waiter takes the next ticket and waits until `serving`
 * reaches it; the holder of the turn gives it on when it leaves.  Each
 * ticket sleeps on its own futex word (turn[ticket % RING]), so a turn
 * wakes one waiter, not all.  A waiter that gives up before its turn
 * leaves a note (gone[]) that the turn skips.  A holder whose process
 * died (a crashed Apache child) is skipped by the waiters after it.
 *
 * The lines live in one shared anonymous mapping the Apache parent makes
 * before it forks its children (the daemons exec and never see it).
 */
#ifndef PYW_TICKET_H
#define PYW_TICKET_H

#include <stdint.h>
#include <sys/types.h>

#define PYW_TICKET_RING   1024  /* waiters a line tells apart          */
#define PYW_TICKET_LINES  64    /* lines (balancers) a mapping holds   */

typedef struct {
    uint64_t key;               /* whose line; 0: free                 */
    uint32_t next;              /* the next ticket to hand out         */
    uint32_t serving;           /* the ticket whose turn it is         */
    int32_t  holder;            /* pid that took the turn, 0 until then */
    int32_t  pad;
    int64_t  since_ms;          /* when the turn last moved (monotonic) */
    uint32_t turn[PYW_TICKET_RING];     /* futex words                 */
    uint32_t gone[PYW_TICKET_RING];     /* ticket + 1 of one who left  */
} pyw_ticket_line_t;

/* The shared lines, zeroed; NULL on failure. */
pyw_ticket_line_t *pyw_ticket_lines_create(void);
void pyw_ticket_lines_destroy(pyw_ticket_line_t *lines);

/* The line of `key` (never 0), taken if new; NULL when all are taken. */
pyw_ticket_line_t *pyw_ticket_line_of(pyw_ticket_line_t *lines,
                                      uint64_t key);

/* Join the line: one's ticket. */
uint32_t pyw_ticket_take(pyw_ticket_line_t *l);

/* 1 if anybody holds a ticket (the turn included). */
int pyw_ticket_busy(const pyw_ticket_line_t *l);
/* Tickets out: the turn's holder, those behind it, and those who left
 * early and are not skipped yet. */
uint32_t pyw_ticket_waiting(const pyw_ticket_line_t *l);

/* 1 if it is t's turn (and then t holds it, as this process); the
 * holder looks again at least every second or so, to be seen alive. */
int pyw_ticket_mine(pyw_ticket_line_t *l, uint32_t t);

/* pyw_ticket_mine(), or else sleep up to max_us or until t's turn comes
 * and look again.  A waiter behind a holder that died moves the turn
 * on. */
int pyw_ticket_wait(pyw_ticket_line_t *l, uint32_t t, long max_us);

/* t leaves: it gives on the turn if it held it, else it is skipped. */
void pyw_ticket_leave(pyw_ticket_line_t *l, uint32_t t);

#endif

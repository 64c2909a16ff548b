/*
 * pyw_board_wake.h - sleeping until a worker of some group comes free,
 * instead of polling the boards (pyw_board.h, the wake word).
 *
 * A daemon calls pyw_board_freed() whenever one of its workers may have
 * come free (its busy count went down, it joined the board, a claim was
 * given back); that changes the board's wake word and, only if somebody
 * sleeps on it, wakes them (one futex call).  A request waiting at the
 * balancer (Apache, pyw_lbmethod.c) counts itself a sleeper on each
 * member's board, reads the words, looks for a free worker, and sleeps
 * on all the words at once if there is none: a free worker that comes
 * between the reading and the sleep changed a word, so the sleep returns
 * at once.  Linux futexes on the board's shared mapping; where the
 * kernel has no futex_waitv (before 5.16) the sleep says so and the
 * caller polls.
 */
#ifndef PYW_BOARD_WAKE_H
#define PYW_BOARD_WAKE_H

#include <stdint.h>

#include "pyw_board.h"

/* A worker of b's group may be free now. */
void pyw_board_freed(pyw_board_t *b);

/* Count in (delta 1) or out (-1) one sleeper on b. */
void pyw_board_sleepers(pyw_board_t *b, int delta);

/* b's wake word, to be passed to the sleep below (0 for NULL). */
uint32_t pyw_board_wake_word(const pyw_board_t *b);

/* Sleep until the wake word of any of the n boards differs from seen[i],
 * or timeout_us passes.  0: woken, or a word had changed already (look
 * again); 1: timed out; -1: this kernel cannot (errno ENOSYS): poll.  At
 * most PYW_BOARD_WAIT_MAX boards; NULL entries are skipped. */
#define PYW_BOARD_WAIT_MAX 128
int pyw_board_wait_any(pyw_board_t *const *b, const uint32_t *seen, int n,
                       long timeout_us);

#endif

/*
 * pyw_balance.c - this daemon's entry on its group's load board.
 *
 * Set once before any thread starts, read-only afterwards; the board
 * itself is written with atomics (pyw_board.c), so callers may hold
 * their own locks.
 */
#include <unistd.h>

#include "../common/pyw_board.h"
#include "pyw_balance.h"

static struct {
    pyw_board_t *board;         /* NULL: nothing to publish or ask */
    int          index;
    int          processes;
    pid_t        pid;
} bl;

void pyw_balance_start(const pyw_daemon_spec_t *spec)
{
    /* With one process there is no sibling to ask, but Apache's
     * byfreeworkers balancer reads the entry (pyw_lbmethod.c). */
    if (spec->board == NULL) {
        return;
    }
    bl.board = spec->board;
    bl.index = spec->process_index;
    bl.processes = spec->processes;
    bl.pid = getpid();
    pyw_board_join(bl.board, bl.index, bl.pid, spec->threads);
}

void pyw_balance_leave(void)
{
    pyw_board_leave(bl.board, bl.index, bl.pid);
}

void pyw_balance_busy(int busy)
{
    pyw_board_set_busy(bl.board, bl.index, bl.pid, busy);
}

void pyw_balance_fresh(int fresh)
{
    pyw_board_set_fresh(bl.board, bl.index, bl.pid, fresh);
}

int pyw_balance_sibling_has_room(void)
{
    return pyw_board_other_has_room(bl.board, bl.index, bl.processes);
}

void pyw_balance_unclaim(uint16_t claim)
{
    pyw_board_unclaim(bl.board, claim);
}

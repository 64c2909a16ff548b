/*
 * test_ticket.c - the shared first come, first served line: turns in
 * ticket order, those who left before their turn skipped, a waiter in
 * another process woken by its turn, and a turn held by a process that
 * died moved on by the waiter behind it.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "pyw_ticket.h"

static void test_turns_in_order(void)
{
    pyw_ticket_line_t *lines = pyw_ticket_lines_create();
    pyw_ticket_line_t *l = pyw_ticket_line_of(lines, 42);
    uint32_t a, b, c, d;

    CHECK(l != NULL);
    CHECK(pyw_ticket_line_of(lines, 42) == l);
    CHECK(pyw_ticket_line_of(lines, 43) != l);
    CHECK(pyw_ticket_line_of(lines, 0) == NULL);
    CHECK(!pyw_ticket_busy(l));
    a = pyw_ticket_take(l);
    b = pyw_ticket_take(l);
    c = pyw_ticket_take(l);
    d = pyw_ticket_take(l);
    CHECK(pyw_ticket_busy(l));
    CHECK_EQ(pyw_ticket_waiting(l), 4);
    CHECK(pyw_ticket_mine(l, a));
    CHECK(!pyw_ticket_mine(l, b));
    CHECK_EQ(pyw_ticket_wait(l, b, 20000), 0);      /* a holds it */
    pyw_ticket_leave(l, c);                         /* c gives up early */
    pyw_ticket_leave(l, a);
    CHECK(pyw_ticket_mine(l, b));
    pyw_ticket_leave(l, b);                         /* c is skipped */
    CHECK(!pyw_ticket_mine(l, c));
    CHECK(pyw_ticket_mine(l, d));
    pyw_ticket_leave(l, d);
    CHECK(!pyw_ticket_busy(l));
    CHECK_EQ(pyw_ticket_waiting(l), 0);
    pyw_ticket_lines_destroy(lines);
}

/* Ticket b sleeps in this process; a's holder, a child, leaves after
 * 0.1 s: b wakes at once, not at its 5 s timeout. */
static void test_turn_wakes_another_process(void)
{
    pyw_ticket_line_t *lines = pyw_ticket_lines_create();
    pyw_ticket_line_t *l = pyw_ticket_line_of(lines, 7);
    uint32_t a = pyw_ticket_take(l), b = pyw_ticket_take(l);
    double t0;
    pid_t pid;
    int status;

    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        pyw_ticket_mine(l, a);
        usleep(100000);
        pyw_ticket_leave(l, a);
        _exit(0);
    }
    t0 = unit_now_s();
    while (!pyw_ticket_wait(l, b, 5000000) && unit_now_s() - t0 < 5) {
    }
    CHECK(pyw_ticket_mine(l, b));
    CHECK(unit_now_s() - t0 < 2.0);
    CHECK(waitpid(pid, &status, 0) == pid && status == 0);
    pyw_ticket_lines_destroy(lines);
}

/* The holder of a's turn dies holding it (a crashed Apache child): b,
 * waiting behind, moves the turn on. */
static void test_dead_holder_is_skipped(void)
{
    pyw_ticket_line_t *lines = pyw_ticket_lines_create();
    pyw_ticket_line_t *l = pyw_ticket_line_of(lines, 9);
    uint32_t a = pyw_ticket_take(l), b = pyw_ticket_take(l);
    double t0;
    pid_t pid;
    int status;

    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        pyw_ticket_mine(l, a);
        _exit(0);                               /* never leaves */
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    t0 = unit_now_s();
    while (!pyw_ticket_wait(l, b, 100000) && unit_now_s() - t0 < 5) {
    }
    CHECK(pyw_ticket_mine(l, b));
    CHECK(unit_now_s() - t0 < 1.0);
    pyw_ticket_lines_destroy(lines);
}

int main(void)
{
    test_turns_in_order();
    test_turn_wakes_another_process();
    test_dead_holder_is_skipped();
    return UNIT_DONE();
}

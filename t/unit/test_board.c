/*
 * test_board.c - the group load board: room is seen only in other,
 * joined, not draining slots; a departed daemon cannot clobber the
 * successor that took its slot; and a second mapping of the memfd, made
 * in a child as an exec'd daemon makes it, shares the parent's writes;
 * a worker coming free wakes a process asleep on the board.
 */
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "pyw_board.h"
#include "pyw_board_wake.h"

static pyw_board_t *new_board(void)
{
    int fd;
    pyw_board_t *b = pyw_board_create(&fd, 2);

    CHECK(fd >= 0);
    close(fd);          /* the mapping outlives the descriptor */
    return b;
}

static void test_room(void)
{
    pyw_board_t *b = new_board();

    CHECK(b != NULL);
    CHECK(!pyw_board_other_has_room(b, 0, 2));      /* nobody joined */
    pyw_board_join(b, 0, 100, 2);
    CHECK(!pyw_board_other_has_room(b, 0, 2));      /* only itself */
    CHECK(pyw_board_other_has_room(b, 1, 2));
    pyw_board_set_busy(b, 0, 100, 1);
    pyw_board_set_fresh(b, 0, 100, 1);
    CHECK(!pyw_board_other_has_room(b, 1, 2));      /* busy + reserved */
    pyw_board_set_fresh(b, 0, 100, 0);
    CHECK(pyw_board_other_has_room(b, 1, 2));
    CHECK(!pyw_board_other_has_room(b, 1, 0));      /* outside n */
    pyw_board_leave(b, 0, 100);                     /* draining */
    CHECK(!pyw_board_other_has_room(b, 1, 2));
    pyw_board_destroy(b);
}

static void test_successor_keeps_the_slot(void)
{
    pyw_board_t *b = new_board();

    pyw_board_join(b, 1, 200, 4);
    pyw_board_join(b, 1, 201, 4);                   /* its replacement */
    pyw_board_set_busy(b, 1, 200, 4);               /* late, ignored */
    pyw_board_leave(b, 1, 200);                     /* ignored too */
    CHECK_EQ(b->mem->slot[1].pid, 201);
    CHECK_EQ(b->mem->slot[1].busy, 0);
    CHECK(pyw_board_other_has_room(b, 0, 2));
    pyw_board_leave(b, 1, 201);
    CHECK_EQ(b->mem->slot[1].pid, 0);
    CHECK(!pyw_board_other_has_room(b, 0, 2));
    /* Out-of-range indexes and a missing board are no-ops. */
    pyw_board_join(b, pyw_board_slots(b), 300, 4);
    pyw_board_join(NULL, 0, 300, 4);
    CHECK(!pyw_board_other_has_room(NULL, 0, 2));
    CHECK(!pyw_board_other_has_room(b, 0, pyw_board_slots(b) + 5));
    pyw_board_destroy(b);
}

static void test_shared_through_the_fd(void)
{
    int fd, status = -1;
    pyw_board_t *b = pyw_board_create(&fd, 4);
    pid_t pid = fork();

    if (pid == 0) {
        pyw_board_t *mine = pyw_board_map(fd);

        pyw_board_destroy(b);           /* only the fd's own mapping */
        pyw_board_join(mine, 3, getpid(), 8);
        _exit(mine != NULL ? 0 : 1);
    }
    close(fd);
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    CHECK_EQ(b->mem->slot[3].pid, pid);
    CHECK_EQ(b->mem->slot[3].threads, 8);
    CHECK(pyw_board_other_has_room(b, 0, 4));
    pyw_board_destroy(b);
}

static void test_start_up_news(void)
{
    pyw_board_t *b = new_board();
    char cause[64];
    int64_t age = -1;

    CHECK(!pyw_board_last_failure(b, 1000, cause, sizeof(cause), &age));
    pyw_board_note_failure(b, 1000, "exit status 254 (could not start)");
    CHECK(pyw_board_last_failure(b, 4500, cause, sizeof(cause), &age));
    CHECK_STR(cause, "exit status 254 (could not start)");
    CHECK_EQ(age, 3500);
    CHECK_EQ(b->mem->news.failed_seq % 2, 0);
    pyw_board_note_ready(b, 5000);                  /* a daemon came up */
    CHECK(!pyw_board_last_failure(b, 6000, cause, sizeof(cause), &age));
    pyw_board_note_failure(b, 7000, "a cause longer than the board keeps, "
                           "which is cut to fit and still ends in a NUL "
                           "byte, never running past it");
    CHECK(pyw_board_last_failure(b, 7000, cause, 8, &age));
    CHECK_STR(cause, "a cause");                    /* cut to the buffer */
    CHECK(!pyw_board_last_failure(NULL, 7000, cause, sizeof(cause), &age));
    pyw_board_destroy(b);
}

/* Connections stop waiting for a group whose starts fail again and
 * again, but not for one failure, and not while a start is under way. */
static void test_failing_group(void)
{
    pyw_board_t *b = new_board();

    pyw_board_note_starting(b, 1000);
    pyw_board_note_failure(b, 1100, "exit status 254");
    CHECK(!pyw_board_failing(b, 1200));             /* once: bad luck  */
    pyw_board_note_starting(b, 2100);               /* after 1 s back-off */
    pyw_board_note_failure(b, 2200, "exit status 254");
    pyw_board_note_starting(b, 4200);               /* 2 s back-off    */
    CHECK(pyw_board_failing(b, 2300));              /* nothing to wait for */
    CHECK(!pyw_board_failing(b, 4300));             /* that start runs */
    pyw_board_note_ready(b, 4500);
    CHECK(!pyw_board_failing(b, 4600));
    pyw_board_note_failure(b, 5000, "exit status 1");
    CHECK(!pyw_board_failing(b, 5100));             /* a new streak    */
    CHECK(!pyw_board_failing(NULL, 5100));
    pyw_board_destroy(b);
}

/* One page for a small group, more for a large one; the file cannot be
 * shrunk (a daemon holds it writable) and a mapping of it sees the same
 * number of entries. */
static void test_size_and_seals(void)
{
    int fd, big_fd;
    pyw_board_t *b = pyw_board_create(&fd, 1);
    pyw_board_t *big = pyw_board_create(&big_fd, 1000);
    pyw_board_t *again;

    CHECK(b != NULL && big != NULL);
    CHECK_EQ(b->size, (size_t)sysconf(_SC_PAGESIZE));
    CHECK_EQ(pyw_board_slots(b), 233);
    CHECK(pyw_board_slots(big) >= 1000);
    CHECK(ftruncate(fd, 0) < 0);                    /* sealed */
    CHECK(ftruncate(fd, 1 << 20) < 0);
    again = pyw_board_map(big_fd);
    CHECK(again != NULL);
    CHECK_EQ(pyw_board_slots(again), pyw_board_slots(big));
    pyw_board_note_failure(b, 10, "exit status 254");
    pyw_board_copy_news(big, b);
    CHECK_STR(again->mem->news.failed_cause, "exit status 254");
    CHECK_EQ(pyw_board_slots(NULL), 0);
    pyw_board_destroy(again);
    pyw_board_destroy(big);
    pyw_board_destroy(b);
    close(fd);
    close(big_fd);
}

static void test_load_for_the_balancer(void)
{
    pyw_board_t *b = new_board();
    pyw_board_load_t l;

    pyw_board_load(NULL, 2, &l);
    CHECK_EQ(l.processes, 0);
    CHECK_EQ(l.free, 0);
    pyw_board_join(b, 0, 100, 2);
    pyw_board_join(b, 1, 101, 2);
    pyw_board_set_busy(b, 0, 100, 5);       /* three queued here ... */
    pyw_board_set_busy(b, 1, 101, 1);       /* ... one free there    */
    pyw_board_load(b, 2, &l);
    CHECK_EQ(l.processes, 2);
    CHECK_EQ(l.threads, 4);
    CHECK_EQ(l.busy, 6);
    CHECK_EQ(l.free, 1);
    pyw_board_leave(b, 1, 101);             /* draining: not counted */
    pyw_board_load(b, 2, &l);
    CHECK_EQ(l.processes, 1);
    CHECK_EQ(l.free, 0);
    pyw_board_load(b, 0, &l);               /* outside n */
    CHECK_EQ(l.threads, 0);
    pyw_board_destroy(b);
}

/* What Apache's connection cache asks of one connection's daemon. */
static void test_room_of_a_pid(void)
{
    pyw_board_t *b = new_board();
    int index = -1;

    CHECK_EQ(pyw_board_room(NULL, 2, 100, &index), PYW_BOARD_NO_ROOM);
    CHECK_EQ(pyw_board_room(b, 2, 100, &index), PYW_BOARD_NO_ROOM);
    pyw_board_join(b, 1, 100, 2);
    CHECK_EQ(pyw_board_room(b, 2, 100, &index), 2);
    CHECK_EQ(index, 1);                     /* found, and remembered */
    pyw_board_set_busy(b, 1, 100, 3);
    CHECK_EQ(pyw_board_room(b, 2, 100, &index), -1);    /* one queued */
    pyw_board_set_busy(b, 1, 100, 1);
    pyw_board_set_fresh(b, 1, 100, 1);
    CHECK_EQ(pyw_board_room(b, 2, 100, &index), 0);     /* reserved */
    index = 0;                              /* a wrong hint is corrected */
    CHECK_EQ(pyw_board_room(b, 2, 100, &index), 0);
    CHECK_EQ(index, 1);
    CHECK_EQ(pyw_board_room(b, 1, 100, &index), PYW_BOARD_NO_ROOM);
    pyw_board_leave(b, 1, 100);             /* draining */
    CHECK_EQ(pyw_board_room(b, 2, 100, &index), PYW_BOARD_NO_ROOM);
    pyw_board_join(b, 1, 101, 2);           /* a successor in its slot */
    CHECK_EQ(pyw_board_room(b, 2, 100, &index), PYW_BOARD_NO_ROOM);
    pyw_board_destroy(b);
}

static void test_claims(void)
{
    pyw_board_t *b = new_board();
    uint16_t id[PYW_BOARD_CLAIMS + 1], late;
    int i;
    int64_t stale;

    CHECK_EQ(pyw_board_claims(b, 1000), 0);
    id[0] = pyw_board_claim(b, 1000);
    CHECK(id[0] != 0);
    CHECK_EQ(pyw_board_claims(b, 1001), 1);
    pyw_board_unclaim(b, id[0]);
    CHECK_EQ(pyw_board_claims(b, 1001), 0);
    pyw_board_unclaim(b, id[0]);                    /* twice: harmless */
    pyw_board_unclaim(b, 0);                        /* no claim */
    for (i = 0; i < PYW_BOARD_CLAIMS; i++) {
        id[i] = pyw_board_claim(b, 2000);
        CHECK(id[i] != 0);
    }
    CHECK_EQ(pyw_board_claim(b, 2000), 0);          /* all held */
    CHECK_EQ(pyw_board_claims(b, 2000), PYW_BOARD_CLAIMS);
    /* Each id names its own claim. */
    pyw_board_unclaim(b, id[7]);
    CHECK_EQ(pyw_board_claims(b, 2000), PYW_BOARD_CLAIMS - 1);
    CHECK(pyw_board_claim(b, 2001) != 0);
    /* A claim nobody gave back expires and its slot is taken again; the
     * late give-back leaves the new claim alone. */
    stale = 2001 + PYW_BOARD_CLAIM_TTL_MS;
    CHECK_EQ(pyw_board_claims(b, stale), 0);
    late = id[0];
    id[0] = pyw_board_claim(b, stale);
    CHECK(id[0] != 0 && id[0] != late);
    pyw_board_unclaim(b, late);
    CHECK_EQ(pyw_board_claims(b, stale), 1);
    pyw_board_unclaim(b, id[0]);
    CHECK_EQ(pyw_board_claims(b, stale), 0);
    CHECK_EQ(pyw_board_claim(NULL, 1), 0);
    CHECK_EQ(pyw_board_claims(NULL, 1), 0);
    pyw_board_unclaim(NULL, id[0]);
    pyw_board_destroy(b);
}

/* The word changes when a worker may have come free, only then. */
static void test_wake_word(void)
{
    pyw_board_t *b = new_board();
    pyw_board_t *one[1] = { b };
    uint32_t w;

    w = pyw_board_wake_word(b);
    pyw_board_join(b, 0, 100, 2);                   /* new workers */
    CHECK(pyw_board_wake_word(b) != w);
    w = pyw_board_wake_word(b);
    pyw_board_set_busy(b, 0, 100, 2);               /* taken: no change */
    CHECK_EQ(pyw_board_wake_word(b), w);
    pyw_board_set_busy(b, 0, 100, 1);               /* one freed */
    CHECK(pyw_board_wake_word(b) != w);
    w = pyw_board_wake_word(b);
    pyw_board_set_busy(b, 0, 999, 0);               /* not its slot */
    CHECK_EQ(pyw_board_wake_word(b), w);
    pyw_board_unclaim(b, pyw_board_claim(b, 5000)); /* claim given back */
    CHECK(pyw_board_wake_word(b) != w);
    /* A word that moved already: no sleep.  One that did not: the
     * timeout. */
    CHECK_EQ(pyw_board_wait_any(one, &w, 1, 1000000), 0);
    w = pyw_board_wake_word(b);
    CHECK_EQ(pyw_board_wait_any(one, &w, 1, 20000), 1);
    CHECK_EQ(pyw_board_wake_word(NULL), 0);
    pyw_board_freed(NULL);
    pyw_board_sleepers(NULL, 1);
    pyw_board_destroy(b);
}

/* A process asleep on two boards (as Apache's first waiter at a
 * balancer) wakes when the other process frees a worker on the second,
 * long before its timeout. */
static void test_wake_across_processes(void)
{
    pyw_board_t *b[2] = { new_board(), new_board() };
    uint32_t w[2];
    double t0;
    pid_t pid;
    int status;

    pyw_board_join(b[1], 0, 100, 1);
    pyw_board_set_busy(b[1], 0, 100, 1);
    pyw_board_sleepers(b[0], 1);
    pyw_board_sleepers(b[1], 1);
    w[0] = pyw_board_wake_word(b[0]);
    w[1] = pyw_board_wake_word(b[1]);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        usleep(100000);
        pyw_board_set_busy(b[1], 0, 100, 0);
        _exit(0);
    }
    t0 = unit_now_s();
    CHECK_EQ(pyw_board_wait_any(b, w, 2, 5000000), 0);
    CHECK(unit_now_s() - t0 < 2.0);
    CHECK(waitpid(pid, &status, 0) == pid && status == 0);
    pyw_board_destroy(b[0]);
    pyw_board_destroy(b[1]);
}

int main(void)
{
    test_wake_word();
    test_wake_across_processes();
    test_claims();
    test_room_of_a_pid();
    test_load_for_the_balancer();
    test_size_and_seals();
    test_room();
    test_successor_keeps_the_slot();
    test_shared_through_the_fd();
    test_start_up_news();
    test_failing_group();
    return UNIT_DONE();
}

/*
 * test_inflight.c - the per-group count of requests held by Apache's
 * children: rows claimed and given back, totals across processes, a
 * crashed child's row freed by the parent, and no overshoot when many
 * threads race for the last place.
 */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "pyw_inflight.h"

static void test_rows_and_totals(void)
{
    pyw_inflight_t *t = pyw_inflight_create(4);
    int a, b;

    CHECK(t != NULL);
    CHECK(pyw_inflight_rows(t) >= 4);
    a = pyw_inflight_claim(t, 100);
    b = pyw_inflight_claim(t, 200);
    CHECK(a >= 0 && b >= 0 && a != b);
    CHECK_EQ(pyw_inflight_enter(t, a), 1);
    CHECK_EQ(pyw_inflight_enter(t, b), 2);
    CHECK_EQ(pyw_inflight_enter(t, b), 3);
    CHECK_EQ(pyw_inflight_enter(t, -1), 4);     /* no row: seen only */
    CHECK_EQ(pyw_inflight_total(t), 3);
    pyw_inflight_leave(t, b);
    pyw_inflight_leave(t, -1);
    CHECK_EQ(pyw_inflight_total(t), 2);
    pyw_inflight_release(t, b, 999);            /* not its row: kept */
    CHECK_EQ(pyw_inflight_total(t), 2);
    pyw_inflight_release(t, b, 200);
    CHECK_EQ(pyw_inflight_total(t), 1);
    CHECK_EQ(pyw_inflight_claim(t, 300), b);    /* free again, from 0 */
    CHECK_EQ(pyw_inflight_total(t), 1);
    CHECK_EQ(pyw_inflight_rows(NULL), 0);
    CHECK_EQ(pyw_inflight_total(NULL), 0);
    pyw_inflight_destroy(t);
}

static void test_full_table(void)
{
    pyw_inflight_t *t = pyw_inflight_create(1);
    int i, n = pyw_inflight_rows(t);

    for (i = 0; i < n; i++) {
        CHECK(pyw_inflight_claim(t, 1000 + i) >= 0);
    }
    CHECK_EQ(pyw_inflight_claim(t, 5), -1);
    pyw_inflight_destroy(t);
}

static void test_forget_frees_the_row_of_a_dead_child(void)
{
    pyw_inflight_t *t = pyw_inflight_create(4);
    int a = pyw_inflight_claim(t, 7), b = pyw_inflight_claim(t, 8);
    pid_t child;
    int st;

    pyw_inflight_enter(t, a);
    pyw_inflight_enter(t, a);
    pyw_inflight_enter(t, b);
    CHECK_EQ(pyw_inflight_forget(t, 7), 1);
    CHECK_EQ(pyw_inflight_forget(t, 7), 0);
    CHECK_EQ(pyw_inflight_forget(t, 0), 0);
    CHECK_EQ(pyw_inflight_total(t), 1);
    CHECK_EQ(pyw_inflight_claim(t, 9), a);
    pyw_inflight_release(t, a, 9);
    pyw_inflight_release(t, b, 8);

    /* A real process counts two requests and dies holding them. */
    child = fork();
    if (child == 0) {
        int row = pyw_inflight_claim(t, getpid());

        pyw_inflight_enter(t, row);
        pyw_inflight_enter(t, row);
        raise(SIGKILL);
    }
    CHECK(child > 0);
    waitpid(child, &st, 0);
    CHECK(WIFSIGNALED(st));
    CHECK_EQ(pyw_inflight_total(t), 2);         /* the parent sees them */
    CHECK_EQ(pyw_inflight_forget(t, child), 1);
    CHECK_EQ(pyw_inflight_total(t), 0);
    pyw_inflight_destroy(t);
}

static int alive_even(pid_t pid)
{
    return pid % 2 == 0;
}

static void test_sweep_frees_the_rows_of_the_gone(void)
{
    pyw_inflight_t *t = pyw_inflight_create(4);
    int odd = pyw_inflight_claim(t, 11), even = pyw_inflight_claim(t, 12);

    pyw_inflight_enter(t, odd);
    pyw_inflight_enter(t, even);
    pyw_inflight_enter(t, even);
    CHECK_EQ(pyw_inflight_sweep(t, alive_even), 1);
    CHECK_EQ(pyw_inflight_sweep(t, alive_even), 0);
    CHECK_EQ(pyw_inflight_total(t), 2);
    CHECK_EQ(pyw_inflight_claim(t, 13), odd);
    CHECK_EQ(pyw_inflight_sweep(NULL, alive_even), 0);
    pyw_inflight_destroy(t);
}

/* 8 threads of each of 4 processes race 2,000 times each for 5 places:
 * never more than 5 are let in at once. */
#define RACE_LIMIT 5
static pyw_inflight_t *race_t;
static int race_row;
static int32_t *race_in;        /* shared: let in now, and the most */
static int32_t *race_peak;

static void *race_thread(void *arg)
{
    int32_t in, peak;
    int i;

    (void)arg;
    for (i = 0; i < 2000; i++) {
        if (pyw_inflight_enter(race_t, race_row) <= RACE_LIMIT) {
            in = __atomic_add_fetch(race_in, 1, __ATOMIC_SEQ_CST);
            peak = __atomic_load_n(race_peak, __ATOMIC_RELAXED);
            while (in > peak && !__atomic_compare_exchange_n(
                       race_peak, &peak, in, 0, __ATOMIC_RELAXED,
                       __ATOMIC_RELAXED)) {
            }
            __atomic_sub_fetch(race_in, 1, __ATOMIC_SEQ_CST);
        }
        pyw_inflight_leave(race_t, race_row);
    }
    return NULL;
}

static void test_no_overshoot_under_races(void)
{
    int32_t *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
                           MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    pid_t kids[4];
    int k, i, st, ok = 1;

    CHECK(shared != MAP_FAILED);
    race_in = &shared[0];
    race_peak = &shared[1];
    race_t = pyw_inflight_create(8);
    for (k = 0; k < 4; k++) {
        if ((kids[k] = fork()) == 0) {
            pthread_t th[8];

            race_row = pyw_inflight_claim(race_t, getpid());
            for (i = 0; i < 8; i++) {
                pthread_create(&th[i], NULL, race_thread, NULL);
            }
            for (i = 0; i < 8; i++) {
                pthread_join(th[i], NULL);
            }
            _exit(race_row >= 0 ? 0 : 1);
        }
    }
    for (k = 0; k < 4; k++) {
        waitpid(kids[k], &st, 0);
        ok &= WIFEXITED(st) && WEXITSTATUS(st) == 0;
    }
    CHECK(ok);
    CHECK(*race_peak >= 1 && *race_peak <= RACE_LIMIT);
    CHECK_EQ(*race_in, 0);
    CHECK_EQ(pyw_inflight_total(race_t), 0);
    pyw_inflight_destroy(race_t);
    munmap(shared, 4096);
}

int main(void)
{
    test_rows_and_totals();
    test_full_table();
    test_forget_frees_the_row_of_a_dead_child();
    test_sweep_frees_the_rows_of_the_gone();
    test_no_overshoot_under_races();
    return UNIT_DONE();
}

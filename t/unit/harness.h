/*
 * harness.h - minimal check/report macros for the t/unit C tests.
 *
 * A failed check prints file:line and the expression, and the test goes
 * on; UNIT_DONE() prints "unit: N passed, M failed" and is the value main
 * returns (non-zero when anything failed).
 */
#ifndef PYW_UNIT_HARNESS_H
#define PYW_UNIT_HARNESS_H

#include <stdio.h>
#include <string.h>
#include <time.h>

static int unit_passed, unit_failed;

static int unit_check(int ok, const char *file, int line, const char *expr)
{
    if (ok) {
        unit_passed++;
    }
    else {
        unit_failed++;
        fprintf(stderr, "FAIL %s:%d: %s\n", file, line, expr);
    }
    return ok;
}

/* Monotonic seconds, for tests that check a wait ended early. */
static inline double unit_now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

#define CHECK(cond) unit_check(!!(cond), __FILE__, __LINE__, #cond)

#define CHECK_EQ(a, b) do { \
    long long a_ = (long long)(a), b_ = (long long)(b); \
    if (!unit_check(a_ == b_, __FILE__, __LINE__, #a " == " #b)) \
        fprintf(stderr, "     got %lld, expected %lld\n", a_, b_); \
} while (0)

#define CHECK_STR(a, b) do { \
    const char *a_ = (a), *b_ = (b); \
    if (!unit_check(a_ && b_ && strcmp(a_, b_) == 0, __FILE__, __LINE__, \
                    #a " == " #b)) \
        fprintf(stderr, "     got \"%s\", expected \"%s\"\n", \
                a_ ? a_ : "(null)", b_ ? b_ : "(null)"); \
} while (0)

#define UNIT_DONE() \
    (printf("unit: %d passed, %d failed\n", unit_passed, unit_failed), \
     unit_failed != 0)

#endif /* PYW_UNIT_HARNESS_H */

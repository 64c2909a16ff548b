/*
 * pyw_dfds.c - the daemon's own descriptors, closed in a forked child
 * (see pyw_dfds.h).  A bitmap set and cleared with atomics: the poller
 * adds connections while workers run Python code that may fork.  A
 * descriptor above DFDS_MAX is not tracked (the child keeps it).
 */
#include <stdint.h>
#include <unistd.h>

#include "pyw_dfds.h"

#define DFDS_MAX   PYW_DFDS_MAX
#define DFDS_WORDS (DFDS_MAX / 64)

static uint64_t dfds[DFDS_WORDS];

void pyw_dfds_add(int fd)
{
    if (fd >= 0 && fd < DFDS_MAX) {
        __atomic_fetch_or(&dfds[fd / 64], (uint64_t)1 << (fd % 64),
                          __ATOMIC_RELAXED);
    }
}

void pyw_dfds_remove(int fd)
{
    if (fd >= 0 && fd < DFDS_MAX) {
        __atomic_fetch_and(&dfds[fd / 64], ~((uint64_t)1 << (fd % 64)),
                           __ATOMIC_RELAXED);
    }
}

int pyw_dfds_has(int fd)
{
    return fd >= 0 && fd < DFDS_MAX
           && (__atomic_load_n(&dfds[fd / 64], __ATOMIC_RELAXED)
               >> (fd % 64) & 1);
}

void pyw_dfds_close_all(void)
{
    int w, b;

    for (w = 0; w < DFDS_WORDS; w++) {
        uint64_t bits = __atomic_load_n(&dfds[w], __ATOMIC_RELAXED);

        for (b = 0; bits != 0; b++, bits >>= 1) {
            if (bits & 1) {
                close(w * 64 + b);
            }
        }
        dfds[w] = 0;
    }
}

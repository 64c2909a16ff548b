/*
 * pyw_resources.c - cpu-priority, virtual-memory-limit,
 * supplementary-groups and python-eggs of a daemon process.
 */
#include <errno.h>
#include <malloc.h>
#include <grp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "pyw_dlog.h"
#include "pyw_dlogno.h"
#include "pyw_resources.h"

static void resources_fail(const char *what, int err)
    __attribute__((noreturn));

/* A limit the operator asked for and did not get: do not run without
 * it (a daemon with no memory ceiling is not what was configured). */
static void resources_fail(const char *what, int err)
{
    pyw_dlog(PYW_LOG_CRIT, PYW_LOG_RESOURCES, NULL, "%s: %s; exiting",
             what, strerror(err));
    _exit(PYW_DAEMON_EXIT_STARTUP_FAILED);
}

#define RESOURCES_ARENAS_UNDER_LIMIT 2

void pyw_resources_apply(const pyw_daemon_spec_t *spec)
{
    struct rlimit rl;

    /* A nicer or less nice daemon still serves: warn only. */
    if (spec->cpu_priority != PYW_PRIORITY_KEEP
        && setpriority(PRIO_PROCESS, 0, spec->cpu_priority) < 0) {
        pyw_dlog(PYW_LOG_WARNING, PYW_LOG_RESOURCES, NULL,
                 "cpu-priority=%d: setpriority() failed: %s",
                 spec->cpu_priority, strerror(errno));
    }
    if (spec->virtual_memory_limit > 0) {
        /* glibc reserves 64 MiB of address space per thread's malloc
         * arena: an idle 15-thread daemon took 1 GB of the limit, and a
         * request of 100 MB got MemoryError under 1G.  Few arenas leave
         * the limit to what is really allocated. */
        mallopt(M_ARENA_MAX, RESOURCES_ARENAS_UNDER_LIMIT);
        setenv("MALLOC_ARENA_MAX", "2", 1);     /* the same after exec */
        rl.rlim_cur = rl.rlim_max = (rlim_t)spec->virtual_memory_limit;
        if (setrlimit(RLIMIT_AS, &rl) < 0) {
            resources_fail("virtual-memory-limit: setrlimit(RLIMIT_AS)",
                           errno);
        }
    }
    if (spec->n_supplementary_gids > 0 && !spec->drop_privileges) {
        pyw_dlog(PYW_LOG_WARNING, PYW_LOG_RESOURCES, NULL,
                 "supplementary-groups needs Apache started as root; "
                 "ignored");
    }
    if (spec->python_eggs != NULL) {
        setenv("PYTHON_EGG_CACHE", spec->python_eggs, 1);
    }
}

int pyw_resources_add_groups(const pyw_daemon_spec_t *spec)
{
    int n, i, j, max;
    gid_t *all;

    if (spec->n_supplementary_gids <= 0) {
        return 0;
    }
    if ((n = getgroups(0, NULL)) < 0) {
        return -errno;
    }
    max = n + spec->n_supplementary_gids;
    if ((all = calloc((size_t)max, sizeof(gid_t))) == NULL) {
        return -ENOMEM;
    }
    if ((n = getgroups(n, all)) < 0) {
        n = -errno;
        free(all);
        return n;
    }
    for (i = 0; i < spec->n_supplementary_gids; i++) {
        for (j = 0; j < n && all[j] != spec->supplementary_gids[i]; j++) {
        }
        if (j == n) {
            all[n++] = spec->supplementary_gids[i];
        }
    }
    i = setgroups((size_t)n, all) < 0 ? -errno : 0;
    free(all);
    return i;
}

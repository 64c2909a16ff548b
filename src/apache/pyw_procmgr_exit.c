/*
 * pyw_procmgr_exit.c - how each daemon ended, exactly, in words: its
 * keeper reports the kernel's own wait status (pyw_keeper.c), where the
 * MPM's maintenance callback would pass only the keeper's exit status.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apr_file_info.h"
#include "apr_hash.h"
#include "apr_portable.h"
#include "apr_signal.h"
#include "apr_strings.h"
#include "apr_thread_proc.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "ap_mpm.h"
#include "mpm_common.h"
#include "unixd.h"

#include "pyw_config.h"
#include "pyw_log.h"
#include "pyw_pm.h"
#include "pyw_procmgr.h"
#include "../common/pyw_board.h"
#include "../common/pyw_metrics.h"
#include "../common/pyw_wboard.h"
#include "../common/pyw_spec.h"
#include "pyw_procmgr_int.h"

/* ---- the parent's SIGCHLD ----
 *
 * A handler, even one that does nothing of its own, is what makes a
 * child's death cut the MPM's one-second sleep short, so that a keeper
 * or the waker (pyw_waker.c) is reaped, and its callback run, at once;
 * ignored by default, SIGCHLD would not.  Installed per generation and
 * removed in the pconf cleanup, before this DSO is unloaded.
 */
static struct sigaction pyw_chld_prev;
static int pyw_chld_installed;

static void pyw_chld_handler(int sig, siginfo_t *si, void *uc)
{
    if (pyw_chld_prev.sa_flags & SA_SIGINFO) {
        pyw_chld_prev.sa_sigaction(sig, si, uc);
    }
    else if (pyw_chld_prev.sa_handler != SIG_DFL
             && pyw_chld_prev.sa_handler != SIG_IGN) {
        pyw_chld_prev.sa_handler(sig);
    }
}

void pyw_chld_install(void)
{
    struct sigaction sa;

    if (pyw_chld_installed) {
        return;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = pyw_chld_handler;
    sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&sa.sa_mask);
    pyw_chld_installed = sigaction(SIGCHLD, &sa, &pyw_chld_prev) == 0;
}

void pyw_chld_uninstall(void)
{
    if (pyw_chld_installed) {
        sigaction(SIGCHLD, &pyw_chld_prev, NULL);
        pyw_chld_installed = 0;
    }
}

/* A raw waitpid() status as words. */
void pyw_wait_format(int st, char *buf, size_t len)
{
    if (WIFEXITED(st)) {
        snprintf(buf, len, "exit status %d", WEXITSTATUS(st));
    }
    else {
        snprintf(buf, len, "killed by signal %d (%s)%s", WTERMSIG(st),
                 apr_signal_description_get(WTERMSIG(st)),
                 WCOREDUMP(st) ? ", core dumped" : "");
    }
}

/* Cause of a death the MPM reported for p's keeper, as words, and
 * PYW_DEATH_* flags. */
int pyw_pm_death_cause(pyw_proc_t *p, int reason, apr_wait_t status,
                       char *buf, size_t len)
{
    int st, value;

    if (!pyw_keeper_report(&p->keeper, &st)) {
        /* The keeper itself was killed: the daemon, if it was alive,
         * got its parent-death signal and stops on its own. */
        if (reason == APR_OC_REASON_LOST) {
            snprintf(buf, len, "lost (reaped elsewhere, cause unknown)");
        }
        else {
            snprintf(buf, len, "its keeper process ended before it "
                     "(status or signal %d), cause unknown", (int)status);
        }
        return 0;
    }
    pyw_wait_format(st, buf, len);
    if (!WIFEXITED(st)) {
        return 0;
    }
    value = WEXITSTATUS(st);
    if (value == PYW_DAEMON_EXIT_STARTUP_FAILED) {
        return PYW_DEATH_NOT_STARTED;
    }
    return value == 0 ? PYW_DEATH_CLEAN : 0;
}

const char *pyw_pm_why_text(pyw_why_e why)
{
    switch (why) {
    case PYW_WHY_RECYCLE:      return "it asked to be replaced: a limit was "
                                      "reached, or a preload failed";
    case PYW_WHY_ROLLING:      return "rolling restart of its group";
    case PYW_WHY_GRACEFUL:     return "Apache restarted gracefully";
    case PYW_WHY_UNCONFIGURED: return "its group or process slot is no "
                                      "longer configured";
    case PYW_WHY_STALE:        return "it was still starting when Apache "
                                      "restarted";
    case PYW_WHY_APACHE_STOP:  return "Apache is stopping or restarting";
    case PYW_WHY_IDLE:         return "its group had no request for "
                                      "idle-timeout";
    case PYW_WHY_SIGNAL:       return "it asked to be replaced: a SIGTERM "
                                      "or SIGUSR1 was sent to it";
    default:                   return "stopped";
    }
}

/*
 * pyw_procmgr_exit.c - how each daemon ended, exactly: a SIGCHLD handler
 * in the parent keeps the kernel's own report per pid, which the MPM's
 * maintenance callback does not pass on, and turns it into words.
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

/* ---- exact exit causes ----
 *
 * The MPM reaps our daemons and passes the maintenance callback only
 * WEXITSTATUS or WTERMSIG, without saying which (nor "core dumped").  A
 * SIGCHLD handler in the parent records the kernel's own report per pid;
 * it only stores integers.  Installed per generation and removed in the
 * pconf cleanup, before this DSO is unloaded.
 */
static struct {
    volatile sig_atomic_t pid, code, status;
} pyw_chld_ring[PYW_CHLD_RING];
static volatile sig_atomic_t pyw_chld_next;
static struct sigaction pyw_chld_prev;
static int pyw_chld_installed;

static void pyw_chld_handler(int sig, siginfo_t *si, void *uc)
{
    int i = pyw_chld_next;

    pyw_chld_next = (i + 1) % PYW_CHLD_RING;
    pyw_chld_ring[i].pid = si->si_pid;
    pyw_chld_ring[i].code = si->si_code;
    pyw_chld_ring[i].status = si->si_status;
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

/* The newest record for pid, consumed; 0 if none (signals coalesce). */
static int pyw_chld_take(pid_t pid, int *code, int *status)
{
    int i, n;

    for (n = 1; n <= PYW_CHLD_RING; n++) {
        i = (pyw_chld_next - n + PYW_CHLD_RING) % PYW_CHLD_RING;
        if (pyw_chld_ring[i].pid == pid) {
            *code = pyw_chld_ring[i].code;
            *status = pyw_chld_ring[i].status;
            pyw_chld_ring[i].pid = 0;
            return 1;
        }
    }
    return 0;
}

/* how: CLD_EXITED / CLD_KILLED / CLD_DUMPED, or 0 when unknown which. */
static void pyw_exit_format(int how, int value, char *buf, size_t len)
{
    if (how == CLD_EXITED) {
        snprintf(buf, len, "exit status %d", value);
    }
    else if (how == CLD_KILLED || how == CLD_DUMPED) {
        snprintf(buf, len, "killed by signal %d (%s)%s", value,
                 apr_signal_description_get(value),
                 how == CLD_DUMPED ? ", core dumped" : "");
    }
    else if (value > 0 && value < NSIG
             && value != PYW_DAEMON_EXIT_STARTUP_FAILED) {
        snprintf(buf, len, "exit status %d or signal %d (%s)", value, value,
                 apr_signal_description_get(value));
    }
    else {
        pyw_exit_format(CLD_EXITED, value, buf, len);
    }
}

/* A raw waitpid() status, from our own reaping. */
void pyw_wait_format(int st, char *buf, size_t len)
{
    if (WIFEXITED(st)) {
        pyw_exit_format(CLD_EXITED, WEXITSTATUS(st), buf, len);
    }
    else {
        pyw_exit_format(WCOREDUMP(st) ? CLD_DUMPED : CLD_KILLED,
                        WTERMSIG(st), buf, len);
    }
}

/* Cause of a death the MPM reported, as words, and PYW_DEATH_* flags. */
int pyw_pm_death_cause(pid_t pid, int reason, apr_wait_t status,
                       char *buf, size_t len)
{
    int code, value;

    if (reason == APR_OC_REASON_LOST) {
        snprintf(buf, len, "lost (reaped elsewhere, cause unknown)");
        return 0;
    }
    if (!pyw_chld_take(pid, &code, &value)) {
        /* Only the value: exit status or signal, the MPM does not say. */
        code = 0;
        value = status;
    }
    pyw_exit_format(code, value, buf, len);
    if (code != 0 && code != CLD_EXITED) {
        return 0;
    }
    if (value == PYW_DAEMON_EXIT_STARTUP_FAILED) {
        return PYW_DEATH_NOT_STARTED;
    }
    return value == 0 ? PYW_DEATH_CLEAN : 0;
}

const char *pyw_pm_why_text(pyw_why_e why)
{
    switch (why) {
    case PYW_WHY_RECYCLE:      return "it asked to be replaced: a limit was "
                                      "reached";
    case PYW_WHY_ROLLING:      return "rolling restart of its group";
    case PYW_WHY_GRACEFUL:     return "Apache restarted gracefully";
    case PYW_WHY_UNCONFIGURED: return "its group or process slot is no "
                                      "longer configured";
    case PYW_WHY_STALE:        return "it was still starting when Apache "
                                      "restarted";
    case PYW_WHY_APACHE_STOP:  return "Apache is stopping or restarting";
    case PYW_WHY_IDLE:         return "its group had no request for "
                                      "idle-timeout";
    default:                   return "stopped";
    }
}

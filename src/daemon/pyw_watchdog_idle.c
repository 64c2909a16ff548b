/*
 * pyw_watchdog_idle.c - what the watchdog does about a daemon with no
 * request: give the C heap's free memory back once per idle spell, and
 * tell the parent IDLE after idle-timeout (ACTIVE when a request comes).
 */
#include <malloc.h>

#include "pyw_dlog.h"
#include "pyw_dlogno.h"
#include "pyw_status.h"
#include "pyw_watchdog_int.h"
#include "pyw_workers.h"

#define WD_TRIM_IDLE_MS   1000

/* ---- the C heap: trimmed once per idle spell ---- */

/* Once per idle spell of WD_TRIM_IDLE_MS: give the C heap's free memory
 * back to the kernel.  glibc keeps what a burst of large bodies or many
 * connections freed in each worker thread's arena; left there it counts
 * against memory-limit and looks like a leak in top. */
void pyw_watchdog_trim_when_idle(int64_t now)
{
    int64_t since = pyw_workers_idle_since();

    if (since == 0 || since == pyw_wd.trimmed_for
        || now - since < WD_TRIM_IDLE_MS) {
        return;
    }
    pyw_wd.trimmed_for = since;
    malloc_trim(0);
}

/* ---- idle-timeout: the parent stops the group ---- */

/*
 * Not a limit: the daemon asks for no replacement.  It tells the parent
 * IDLE once it had no request for idle-timeout (counted from its start
 * if it never had one, plus the quiet it inherited, PYW_STATUS_QUIET), and ACTIVE when a request comes after that; the
 * parent stops the whole group once all its processes are idle
 * (pyw_demand.c).  A request that slips in between is served anyway:
 * the stop is graceful.  Without a status pipe nothing happens.
 */
void pyw_watchdog_check_idle(int64_t now)
{
    int64_t since;

    if (pyw_wd.idle_timeout <= 0 || pyw_wd.recycling) {
        return;
    }
    if (!pyw_workers_quiet(&since)) {
        since = 0;              /* busy now */
    }
    else if (since == 0) {
        /* No request yet: quiet since its start, or since its slot's
         * last request when it replaced a process for inactivity. */
        since = pyw_wd.quiet_since;
    }
    if (pyw_wd.idle_said != 0 && since != pyw_wd.idle_said) {
        pyw_wd.idle_said = 0;
        if (pyw_status_idle(0) == 1) {
            pyw_dlog(PYW_LOG_DEBUG, PYW_LOG_IDLE, NULL, "a request came "
                     "after idle-timeout; told the parent");
        }
    }
    if (since == 0 || pyw_wd.idle_said != 0
        || now - since < pyw_wd.idle_timeout) {
        return;
    }
    pyw_wd.idle_said = since;
    if (pyw_status_idle(1) == 1) {
        pyw_dlog(PYW_LOG_INFO, PYW_LOG_IDLE, NULL, "idle-timeout reached: "
                 "no request for %.1f s (limit %g s); told the parent, "
                 "which stops the group once all its processes are idle",
                 (double)(now - since) / 1000.0,
                 (double)pyw_wd.idle_timeout / 1000.0);
    }
}

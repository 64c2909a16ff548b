/*
 * pyw_script_reload.c - PyWorkerScriptReloading: has a loaded script's
 * file changed on disk?  The first change is logged and becomes one
 * rolling restart request to the parent; this process serves the code
 * it loaded until it is replaced.
 */
#include "pyw_python.h"

#include <stdint.h>
#include <sys/stat.h>

#include "../common/pyw_io.h"
#include "../daemon/pyw_daemon.h"
#include "../daemon/pyw_dlog.h"
#include "../daemon/pyw_status.h"
#include "pyw_script.h"
#include "pyw_script_int.h"

/* Log code of this file (README.md lists them all). */
#define SCRIPT_LOG_CHANGED         333  /* notice: file changed: rolling
                                           restart asked for          */

/* Script reloading looks at a file at most this often. */
#define SCRIPT_CHECK_INTERVAL_MS   1000

static int script_reloading_on;             /* set once at start       */

void pyw_script_reloading(int on)
{
    script_reloading_on = on;
}

int pyw_script_file_changed(const char *path, const struct timespec *mtime,
                            dev_t dev, ino_t ino)
{
    struct stat st;
    int rv;

    Py_BEGIN_ALLOW_THREADS
    rv = stat(path, &st);
    Py_END_ALLOW_THREADS
    return rv == 0 && (st.st_mtim.tv_sec != mtime->tv_sec
                       || st.st_mtim.tv_nsec != mtime->tv_nsec
                       || st.st_dev != dev || st.st_ino != ino);
}

/*
 * Script reloading, GIL held: has e's file changed since it was loaded?
 * The first change is logged and turned into one rolling restart request;
 * this process goes on with the code it has (replacements load the new
 * file, so every process of the group changes over without a gap).
 */
void pyw_script_check_changed(script_entry_t *e, const char *uri,
                              int reloading)
{
    int64_t now = pyw_io_now_ms();

    if (reloading < 0) {
        reloading = script_reloading_on;
    }
    if (!reloading || e->changed || e->module == NULL
        || now - e->checked_ms < SCRIPT_CHECK_INTERVAL_MS) {
        return;
    }
    e->checked_ms = now;        /* before the GIL goes: one look a second */
    if (!pyw_script_file_changed(e->path, &e->mtime, e->dev, e->ino)) {
        return;
    }
    e->changed = 1;
    pyw_dlog(PYW_LOG_NOTICE, SCRIPT_LOG_CHANGED, uri,
             "WSGI script %s changed on disk: asking for a rolling restart "
             "of the group; this process serves the code it loaded until "
             "it is replaced", e->path);
    pyw_status_send(PYW_STATUS_ROLLING);
}


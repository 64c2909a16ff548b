/*
 * pyw_main.c - the daemon program: main() of the process that the Apache
 * parent starts with fork + exec for each daemon of a group.
 *
 * It reads its spec and maps the group's boards (pyw_spec_fds.c), and
 * runs the daemon with Python.  Python runs in the group's own Python
 * executable when this program's extension module is beside it (the
 * daemon execs into it once the steps before Python are done: see
 * pyw_hosted.c); then the spec and boards cross that exec and are read
 * there again.  Otherwise Python is embedded here.  Either way both are
 * closed before anything of the application runs.  Run by hand, it says
 * what it is and exits.
 */
#include <stdio.h>
#include <unistd.h>

#include "../daemon/pyw_daemon.h"
#include "pyw_hosted.h"
#include "pyw_python_app.h"
#include "pyw_spec_fds.h"

int main(int argc, char **argv)
{
    pyw_daemon_spec_t spec;
    char *encoded;               /* kept: the spec's strings live in it */

    if (!pyw_spec_fds_present()) {
        fprintf(stderr, "%s: a mod_pyworker daemon program; Apache starts "
                "it for each daemon process of a PyWorkerDaemonProcess "
                "group. It is not run by hand.\n", argv[0]);
        return 2;
    }
    /* No spec, no group; unless this daemon has no display-name: then
     * the parent's argv is "program group" (pyw_exec.c). */
    if (pyw_spec_fds_load(&spec, &encoded, argv[0],
                          argc == 2 ? argv[1] : NULL) < 0) {
        return PYW_DAEMON_EXIT_STARTUP_FAILED;
    }
    spec.hosted_ext = pyw_hosted_prepare(argc, argv);
    if (spec.hosted_ext == NULL) {
        pyw_spec_fds_close();
    }
    pyw_daemon_main(&spec, &pyw_python_app);
}

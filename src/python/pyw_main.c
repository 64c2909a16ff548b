/*
 * pyw_main.c - the daemon program: main() of the process that the Apache
 * parent starts with fork + exec for each daemon of a group.
 *
 * It reads its spec from the memfd at PYW_EXEC_SPEC_FD, maps the group's
 * load board and worker board, and runs the daemon with the embedded Python.  Both spec
 * and board descriptors are closed before anything of the application
 * runs.  Run by hand, it says what it is and exits.
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "../common/pyw_board.h"
#include "../common/pyw_wboard.h"
#include "../daemon/pyw_daemon.h"
#include "../daemon/pyw_dlog.h"
#include "../daemon/pyw_dlogno.h"
#include "pyw_python_app.h"

static int fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

int main(int argc, char **argv)
{
    pyw_daemon_spec_t spec;
    char msg[256], *encoded;     /* kept: the spec's strings live in it */

    if (!fd_is_open(PYW_EXEC_SPEC_FD) || !fd_is_open(PYW_EXEC_LISTEN_FD)) {
        fprintf(stderr, "%s: a mod_pyworker daemon program; Apache starts "
                "it for each daemon process of a PyWorkerDaemonProcess "
                "group. It is not run by hand.\n", argv[0]);
        return 2;
    }
    if (pyw_spec_read_fd(PYW_EXEC_SPEC_FD, &encoded, &spec, msg,
                         sizeof(msg)) < 0) {
        /* No spec, no group; unless this daemon has no display-name:
         * then the parent's argv is "program group" (pyw_exec.c). */
        pyw_dlog_init(argc == 2 ? argv[1] : NULL, STDERR_FILENO,
                      PYW_LOG_WARNING);
        pyw_dlog(PYW_LOG_CRIT, PYW_LOG_SPEC, NULL, "daemon program %s: %s",
                 argv[0], msg);
        return PYW_DAEMON_EXIT_STARTUP_FAILED;
    }
    close(PYW_EXEC_SPEC_FD);
    spec.listen_fd = PYW_EXEC_LISTEN_FD;
    spec.status_fd = fd_is_open(PYW_EXEC_STATUS_FD) ? PYW_EXEC_STATUS_FD
                                                    : -1;
    spec.log_fd = STDERR_FILENO;
    if (fd_is_open(PYW_EXEC_BOARD_FD)) {
        spec.board = pyw_board_map(PYW_EXEC_BOARD_FD);
        close(PYW_EXEC_BOARD_FD);
    }
    if (fd_is_open(PYW_EXEC_WBOARD_FD)) {
        spec.wboard = pyw_wboard_map(PYW_EXEC_WBOARD_FD, spec.processes,
                                     spec.threads, 1);
        close(PYW_EXEC_WBOARD_FD);
    }
    pyw_daemon_main(&spec, &pyw_python_app);
}

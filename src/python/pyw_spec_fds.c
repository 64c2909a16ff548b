/*
 * pyw_spec_fds.c - read what the Apache parent hands a daemon program at
 * exec (pyw_spec_fds.h).  main() reads it, and the daemon reads it again
 * after its exec into the group's Python executable (pyw_hosted.c).
 */
#include <fcntl.h>
#include <unistd.h>

#include "../common/pyw_board.h"
#include "../common/pyw_wboard.h"
#include "../daemon/pyw_daemon.h"
#include "../daemon/pyw_dlog.h"
#include "../daemon/pyw_dlogno.h"
#include "pyw_spec_fds.h"

static int fd_is_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

int pyw_spec_fds_present(void)
{
    return fd_is_open(PYW_EXEC_SPEC_FD) && fd_is_open(PYW_EXEC_LISTEN_FD);
}

int pyw_spec_fds_load(pyw_daemon_spec_t *spec, char **encoded,
                      const char *program, const char *group)
{
    char msg[256];

    if (pyw_spec_read_fd(PYW_EXEC_SPEC_FD, encoded, spec, msg,
                         sizeof(msg)) < 0) {
        pyw_dlog_init(group, STDERR_FILENO, PYW_LOG_WARNING, NULL, NULL);
        pyw_dlog(PYW_LOG_CRIT, PYW_LOG_SPEC, NULL, "daemon program %s: %s",
                 program, msg);
        return -1;
    }
    spec->listen_fd = PYW_EXEC_LISTEN_FD;
    spec->status_fd = fd_is_open(PYW_EXEC_STATUS_FD) ? PYW_EXEC_STATUS_FD
                                                     : -1;
    spec->log_fd = STDERR_FILENO;
    spec->hosted_ext = NULL;
    if (fd_is_open(PYW_EXEC_BOARD_FD)) {
        spec->board = pyw_board_map(PYW_EXEC_BOARD_FD);
    }
    if (fd_is_open(PYW_EXEC_WBOARD_FD)) {
        spec->wboard = pyw_wboard_map(PYW_EXEC_WBOARD_FD, spec->processes
                                      * PYW_WBOARD_LANES, spec->threads, 1);
    }
    return 0;
}

void pyw_spec_fds_close(void)
{
    close(PYW_EXEC_SPEC_FD);
    close(PYW_EXEC_BOARD_FD);
    close(PYW_EXEC_WBOARD_FD);
}

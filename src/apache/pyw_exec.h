/*
 * pyw_exec.h - turn a forked child of the Apache parent into a daemon
 * process: the daemon program, its spec and its descriptors (pyw_exec.c).
 */
#ifndef PYW_EXEC_H
#define PYW_EXEC_H

#include "apr_pools.h"

#include "../common/pyw_spec.h"

/* In the child after fork(): exec `program` with spec (whose listen_fd,
 * status_fd and log_fd are the parent's numbers), the group's load board
 * and its worker board (-1: none).  `title` is argv[0] (NULL: the program, then the group).
 * Never returns: a failure is logged and the child exits with
 * PYW_DAEMON_EXIT_STARTUP_FAILED, which the parent backs off from, once
 * the spec's startup_delay_ms has passed. */
void pyw_exec_daemon(apr_pool_t *p, const pyw_daemon_spec_t *spec,
                     const char *program, const char *title, int board_fd,
                     int wboard_fd)
    __attribute__((noreturn));

#endif /* PYW_EXEC_H */

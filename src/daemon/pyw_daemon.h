/*
 * pyw_daemon.h - the daemon process: the entry point that never returns.
 *
 * What the Apache parent hands over is the spec (../common/pyw_spec.h),
 * read back after exec by the daemon program's main().
 */
#ifndef PYW_DAEMON_H
#define PYW_DAEMON_H

#include <stdint.h>
#include <sys/types.h>

#include "../common/pyw_spec.h"

/* Run the daemon.  Never returns: exits with a PYW_DAEMON_EXIT_* code. */
void pyw_daemon_main(const pyw_daemon_spec_t *spec)
    __attribute__((noreturn));

#endif /* PYW_DAEMON_H */

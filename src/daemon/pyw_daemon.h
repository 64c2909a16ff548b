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

/* The application the daemon serves (struct pyw_app in pyw_app.h). */
typedef struct pyw_app pyw_app_t;

/* Run the daemon, serving app.  Never returns: exits with a
 * PYW_DAEMON_EXIT_* code. */
void pyw_daemon_main(const pyw_daemon_spec_t *spec, const pyw_app_t *app)
    __attribute__((noreturn));
/* 1 once a stop signal came (a handler counted it). */
int pyw_daemon_stop_asked(void);
/* A graceful stop the daemon's own code asks for (its socket is gone, no
 * status pipe to ask for a successor): SIGTERM with PYW_RETIRE_SELF,
 * never taken for one the application or a person sent. */
void pyw_daemon_stop_self(void);

void pyw_daemon_main_hosted(const pyw_daemon_spec_t *spec,
                            const pyw_app_t *app) __attribute__((noreturn));

#endif /* PYW_DAEMON_H */

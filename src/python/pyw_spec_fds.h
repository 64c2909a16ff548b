/*
 * pyw_spec_fds.h - what the Apache parent hands a daemon program at
 * exec, at fixed descriptors (pyw_spec.h): the spec, the listening
 * socket, the status pipe, the group's boards.
 */
#ifndef PYW_SPEC_FDS_H
#define PYW_SPEC_FDS_H

#include "../common/pyw_spec.h"

/* 1 if the parent handed this process a spec and a listening socket (a
 * daemon program run by hand has neither). */
int pyw_spec_fds_present(void);

/* Read the spec (its strings stay in *encoded) and map the boards; the
 * descriptors stay open.  group names the group in a failure's log line
 * when the spec cannot say.  0, or -1 logged. */
int pyw_spec_fds_load(pyw_daemon_spec_t *spec, char **encoded,
                      const char *program, const char *group);

/* Close the spec's and boards' descriptors: nothing of the application
 * may see them. */
void pyw_spec_fds_close(void);

#endif /* PYW_SPEC_FDS_H */

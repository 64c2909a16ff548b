/*
 * pyw_resources.h - process settings of a daemon that mod_wsgi users
 * set on WSGIDaemonProcess: cpu-priority, virtual-memory-limit,
 * supplementary-groups and python-eggs.  (stack-size is applied where
 * the worker threads start, the socket buffer sizes where connections
 * are accepted.)
 */
#ifndef PYW_RESOURCES_H
#define PYW_RESOURCES_H

#include "pyw_daemon.h"

/* Before privileges are dropped: a negative nice value needs root.
 * Exits the daemon (start-up failure) if a limit cannot be set. */
void pyw_resources_apply(const pyw_daemon_spec_t *spec);

/* Right after initgroups(): add supplementary-groups to the user's.
 * 0, or -errno. */
int pyw_resources_add_groups(const pyw_daemon_spec_t *spec);

#endif /* PYW_RESOURCES_H */

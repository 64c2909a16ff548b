/*
 * pyw_appgroup.h - application group names (Apache side): what the
 * directives accept, and the name each request resolves to.
 *
 * An application group is one Python interpreter in the daemon: %{GLOBAL}
 * (the default) is the main interpreter and resolves to "", any other
 * name is a sub-interpreter the daemon creates on first use.  The forms
 * are mod_wsgi's:
 *
 *   %{GLOBAL}     ""
 *   %{SERVER}     ServerName, plus ":port" unless the port is 80 or 443
 *   %{HOST}       the Host header's name (ServerName without one), plus
 *                 ":port" likewise
 *   %{RESOURCE}   %{SERVER} + "|" + SCRIPT_NAME
 *   %{ENV:NAME}   the request's environment variable NAME (SetEnv,
 *                 SetEnvIf, RewriteRule [E=]); a value that is itself
 *                 one of the forms above is expanded once; unset: the
 *                 text "%{ENV:NAME}" itself, as mod_wsgi
 *   anything else the literal name
 *
 * The daemon receives the resolved name as mod_pyworker.application_group
 * (the third REQUEST pair).
 */
#ifndef PYW_APPGROUP_H
#define PYW_APPGROUP_H

#include "httpd.h"

/* Longest resolved name a daemon is sent (longer: 500 + PYW0108). */
#define PYW_APP_GROUP_MAX  255

/* The one %{GLOBAL} string: configurations hold this pointer, so a
 * request in the main interpreter resolves with one comparison. */
extern const char pyw_app_group_global[];

/*
 * Check a directive's value and normalize it: "" and "%{GLOBAL}" become
 * pyw_app_group_global.  A %{...} form must be one of those above;
 * import (PyWorkerImportScript, no request) also refuses %{HOST},
 * %{RESOURCE} and %{ENV:...}.  NULL, or the message (from p).
 */
const char *pyw_app_group_check(apr_pool_t *p, const char *directive,
                                const char **value, int import);

/* 1 if value (checked) resolves per request: %{HOST}, %{RESOURCE},
 * %{ENV:...}; such a group cannot be preloaded. */
int pyw_app_group_per_request(const char *value);

/* PyWorkerImportScript's value for the server s it was written in:
 * %{SERVER} resolved with s's ServerName and port.  From p. */
const char *pyw_app_group_for_server(apr_pool_t *p, server_rec *s,
                                     const char *value);

/*
 * The name r's request runs in: "" for %{GLOBAL}.  NULL when the
 * resolved name cannot be sent (longer than PYW_APP_GROUP_MAX, or a
 * control character), with *bad set to it for the log line.
 */
const char *pyw_app_group_resolve(request_rec *r, const char *value,
                                  const char **bad);

#endif /* PYW_APPGROUP_H */

/*
 * pyw_appgroup.c - application group names: checked at configuration,
 * resolved per request (see pyw_appgroup.h for the forms).
 *
 * The resolution follows mod_wsgi's (wsgi_application_group), with one
 * difference: %{ENV:NAME} reads only the request's environment
 * (r->subprocess_env), not r->notes nor the Apache process's own
 * environment, which a tenant's .htaccess must not be able to read into
 * its application's environ.
 */
#include <string.h>

#include "apr_lib.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_core.h"
#include "ap_listen.h"
#include "util_script.h"

#include "pyw_appgroup.h"

const char pyw_app_group_global[] = "%{GLOBAL}";

#define ENV_PREFIX      "%{ENV:"
#define ENV_PREFIX_LEN  (sizeof(ENV_PREFIX) - 1)

typedef enum {
    FORM_LITERAL,
    FORM_GLOBAL,
    FORM_SERVER,
    FORM_HOST,
    FORM_RESOURCE,
    FORM_ENV,
    FORM_UNKNOWN            /* "%{...}" of no known kind */
} appgroup_form_e;

static appgroup_form_e appgroup_form(const char *v)
{
    size_t len;

    if (v[0] != '%' || v[1] != '{') {
        return FORM_LITERAL;
    }
    if (strcmp(v, pyw_app_group_global) == 0) {
        return FORM_GLOBAL;
    }
    if (strcmp(v, "%{SERVER}") == 0) {
        return FORM_SERVER;
    }
    if (strcmp(v, "%{HOST}") == 0) {
        return FORM_HOST;
    }
    if (strcmp(v, "%{RESOURCE}") == 0) {
        return FORM_RESOURCE;
    }
    len = strlen(v);
    if (strncmp(v, ENV_PREFIX, ENV_PREFIX_LEN) == 0
        && len > ENV_PREFIX_LEN + 1 && v[len - 1] == '}') {
        return FORM_ENV;
    }
    return FORM_UNKNOWN;
}

/* A name the daemon can be sent and log: short, no control characters. */
static int appgroup_sendable(const char *name)
{
    const char *c;

    for (c = name; *c; c++) {
        if (apr_iscntrl(*c)) {
            return 0;
        }
    }
    return c - name <= PYW_APP_GROUP_MAX;
}

const char *pyw_app_group_check(apr_pool_t *p, const char *directive,
                                const char **value, int import)
{
    appgroup_form_e form = appgroup_form(*value);

    if (**value == '\0' || form == FORM_GLOBAL) {
        *value = pyw_app_group_global;
        return NULL;
    }
    if (form == FORM_UNKNOWN) {
        return apr_psprintf(p, "%s: application group '%s': unknown form; "
                            "use %%{GLOBAL}, %%{SERVER}, %%{HOST}, "
                            "%%{RESOURCE}, %%{ENV:NAME} or a name",
                            directive, *value);
    }
    if (import && (form == FORM_HOST || form == FORM_RESOURCE
                   || form == FORM_ENV)) {
        return apr_psprintf(p, "%s: application group '%s' needs a "
                            "request; an import script runs at daemon "
                            "start: use %%{GLOBAL}, %%{SERVER} or a name",
                            directive, *value);
    }
    if (form == FORM_LITERAL && !appgroup_sendable(*value)) {
        return apr_psprintf(p, "%s: application group name '%s' is "
                            "longer than %d bytes or has control "
                            "characters", directive, *value,
                            PYW_APP_GROUP_MAX);
    }
    return NULL;
}

int pyw_app_group_per_request(const char *value)
{
    appgroup_form_e form = appgroup_form(value);

    return form == FORM_HOST || form == FORM_RESOURCE || form == FORM_ENV;
}

/* "host" or "host:port"; 80 and 443 (and 0: unknown) are left out. */
static const char *appgroup_host_port(apr_pool_t *p, const char *host,
                                      apr_port_t port)
{
    if (host == NULL) {
        host = "";
    }
    if (port == 0 || port == DEFAULT_HTTP_PORT || port == DEFAULT_HTTPS_PORT) {
        return host;
    }
    return apr_psprintf(p, "%s:%u", host, (unsigned)port);
}

/* %{SERVER}'s port: ServerName's, else the one requests arrive on --
 * never the Host header's, which the client chooses (under
 * UseCanonicalName Off ap_get_server_port() returns it, and each port a
 * client sent was an interpreter of its own: 64 filled the daemon). */
static apr_port_t appgroup_server_port(request_rec *r)
{
    return r->server->port ? r->server->port
           : r->connection->local_addr ? r->connection->local_addr->port
           : 0;
}

/* The same without a request (PyWorkerImportScript): the vhost's port,
 * else the first Listen's, where the main server's requests arrive. */
const char *pyw_app_group_for_server(apr_pool_t *p, server_rec *s,
                                     const char *value)
{
    apr_port_t port;

    if (value == pyw_app_group_global || appgroup_form(value) != FORM_SERVER) {
        return value == pyw_app_group_global ? "" : value;
    }
    port = s->port ? s->port
           : s->addrs && s->addrs->host_port ? s->addrs->host_port
           : ap_listeners && ap_listeners->bind_addr
             ? ap_listeners->bind_addr->port : 0;
    return appgroup_host_port(p, s->server_hostname, port);
}

/* SCRIPT_NAME as mod_wsgi computes it: the URI without PATH_INFO, with
 * runs of slashes made one. */
static const char *appgroup_script_name(request_rec *r)
{
    char *name;

    if (r->path_info == NULL || r->path_info[0] == '\0') {
        name = apr_pstrdup(r->pool, r->uri);
    }
    else {
        name = apr_pstrndup(r->pool, r->uri,
                            ap_find_path_info(r->uri, r->path_info));
    }
    if (strstr(name, "//") != NULL) {
        ap_no2slash(name);
    }
    return name;
}

/* One form, for r.  ENV values are expanded here only when expand is
 * set (once: a value naming another %{ENV:...} stays literal). */
static const char *appgroup_expand(request_rec *r, const char *v,
                                   int expand)
{
    const char *host, *name;

    switch (appgroup_form(v)) {
    case FORM_GLOBAL:
        return "";
    case FORM_SERVER:
        return appgroup_host_port(r->pool, r->server->server_hostname,
                                  appgroup_server_port(r));
    case FORM_HOST:
        host = r->hostname && *r->hostname ? r->hostname
                                           : r->server->server_hostname;
        /* The client chooses it all (README), the port as mod_wsgi has it. */
        return appgroup_host_port(r->pool, host, ap_get_server_port(r));
    case FORM_RESOURCE:
        return apr_pstrcat(r->pool,
                           appgroup_host_port(r->pool,
                                              r->server->server_hostname,
                                              appgroup_server_port(r)),
                           "|", appgroup_script_name(r), NULL);
    case FORM_ENV:
        if (!expand) {
            return v;
        }
        name = apr_pstrndup(r->pool, v + ENV_PREFIX_LEN,
                            strlen(v) - ENV_PREFIX_LEN - 1);
        if ((name = apr_table_get(r->subprocess_env, name)) == NULL) {
            return v;                   /* unset: the text, as mod_wsgi */
        }
        return appgroup_expand(r, name, 0);
    default:
        return v;
    }
}

const char *pyw_app_group_resolve(request_rec *r, const char *value,
                                  const char **bad)
{
    const char *name;

    if (value == pyw_app_group_global) {
        return "";
    }
    if (value[0] != '%') {
        return value;               /* checked at configuration */
    }
    name = appgroup_expand(r, value, 1);
    if (!appgroup_sendable(name)) {
        *bad = name;
        return NULL;
    }
    return name;
}

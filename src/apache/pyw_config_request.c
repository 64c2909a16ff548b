/*
 * pyw_config_request.c - the configuration as one request sees it:
 * translate_name maps a URL to its PyWorkerScriptAlias (or
 * PyWorkerPasteApp), and the getters give the settings in force for the
 * request (the matched alias's option, else the directory's directive).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "http_request.h"

#include "pyw_appgroup.h"
#include "pyw_config_int.h"
#include "pyw_log.h"

/* ---- translate_name ---- */

/* The index of the alias a URL matched, in r->notes. */
#define PYW_ALIAS_NOTE  "mod_pyworker-alias"

/*
 * Length of the part of uri that a prefix alias matches, or -1.  As
 * mod_alias's Alias: a '/' in the alias matches one or more in the uri,
 * and the match ends at a segment boundary ("/app" takes "/app" and
 * "/app/x", not "/apple").  Trailing slashes are left to PATH_INFO, so
 * SCRIPT_NAME never ends in '/' and the alias "/" gives SCRIPT_NAME "".
 */
static apr_ssize_t pyw_alias_prefix_len(const char *uri, const char *alias)
{
    const char *u = uri, *a = alias;

    while (*a != '\0') {
        if (*a == '/') {
            if (*u != '/') {
                return -1;
            }
            while (*a == '/') {
                a++;
            }
            while (*u == '/') {
                u++;
            }
        }
        else if (*u++ != *a++) {
            return -1;
        }
    }
    if (a[-1] != '/' && *u != '\0' && *u != '/') {
        return -1;
    }
    while (u > uri && u[-1] == '/') {
        u--;
    }
    return u - uri;
}

/* Regex alias: -1 no match, -2 substitution failed (logged). */
static apr_ssize_t pyw_alias_regex_len(request_rec *r, const pyw_alias_t *a,
                                       const char **script)
{
    ap_regmatch_t m[AP_MAX_REG_MATCH];
    apr_ssize_t len;

    if (ap_regexec(a->regex, r->uri, AP_MAX_REG_MATCH, m, 0) != 0) {
        return -1;
    }
    *script = ap_pregsub(r->pool, a->script, r->uri, AP_MAX_REG_MATCH, m);
    if (*script == NULL) {
        PYW_RLOG(APLOG_ERR, 0, r, 4, a->process_group, 0L,
                 "PyWorkerScriptAliasMatch %s: cannot substitute into %s",
                 a->uri, a->script);
        return -2;
    }
    for (len = m[0].rm_eo; len > 0 && r->uri[len - 1] == '/'; len--) {
    }
    return len;
}

/*
 * The core's map_to_storage still runs after us: its directory walk
 * applies <Directory>/<Files> (e.g. "Require all granted" on the script's
 * directory, as mod_wsgi users write) and keeps the path_info set here.
 * ap_add_cgi_vars() then gives SCRIPT_NAME = uri minus PATH_INFO.
 */
int pyw_config_translate(request_rec *r)
{
    pyw_server_conf_t *sc;
    const pyw_alias_t *a;
    const char *script;
    apr_ssize_t len = -1;
    int i;

    if (r->uri == NULL || r->uri[0] != '/' || r->proxyreq) {
        return DECLINED;
    }
    sc = ap_get_module_config(r->server->module_config, &pyworker_module);
    for (i = 0; i < sc->aliases->nelts && len == -1; i++) {
        a = &((const pyw_alias_t *)sc->aliases->elts)[i];
        script = a->script;
        len = a->regex ? pyw_alias_regex_len(r, a, &script)
                       : pyw_alias_prefix_len(r->uri, a->uri);
    }
    if (len == -1) {
        return DECLINED;
    }
    if (len < 0) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    r->filename = apr_pstrdup(r->pool, script);
    r->path_info = apr_pstrdup(r->pool, r->uri + len);
    r->handler = PYW_HANDLER_NAME;
    apr_table_setn(r->notes, "alias-forced-type", r->handler);
    ap_set_module_config(r->request_config, &pyworker_module, (void *)a);
    /* A subrequest's alias also as a note: mod_dir's DirectoryIndex
     * (ap_internal_fast_redirect) copies a subrequest's notes into the
     * request it serves, not its request_config, and the alias's options
     * would be lost. */
    if (r->main != NULL) {
        apr_table_setn(r->notes, PYW_ALIAS_NOTE, apr_itoa(r->pool, i - 1));
    }
    return OK;
}

/* request_config of a request that matched no alias, once looked at. */
static const pyw_alias_t pyw_no_alias;

const pyw_alias_t *pyw_config_request_alias(request_rec *r)
{
    const pyw_alias_t *a = ap_get_module_config(r->request_config,
                                                &pyworker_module);
    const pyw_server_conf_t *sc;
    const char *note;
    int i;

    if (a != NULL) {
        return a != &pyw_no_alias ? a : NULL;
    }
    sc = ap_get_module_config(r->server->module_config, &pyworker_module);
    note = apr_table_get(r->notes, PYW_ALIAS_NOTE);
    i = note != NULL ? atoi(note) : -1;
    a = i >= 0 && i < sc->aliases->nelts
        ? &((const pyw_alias_t *)sc->aliases->elts)[i] : &pyw_no_alias;
    ap_set_module_config(r->request_config, &pyworker_module, (void *)a);
    return a != &pyw_no_alias ? a : NULL;
}

/* A string setting for r: the matched alias's option, else the directory
 * configuration's directive, else dflt.  Offsets into pyw_alias_t and
 * pyw_dir_conf_t. */
static const char *pyw_config_string(request_rec *r, size_t alias_off,
                                     size_t dir_off, const char *dflt)
{
    const pyw_alias_t *a = pyw_config_request_alias(r);
    const pyw_dir_conf_t *d;
    const char *v;

    if (a != NULL
        && (v = *(const char *const *)((const char *)a + alias_off))
           != NULL) {
        return v;
    }
    d = ap_get_module_config(r->per_dir_config, &pyworker_module);
    if (d != NULL
        && (v = *(const char *const *)((const char *)d + dir_off))
           != NULL) {
        return v;
    }
    return dflt;
}

int pyw_config_group_allowed(request_rec *r, const char *group,
                             const char **allowed)
{
    const pyw_dir_conf_t *d = ap_get_module_config(r->per_dir_config,
                                                   &pyworker_module);
    const char *const *names;
    int i;

    if (d == NULL || d->restrict_process == NULL) {
        return 1;
    }
    names = (const char *const *)d->restrict_process->elts;
    for (i = 0; i < d->restrict_process->nelts; i++) {
        if (strcmp(names[i], group) == 0) {
            return 1;
        }
    }
    *allowed = apr_array_pstrcat(r->pool, d->restrict_process, ' ');
    return 0;
}

const char *pyw_config_process_group(request_rec *r)
{
    return pyw_config_string(r, offsetof(pyw_alias_t, process_group),
                             offsetof(pyw_dir_conf_t, process_group), NULL);
}

const char *pyw_config_application_group(request_rec *r, const char *dflt)
{
    return pyw_config_string(r, offsetof(pyw_alias_t, application_group),
                             offsetof(pyw_dir_conf_t, application_group),
                             dflt);
}

const char *pyw_config_callable_object(request_rec *r, const char *dflt)
{
    return pyw_config_string(r, offsetof(pyw_alias_t, callable_object),
                             offsetof(pyw_dir_conf_t, callable_object),
                             dflt);
}

int pyw_config_pass_authorization(request_rec *r)
{
    const pyw_alias_t *a = pyw_config_request_alias(r);
    const pyw_dir_conf_t *d;

    if (a != NULL && a->pass_authorization != PYW_UNSET) {
        return a->pass_authorization;
    }
    d = ap_get_module_config(r->per_dir_config, &pyworker_module);
    return d != NULL && d->pass_authorization == 1;
}

int pyw_config_error_override(request_rec *r)
{
    const pyw_dir_conf_t *d = ap_get_module_config(r->per_dir_config,
                                                   &pyworker_module);

    return d != NULL && d->error_override == 1;
}

int pyw_config_map_head(request_rec *r)
{
    const pyw_dir_conf_t *d = ap_get_module_config(r->per_dir_config,
                                                   &pyworker_module);

    return d == NULL || d->map_head == PYW_UNSET ? PYW_MAP_HEAD_AUTO
                                                 : d->map_head;
}

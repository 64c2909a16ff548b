/*
 * pyw_config_registry.c - the daemon-group registry: every
 * PyWorkerDaemonProcess by name, the references to groups that the other
 * directives note while the configuration is read, and the checks of
 * those references once it is all read (check_config, configtest too).
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "apr_hash.h"
#include "apr_strings.h"
#include "apr_tables.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "../common/pyw_spec.h"
#include "pyw_appgroup.h"
#include "pyw_config_int.h"
#include "pyw_log.h"

pyw_globals_t pyw_globals;

static apr_array_header_t *pyw_refs;        /* pyw_group_ref_t */
static apr_hash_t *pyw_group_where;         /* name -> "file:line" */

pyw_group_ref_t *pyw_note_ref(cmd_parms *cmd, const char *group,
                              const char *what,
                              const char *import_script)
{
    pyw_group_ref_t *ref = apr_array_push(pyw_refs);

    ref->group = group;
    ref->server = cmd->server;
    ref->where = apr_psprintf(cmd->pool, "%s %s (%s)", cmd->cmd->name, what,
                              pyw_cmd_where(cmd));
    ref->import_script = import_script;
    ref->import_app_group = NULL;
    ref->import_mode = NULL;
    ref->any_host = 0;
    return ref;
}

/* "file:line" of the group's PyWorkerDaemonProcess, NULL if none yet. */
const char *pyw_config_group_where(const char *name, const char **as)
{
    pyw_group_t **gs = (pyw_group_t **)pyw_globals.groups->elts;
    int i;

    for (i = 0; i < pyw_globals.groups->nelts; i++) {
        if (strcasecmp(gs[i]->name, name) == 0) {
            *as = gs[i]->name;
            return apr_hash_get(pyw_group_where, gs[i]->name,
                                APR_HASH_KEY_STRING);
        }
    }
    return NULL;
}

void pyw_config_add_group(cmd_parms *cmd, pyw_group_t *g)
{
    *(pyw_group_t **)apr_array_push(pyw_globals.groups) = g;
    apr_hash_set(pyw_globals.groups_by_name, g->name, APR_HASH_KEY_STRING, g);
    apr_hash_set(pyw_group_where, g->name, APR_HASH_KEY_STRING,
                 pyw_cmd_where(cmd));
}

/* ---- registry ---- */

pyw_group_t *pyw_config_find_group(const char *name)
{
    if (name == NULL || pyw_globals.groups_by_name == NULL) {
        return NULL;
    }
    return apr_hash_get(pyw_globals.groups_by_name, name,
                        APR_HASH_KEY_STRING);
}

int pyw_config_group_visible(const pyw_group_t *g, server_rec *s)
{
    if (!g->server->is_virtual || g->server == s) {
        return 1;
    }
    return g->server->server_hostname != NULL && s->server_hostname != NULL
           && strcasecmp(g->server->server_hostname, s->server_hostname) == 0;
}

/* Two import modes load the same thing: both scripts (whether a
 * failure is fatal aside), or the same application of a paste file. */
static int pyw_import_same(const char *a, const char *b)
{
    return strchr(a, ':') != NULL || strchr(b, ':') != NULL
           ? strcmp(a, b) == 0 : 1;
}

/* An entry for the group's daemons to load at start, once: the same
 * file, application and group named again (an import script and its
 * alias, two aliases) is loaded once, as mod_wsgi does, and a
 * PyWorkerImportScript among them keeps its failure fatal. */
static void pyw_group_add_import(pyw_group_t *g, const char *path,
                                 const char *app_group, const char *mode)
{
    const char **paths = (const char **)g->import_scripts->elts;
    const char **groups = (const char **)g->import_app_groups->elts;
    const char **modes = (const char **)g->import_modes->elts;
    int i;

    for (i = 0; i < g->import_scripts->nelts; i++) {
        if (strcmp(paths[i], path) == 0 && strcmp(groups[i], app_group) == 0
            && pyw_import_same(modes[i], mode)) {
            if (strcmp(mode, PYW_IMPORT_SCRIPT) == 0) {
                modes[i] = PYW_IMPORT_SCRIPT;
            }
            return;
        }
    }
    *(const char **)apr_array_push(g->import_scripts) = path;
    *(const char **)apr_array_push(g->import_app_groups) = app_group;
    *(const char **)apr_array_push(g->import_modes) = mode;
}

/* The group's own application (script=, paste=) is loaded at start
 * too, so that a restart has no gap for the balancer's requests. */
static void pyw_group_preload_own_app(pyw_group_t *g)
{
    apr_pool_t *p = g->import_modes->pool;

    if (g->app_file == NULL) {
        return;
    }
    pyw_group_add_import(g, g->app_file, g->app_group_name,
                         g->app_paste_name == NULL ? PYW_IMPORT_PRELOAD
                         : apr_pstrcat(p, PYW_IMPORT_PASTE,
                                       g->app_paste_name, NULL));
}

static int pyw_check_ref(server_rec *s, const pyw_group_ref_t *ref)
{
    pyw_group_t *g = pyw_config_find_group(ref->group);

    if (g == NULL) {
        PYW_SLOG(APLOG_ERR, 0, s, 2, ref->group, 0L, "%s: process group "
                 "'%s' is not defined by any PyWorkerDaemonProcess",
                 ref->where, ref->group);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!ref->any_host && !pyw_config_group_visible(g, ref->server)) {
        PYW_SLOG(APLOG_ERR, 0, s, 3, ref->group, 0L, "%s: process group "
                 "'%s' is defined in another virtual host (%s)", ref->where,
                 ref->group, (const char *)apr_hash_get(pyw_group_where,
                 ref->group, APR_HASH_KEY_STRING));
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (ref->import_script != NULL) {
        pyw_group_add_import(g, ref->import_script,
                             pyw_app_group_for_server(
                                 g->import_app_groups->pool, ref->server,
                                 ref->import_app_group),
                             ref->import_mode ? ref->import_mode
                                              : PYW_IMPORT_SCRIPT);
    }
    return OK;
}

int pyw_config_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                          apr_pool_t *ptemp)
{
    memset(&pyw_globals, 0, sizeof(pyw_globals));
    pyw_globals.groups = apr_array_make(pconf, 4, sizeof(pyw_group_t *));
    pyw_globals.groups_by_name = apr_hash_make(pconf);
    pyw_refs = apr_array_make(pconf, 8, sizeof(pyw_group_ref_t));
    pyw_group_where = apr_hash_make(pconf);
    return OK;
}

/* <prefix>.<pid>.<group>.sock (pyw_procmgr_sock.c) must fit a Unix
 * socket's address, with room for a pid of 7 digits (pid_max is at most
 * 4194304): else Apache would fail at start, or at a graceful restart. */
static int pyw_check_socket_path(server_rec *s, const pyw_group_t *g)
{
    size_t len = strlen(pyw_globals.socket_prefix) + strlen(".4194304.")
                 + strlen(g->name) + strlen(".sock");
    size_t room = sizeof(((struct sockaddr_un *)NULL)->sun_path) - 1;

    if (len <= room) {
        return OK;
    }
    PYW_SLOG(APLOG_ERR, 0, s, 8, g->name, 0L, "the group's socket, "
             "%s.<pid>.%s.sock, would be %" APR_SIZE_T_FMT " bytes long; a "
             "Unix socket's path holds %" APR_SIZE_T_FMT ": shorten "
             "PyWorkerSocketPrefix or the group's name",
             pyw_globals.socket_prefix, g->name, len, room);
    return HTTP_INTERNAL_SERVER_ERROR;
}

/* The sockets' directory (made at start if missing, with its parents)
 * must be one Apache can write, or can make: a prefix under a file
 * (/etc/passwd/pyw) passed configtest, and the graceful restart that
 * read it took all of Apache down. */
static int pyw_check_socket_dir(server_rec *s, apr_pool_t *ptemp)
{
    char *dir = apr_pstrdup(ptemp, pyw_globals.socket_prefix), *slash;
    struct stat st;

    while ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
        *slash = '\0';
        if (stat(dir, &st) == 0) {
            if (S_ISDIR(st.st_mode) && access(dir, W_OK | X_OK) == 0) {
                return OK;
            }
            PYW_SLOG(APLOG_ERR, S_ISDIR(st.st_mode) ? errno : 0, s, 8,
                     NULL, 0L, "PyWorkerSocketPrefix %s: %s %s",
                     pyw_globals.socket_prefix, dir,
                     S_ISDIR(st.st_mode) ? "cannot be written"
                                         : "is not a directory");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (errno != ENOENT) {
            break;              /* not ours to judge: start says why */
        }
    }
    return OK;
}

int pyw_config_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp, server_rec *s)
{
    pyw_group_t **groups = (pyw_group_t **)pyw_globals.groups->elts;
    pyw_group_ref_t *refs = (pyw_group_ref_t *)pyw_refs->elts;
    int i, rc = OK;

    if (pyw_globals.socket_prefix == NULL) {
        pyw_globals.socket_prefix = ap_runtime_dir_relative(pconf,
                                                            "pyworker");
    }
    if (pyw_globals.groups->nelts > 0
        && pyw_check_socket_dir(s, ptemp) != OK) {
        rc = HTTP_INTERNAL_SERVER_ERROR;
    }
    for (i = 0; i < pyw_globals.groups->nelts; i++) {
        if (pyw_group_default_ids(pconf, s, groups[i]) != OK
            || pyw_check_socket_path(s, groups[i]) != OK) {
            rc = HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    for (i = 0; i < pyw_refs->nelts; i++) {
        if (pyw_check_ref(s, &refs[i]) != OK) {
            rc = HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    for (i = 0; i < pyw_globals.groups->nelts; i++) {
        pyw_group_preload_own_app(groups[i]);
    }
    return rc;
}

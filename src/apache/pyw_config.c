/*
 * pyw_config.c - the module's configuration records: create and merge of
 * the per-server and per-directory configurations, the command table
 * (whose handlers live in pyw_config_group.c, pyw_config_alias.c and
 * pyw_config_dir.c) and the configuration hooks.
 *
 * Lifetimes: everything here lives in pconf.  Apache reads the whole
 * configuration again into a fresh pconf at every restart (graceful or
 * not), so pre_config resets the registry and the directives rebuild it
 * (pyw_config_registry.c).
 *
 * Whatever one directive cannot check alone - an alias or import script
 * naming a group defined further down, or the default user (User may come
 * after the group) - is checked in check_config.  That hook also runs for
 * "apachectl configtest", so every configuration error fails configtest.
 */
#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_request.h"

#include "pyw_config.h"
#include "pyw_config_int.h"

/* ---- create / merge ---- */

void *pyw_config_create_server(apr_pool_t *p, server_rec *s)
{
    pyw_server_conf_t *sc = apr_pcalloc(p, sizeof(*sc));

    sc->aliases = apr_array_make(p, 2, sizeof(pyw_alias_t));
    return sc;
}

/* A vhost's aliases come first, then the main server's (as mod_alias). */
void *pyw_config_merge_server(apr_pool_t *p, void *basev, void *addv)
{
    pyw_server_conf_t *base = basev, *add = addv;
    pyw_server_conf_t *sc = apr_pcalloc(p, sizeof(*sc));

    sc->aliases = apr_array_append(p, add->aliases, base->aliases);
    return sc;
}

void *pyw_config_create_dir(apr_pool_t *p, char *dir)
{
    pyw_dir_conf_t *d = apr_pcalloc(p, sizeof(*d));

    d->script_reloading = PYW_UNSET;
    d->pass_authorization = PYW_UNSET;
    d->chunked_request = PYW_UNSET;
    d->chunked_limit = PYW_UNSET;
    d->error_override = PYW_UNSET;
    d->map_head = PYW_UNSET;
    return d;
}

void *pyw_config_merge_dir(apr_pool_t *p, void *basev, void *addv)
{
    pyw_dir_conf_t *base = basev, *add = addv;
    pyw_dir_conf_t *d = apr_pcalloc(p, sizeof(*d));

    d->process_group = add->process_group ? add->process_group
                                          : base->process_group;
    d->application_group = add->application_group ? add->application_group
                                                  : base->application_group;
    d->callable_object = add->callable_object ? add->callable_object
                                              : base->callable_object;
    d->pass_authorization = add->pass_authorization != PYW_UNSET
                            ? add->pass_authorization
                            : base->pass_authorization;
    d->chunked_request = add->chunked_request != PYW_UNSET
                         ? add->chunked_request : base->chunked_request;
    d->chunked_limit = add->chunked_limit != PYW_UNSET
                       ? add->chunked_limit : base->chunked_limit;
    d->script_reloading = add->script_reloading != PYW_UNSET
                          ? add->script_reloading : base->script_reloading;
    d->error_override = add->error_override != PYW_UNSET
                        ? add->error_override : base->error_override;
    d->map_head = add->map_head != PYW_UNSET ? add->map_head
                                             : base->map_head;
    /* An inner list replaces the outer one; lists are never joined. */
    d->restrict_process = add->restrict_process ? add->restrict_process
                                                : base->restrict_process;
    return d;
}

/* ---- the command table ---- */

const command_rec pyw_config_cmds[] = {
    AP_INIT_RAW_ARGS("PyWorkerDaemonProcess", pyw_cmd_daemon_process, NULL,
        RSRC_CONF, "name [option=value ...]: define a daemon process group"),
    AP_INIT_RAW_ARGS("PyWorkerScriptAlias", pyw_cmd_script_alias, NULL,
        RSRC_CONF, "url-path file [process-group=G] "
        "[application-group=A] [callable-object=name] "
        "[pass-authorization=On|Off]"),
    AP_INIT_RAW_ARGS("PyWorkerScriptAliasMatch", pyw_cmd_script_alias,
        "match", RSRC_CONF, "regex file-with-$1 [process-group=G] "
        "[application-group=A] [callable-object=name] "
        "[pass-authorization=On|Off]"),
    AP_INIT_RAW_ARGS("PyWorkerPasteApp", pyw_cmd_paste_app, NULL,
        RSRC_CONF, "url-path file.ini[#name] [process-group=G] "
        "[application-group=%{GLOBAL}] [pass-authorization=On|Off]: the "
        "application PasteDeploy loads from the file (name: main)"),
    AP_INIT_TAKE1("PyWorkerProcessGroup", pyw_cmd_process_group, NULL,
        OR_FILEINFO | ACCESS_CONF | RSRC_CONF,
        "daemon process group for these requests"),
    AP_INIT_TAKE1("PyWorkerApplicationGroup", pyw_cmd_application_group,
        NULL, OR_FILEINFO | ACCESS_CONF | RSRC_CONF,
        "application group (interpreter): %{GLOBAL} (default), "
        "%{SERVER}, %{HOST}, %{RESOURCE}, %{ENV:NAME} or a name"),
    AP_INIT_ITERATE("PyWorkerRestrictProcess", pyw_cmd_restrict_process,
        NULL, ACCESS_CONF | RSRC_CONF, "group [group ...]: the only daemon "
        "process groups requests here may use"),
    AP_INIT_TAKE1("PyWorkerCallableObject", pyw_cmd_callable_object, NULL,
        OR_FILEINFO | ACCESS_CONF | RSRC_CONF,
        "name of the WSGI callable in the script (default application)"),
    AP_INIT_RAW_ARGS("PyWorkerImportScript", pyw_cmd_import_script, NULL,
        RSRC_CONF, "file process-group=G [application-group=A]: "
        "load a script when the group's daemons start"),
    AP_INIT_TAKE1("PyWorkerSocketPrefix", pyw_cmd_socket_prefix, NULL,
        RSRC_CONF, "path prefix of the daemon sockets (main server only)"),
    AP_INIT_FLAG("PyWorkerPassAuthorization", ap_set_flag_slot,
        (void *)APR_OFFSETOF(pyw_dir_conf_t, pass_authorization),
        OR_AUTHCFG | ACCESS_CONF | RSRC_CONF,
        "On: pass the Authorization header as HTTP_AUTHORIZATION"),
    AP_INIT_FLAG("PyWorkerScriptReloading", ap_set_flag_slot,
        (void *)APR_OFFSETOF(pyw_dir_conf_t, script_reloading),
        ACCESS_CONF | RSRC_CONF, "On (default): a changed WSGI script "
        "restarts its group's daemons one at a time; Off: ignored"),
    AP_INIT_TAKE1("PyWorkerChunkedRequest", pyw_cmd_chunked_request, NULL,
        ACCESS_CONF | RSRC_CONF, "On (default): read a chunked request "
        "body whole, then give the application CONTENT_LENGTH; Stream: "
        "pass it on as it comes (wsgi.input_terminated); Off: 411"),
    AP_INIT_TAKE1("PyWorkerChunkedRequestLimit", pyw_cmd_chunked_limit,
        NULL, ACCESS_CONF | RSRC_CONF, "bytes (K/M/G): the longest chunked "
        "request body PyWorkerChunkedRequest On reads; longer ones get 413 "
        "(default 1G)"),
    AP_INIT_FLAG("PyWorkerErrorOverride", ap_set_flag_slot,
        (void *)APR_OFFSETOF(pyw_dir_conf_t, error_override),
        OR_FILEINFO | ACCESS_CONF | RSRC_CONF, "On: an error status (400 "
        "and up) from the application gets Apache's error document "
        "(ErrorDocument) instead of the application's body"),
    AP_INIT_TAKE1("PyWorkerMapHEADToGET", pyw_cmd_map_head, NULL,
        OR_FILEINFO | ACCESS_CONF | RSRC_CONF, "Auto (default): a HEAD "
        "request reaches the application as GET when an output filter "
        "needs the body; On: always; Off: never"),
    AP_INIT_TAKE1("PyWorkerPythonHome", pyw_cmd_python,
        &pyw_globals.python_home, RSRC_CONF,
        "default python-home of every group (main server only)"),
    AP_INIT_TAKE1("PyWorkerPythonPath", pyw_cmd_python,
        &pyw_globals.python_path, RSRC_CONF,
        "default python-path (dir[:dir]) of every group (main server only)"),
    { NULL }
};

/* ---- hooks ---- */

void pyw_config_register_hooks(apr_pool_t *p)
{
    /* After mod_alias, as mod_wsgi: "Alias /static/ ..." still wins over
     * "PyWorkerScriptAlias / ...", and Redirect keeps working. */
    static const char *const pred[] = { "mod_alias.c", NULL };
    static const char *const succ[] = { "mod_userdir.c",
                                        "mod_vhost_alias.c", NULL };

    ap_hook_pre_config(pyw_config_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(pyw_config_check_config, NULL, NULL,
                         APR_HOOK_MIDDLE);
    ap_hook_translate_name(pyw_config_translate, pred, succ,
                           APR_HOOK_MIDDLE);
}

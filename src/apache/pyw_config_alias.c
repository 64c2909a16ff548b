/*
 * pyw_config_alias.c - the directives that map URLs or startup to a
 * script: PyWorkerScriptAlias, PyWorkerScriptAliasMatch, PyWorkerPasteApp
 * and PyWorkerImportScript, with their process-group=, application-group=
 * (and for aliases callable-object= and pass-authorization=) options.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"

#include "pyw_appgroup.h"
#include "pyw_config_int.h"
#include "../common/pyw_option.h"
#include "../common/pyw_spec.h"

static const pyw_option_t pyw_alias_options[] = {
    { "process-group", PYW_OPT_STRING,
      offsetof(pyw_alias_t, process_group), 0, 0 },
    { "application-group", PYW_OPT_STRING,
      offsetof(pyw_alias_t, application_group), 0, 0 },
    { "callable-object", PYW_OPT_STRING,
      offsetof(pyw_alias_t, callable_object), 0, 0 },
    { "pass-authorization", PYW_OPT_STRING,
      offsetof(pyw_alias_t, pass_auth_word), 0, 0 },
    { NULL, 0, 0, 0, 0 }
};

static const pyw_option_t pyw_paste_options[] = {
    { "process-group", PYW_OPT_STRING,
      offsetof(pyw_alias_t, process_group), 0, 0 },
    { "application-group", PYW_OPT_STRING,
      offsetof(pyw_alias_t, application_group), 0, 0 },
    { "pass-authorization", PYW_OPT_STRING,
      offsetof(pyw_alias_t, pass_auth_word), 0, 0 },
    { NULL, 0, 0, 0, 0 }
};

static const pyw_option_t pyw_import_options[] = {
    { "process-group", PYW_OPT_STRING,
      offsetof(pyw_alias_t, process_group), 0, 0 },
    { "application-group", PYW_OPT_STRING,
      offsetof(pyw_alias_t, application_group), 0, 0 },
    { NULL, 0, 0, 0, 0 }
};

/* "process-group=G application-group=A" after an alias or import script. */
static const char *pyw_parse_group_options(cmd_parms *cmd,
                                           const pyw_option_t *table,
                                           const char *args, pyw_alias_t *a)
{
    pyw_option_state_t st = { 0 };
    char msg[PYW_MSG_MAX];
    const char *err;
    char *word;

    while (*(word = pyw_next_option(cmd->pool, &args)) != '\0') {
        if (pyw_option_parse(table, &st, word, a, msg, sizeof(msg)) < 0) {
            return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, msg);
        }
    }
    if (a->process_group != NULL
        && (err = pyw_check_group_name(cmd, a->process_group)) != NULL) {
        return err;
    }
    if (a->application_group != NULL
        && (err = pyw_app_group_check(cmd->pool, cmd->cmd->name,
                                      &a->application_group,
                                      table == pyw_import_options))
           != NULL) {
        return err;
    }
    if (a->callable_object != NULL
        && (err = pyw_check_callable(cmd, a->callable_object)) != NULL) {
        return err;
    }
    a->pass_authorization = PYW_UNSET;
    if (a->pass_auth_word != NULL) {
        if (strcasecmp(a->pass_auth_word, "On") == 0) {
            a->pass_authorization = 1;
        }
        else if (strcasecmp(a->pass_auth_word, "Off") == 0) {
            a->pass_authorization = 0;
        }
        else {
            return apr_psprintf(cmd->pool, "%s: pass-authorization=%s: "
                                "use On or Off", cmd->cmd->name,
                                a->pass_auth_word);
        }
    }
    return NULL;
}

/* ---- directives ---- */

/* An alias's group is checked once the groups are known.  With both
 * process-group= and application-group= (one that needs no request),
 * its daemons load the application when they start, before they take
 * requests, as mod_wsgi does for WSGIScriptAlias: preload says how
 * (PYW_IMPORT_*), NULL where the file is known per request only. */
static void pyw_note_alias_ref(cmd_parms *cmd, const pyw_alias_t *a,
                               const char *preload)
{
    pyw_group_ref_t *ref;

    if (a->process_group == NULL) {
        return;
    }
    ref = pyw_note_ref(cmd, a->process_group, a->uri, NULL);
    if (preload != NULL && a->application_group != NULL
        && !pyw_app_group_per_request(a->application_group)) {
        ref->import_script = a->script;
        ref->import_app_group = a->application_group;
        ref->import_mode = preload;
    }
}

/* The target names a directory: it ends in '/', or is one now. */
static int pyw_alias_is_directory(apr_pool_t *p, const char *path)
{
    apr_finfo_t fi;
    size_t len = strlen(path);

    return (len > 1 && path[len - 1] == '/')
           || (apr_stat(&fi, path, APR_FINFO_TYPE, p) == APR_SUCCESS
               && fi.filetype == APR_DIR);
}

/* PyWorkerScriptAlias (cmd->info NULL) and PyWorkerScriptAliasMatch. */
const char *pyw_cmd_script_alias(cmd_parms *cmd, void *mconfig,
                                 const char *args)
{
    pyw_server_conf_t *sc = ap_get_module_config(cmd->server->module_config,
                                                  &pyworker_module);
    pyw_alias_t a = { 0 };
    const char *err, *file;

    a.uri = ap_getword_conf(cmd->pool, &args);
    file = ap_getword_conf(cmd->pool, &args);
    if (*a.uri == '\0' || *file == '\0') {
        return apr_psprintf(cmd->pool, "%s needs a URL %s and a script "
                            "file", cmd->cmd->name,
                            cmd->info ? "regex" : "path");
    }
    if (cmd->info != NULL
        && (a.regex = ap_pregcomp(cmd->pool, a.uri, AP_REG_EXTENDED))
           == NULL) {
        return apr_psprintf(cmd->pool, "%s: invalid regular expression "
                            "'%s'", cmd->cmd->name, a.uri);
    }
    if (cmd->info == NULL && a.uri[0] != '/') {
        return apr_psprintf(cmd->pool, "%s: URL path '%s' must start with "
                            "'/'", cmd->cmd->name, a.uri);
    }
    if ((a.script = ap_server_root_relative(cmd->pool, file)) == NULL) {
        return apr_psprintf(cmd->pool, "%s: invalid file path '%s'",
                            cmd->cmd->name, file);
    }
    err = pyw_parse_group_options(cmd, pyw_alias_options, args, &a);
    if (err != NULL) {
        return err;
    }
    if (a.regex == NULL && pyw_alias_is_directory(cmd->pool, a.script)) {
        /* mod_wsgi's directory form: Apache's core would answer its URLs
         * 500 (AH00033) before any group is asked. */
        return apr_psprintf(cmd->pool, "%s %s: %s is a directory; an "
                            "alias names one WSGI script file (mod_wsgi's "
                            "directory form is not supported: use "
                            "PyWorkerScriptAliasMatch ^%s([^/]+) %s$1)",
                            cmd->cmd->name, a.uri, a.script, a.uri,
                            a.script);
    }
    if (a.regex == NULL) {
        pyw_warn_missing(cmd, cmd->cmd->name, a.script,
                         "its URLs answer 404 until it does");
    }
    pyw_note_alias_ref(cmd, &a, a.regex == NULL ? PYW_IMPORT_PRELOAD : NULL);
    *(pyw_alias_t *)apr_array_push(sc->aliases) = a;
    return NULL;
}

const char *pyw_paste_spec(cmd_parms *cmd, const char *spec,
                           const char **file, const char **name)
{
    const char *hash = strrchr(spec, '#');

    if (hash != NULL && strchr(hash, '/') != NULL) {
        hash = NULL;                /* a '#' in a directory name */
    }
    *name = hash ? hash + 1 : "main";
    if (**name == '\0') {
        return apr_psprintf(cmd->pool, "%s: '%s': no application name after "
                            "'#'", cmd->cmd->name, spec);
    }
    *file = hash ? apr_pstrmemdup(cmd->pool, spec, hash - spec) : spec;
    if (**file == '\0'
        || (*file = ap_server_root_relative(cmd->pool, *file)) == NULL) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not a valid path",
                            cmd->cmd->name, spec);
    }
    return NULL;
}

/*
 * PyWorkerPasteApp /url /path/app.ini[#name] [options]: a prefix alias
 * whose application the daemon loads with PasteDeploy (pyw_paste.c),
 * "main" unless #name says otherwise.  The file must exist now: unlike a
 * script, it cannot be looked up per request as a 404.
 */
const char *pyw_cmd_paste_app(cmd_parms *cmd, void *mconfig,
                              const char *args)
{
    pyw_server_conf_t *sc = ap_get_module_config(cmd->server->module_config,
                                                  &pyworker_module);
    pyw_alias_t a = { 0 };
    const char *spec, *err;

    a.uri = ap_getword_conf(cmd->pool, &args);
    spec = ap_getword_conf(cmd->pool, &args);
    if (a.uri[0] != '/' || *spec == '\0') {
        return apr_psprintf(cmd->pool, "%s needs a URL path starting with "
                            "'/' and an ini file", cmd->cmd->name);
    }
    if ((err = pyw_paste_spec(cmd, spec, &a.script, &a.paste_app)) != NULL) {
        return err;
    }
    if (access(a.script, R_OK) != 0) {
        return apr_psprintf(cmd->pool, "%s: PYW0006 %s cannot be read: %s",
                            cmd->cmd->name, a.script, strerror(errno));
    }
    err = pyw_parse_group_options(cmd, pyw_paste_options, args, &a);
    if (err != NULL) {
        return err;
    }
    pyw_note_alias_ref(cmd, &a, apr_pstrcat(cmd->pool, PYW_IMPORT_PASTE,
                                            a.paste_app, NULL));
    *(pyw_alias_t *)apr_array_push(sc->aliases) = a;
    return NULL;
}

const char *pyw_cmd_import_script(cmd_parms *cmd, void *mconfig,
                                  const char *args)
{
    const char *file = ap_getword_conf(cmd->pool, &args);
    const char *path, *err;
    pyw_alias_t opts = { 0 };

    if (*file == '\0') {
        return apr_psprintf(cmd->pool, "%s needs a script file",
                            cmd->cmd->name);
    }
    if ((path = ap_server_root_relative(cmd->pool, file)) == NULL) {
        return apr_psprintf(cmd->pool, "%s: invalid file path '%s'",
                            cmd->cmd->name, file);
    }
    if (access(path, R_OK) != 0) {
        return apr_psprintf(cmd->pool, "%s: PYW0006 %s cannot be read: %s "
                            "(the group's daemons could not start)",
                            cmd->cmd->name, path, strerror(errno));
    }
    err = pyw_parse_group_options(cmd, pyw_import_options, args, &opts);
    if (err != NULL) {
        return err;
    }
    if (opts.process_group == NULL) {
        return apr_psprintf(cmd->pool, "%s %s: process-group=NAME is "
                            "required", cmd->cmd->name, file);
    }
    pyw_note_ref(cmd, opts.process_group, path, path)->import_app_group =
        opts.application_group ? opts.application_group
                               : pyw_app_group_global;
    return NULL;
}

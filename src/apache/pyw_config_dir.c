/*
 * pyw_config_dir.c - the per-directory directives (<Directory>,
 * <Location>, and some in .htaccess): PyWorkerProcessGroup,
 * PyWorkerRestrictProcess, PyWorkerApplicationGroup,
 * PyWorkerCallableObject, PyWorkerChunkedRequest and
 * PyWorkerChunkedRequestLimit and PyWorkerMapHEADToGET.
 * PyWorkerPassAuthorization, PyWorkerScriptReloading and
 * PyWorkerErrorOverride are plain flags (ap_set_flag_slot).
 */
#include <stdint.h>
#include <string.h>

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"

#include "pyw_appgroup.h"
#include "pyw_config_int.h"
#include "../common/pyw_option.h"

/* A .htaccess file, read while serving a request (in the request's pool,
 * by one thread among many): nothing may be added to the registry. */
static int pyw_cmd_in_htaccess(cmd_parms *cmd)
{
    return ap_check_cmd_context(cmd, NOT_IN_HTACCESS) != NULL;
}

/* From .htaccess (AllowOverride FileInfo) too.  configtest cannot see a
 * group named there: the handler checks it per request (PYW0101, 0102),
 * and PyWorkerRestrictProcess limits the choice (PYW0107). */
const char *pyw_cmd_process_group(cmd_parms *cmd, void *mconfig,
                                  const char *arg)
{
    pyw_dir_conf_t *d = mconfig;
    const char *err = pyw_check_group_name(cmd, arg);

    if (err != NULL) {
        return err;
    }
    d->process_group = arg;
    if (!pyw_cmd_in_htaccess(cmd)) {
        pyw_note_ref(cmd, arg, cmd->path ? cmd->path : "", NULL)->any_host =
            cmd->path != NULL && !cmd->server->is_virtual;
    }
    return NULL;
}

/* PyWorkerRestrictProcess g1 [g2 ...]: one call per name (ITERATE); the
 * names of one context add up.  Refused in .htaccess even when
 * AllowOverrideList allows it: the list is what keeps a tenant's
 * .htaccess to its own groups, so a tenant must not be able to widen it. */
const char *pyw_cmd_restrict_process(cmd_parms *cmd, void *mconfig,
                                     const char *arg)
{
    pyw_dir_conf_t *d = mconfig;
    const char *err = ap_check_cmd_context(cmd, NOT_IN_HTACCESS);

    if (err != NULL || (err = pyw_check_group_name(cmd, arg)) != NULL) {
        return err;
    }
    if (d->restrict_process == NULL) {
        d->restrict_process = apr_array_make(cmd->pool, 2,
                                             sizeof(const char *));
    }
    *(const char **)apr_array_push(d->restrict_process) = arg;
    pyw_note_ref(cmd, arg, cmd->path ? cmd->path : "", NULL);
    return NULL;
}

const char *pyw_cmd_application_group(cmd_parms *cmd, void *mconfig,
                                      const char *arg)
{
    pyw_dir_conf_t *d = mconfig;
    const char *err = pyw_app_group_check(cmd->pool, cmd->cmd->name, &arg,
                                          0);

    if (err == NULL) {
        d->application_group = arg;
    }
    return err;
}

const char *pyw_cmd_callable_object(cmd_parms *cmd, void *mconfig,
                                    const char *arg)
{
    pyw_dir_conf_t *d = mconfig;
    const char *err = pyw_check_callable(cmd, arg);

    if (err == NULL) {
        d->callable_object = arg;
    }
    return err;
}

/* PyWorkerChunkedRequest On|Off|Stream. */
const char *pyw_cmd_chunked_request(cmd_parms *cmd, void *mconfig,
                                    const char *arg)
{
    pyw_dir_conf_t *d = mconfig;

    if (strcasecmp(arg, "On") == 0) {
        d->chunked_request = PYW_CHUNKED_SPOOL;
    }
    else if (strcasecmp(arg, "Off") == 0) {
        d->chunked_request = PYW_CHUNKED_OFF;
    }
    else if (strcasecmp(arg, "Stream") == 0) {
        d->chunked_request = PYW_CHUNKED_STREAM;
    }
    else {
        return apr_psprintf(cmd->pool, "%s: '%s': use On, Off or Stream",
                            cmd->cmd->name, arg);
    }
    return NULL;
}

/* PyWorkerChunkedRequestLimit bytes (K/M/G suffixes). */
const char *pyw_cmd_chunked_limit(cmd_parms *cmd, void *mconfig,
                                  const char *arg)
{
    pyw_dir_conf_t *d = mconfig;
    char msg[PYW_MSG_MAX];
    int64_t v;

    if (pyw_option_value(PYW_OPT_BYTES, arg, 0, INT64_MAX / 2, &v, msg,
                         sizeof(msg)) < 0) {
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, msg);
    }
    /* 0 is "none of its own", as LimitRequestBody 0 is unlimited. */
    d->chunked_limit = v == 0 ? (apr_off_t)(INT64_MAX / 2) : (apr_off_t)v;
    return NULL;
}

/* PyWorkerMapHEADToGET On|Off|Auto. */
const char *pyw_cmd_map_head(cmd_parms *cmd, void *mconfig, const char *arg)
{
    pyw_dir_conf_t *d = mconfig;

    if (strcasecmp(arg, "On") == 0) {
        d->map_head = PYW_MAP_HEAD_ON;
    }
    else if (strcasecmp(arg, "Off") == 0) {
        d->map_head = PYW_MAP_HEAD_OFF;
    }
    else if (strcasecmp(arg, "Auto") == 0) {
        d->map_head = PYW_MAP_HEAD_AUTO;
    }
    else {
        return apr_psprintf(cmd->pool, "%s: '%s': use On, Off or Auto",
                            cmd->cmd->name, arg);
    }
    return NULL;
}

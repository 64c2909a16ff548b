/*
 * pyw_config_group.c - PyWorkerDaemonProcess: its options (one table,
 * from pyw_options.h), the checks of their values and the group it adds
 * to the registry; and the main-server settings every group shares
 * (PyWorkerSocketPrefix, PyWorkerPythonHome, PyWorkerPythonPath).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"

#include "pyw_appgroup.h"
#include "pyw_config_int.h"
#include "pyw_pythons.h"
#include "../common/pyw_option.h"

/* ---- PyWorkerDaemonProcess options: rows from pyw_options.h ---- */

#define PYW_GROUP_ROW(field, name, kind, min, max, def, defdoc, doc) \
    PYW_OPTION_ROW(pyw_group_t, field, name, kind, min, max),
#define PYW_NOT_YET_ROW(name) { name, PYW_OPT_UNSUPPORTED, 0, 0, 0 },

static const pyw_option_t pyw_daemon_options[] = {
    PYW_DAEMON_OPTIONS(PYW_GROUP_ROW)
    PYW_DAEMON_OPTIONS_NOT_YET(PYW_NOT_YET_ROW)
    { NULL, 0, 0, 0, 0 }
};

/* ---- PyWorkerDaemonProcess ---- */

/* Defaults as mod_wsgi's where it has one (pyw_options.h). */
static pyw_group_t *pyw_group_new(cmd_parms *cmd, const char *name)
{
    pyw_group_t *g = apr_pcalloc(cmd->pool, sizeof(*g));

    PYW_OPTIONS_SET_DEFAULTS(g);
    g->name = name;
    g->server = cmd->server;
    g->socket_uid = (uid_t)-1;
    g->script_uid = (uid_t)-1;
    g->script_gid = (gid_t)-1;
    g->uid = (uid_t)-1;
    g->gid = (gid_t)-1;
    g->import_scripts = apr_array_make(cmd->pool, 1, sizeof(const char *));
    g->import_app_groups = apr_array_make(cmd->pool, 1,
                                          sizeof(const char *));
    g->import_modes = apr_array_make(cmd->pool, 1, sizeof(const char *));
    return g;
}

static const char *pyw_group_check_paths(cmd_parms *cmd, pyw_group_t *g)
{
    const char *opt = NULL, *val = NULL;

    if (g->home && !ap_os_is_path_absolute(cmd->pool, g->home)) {
        opt = "home", val = g->home;
    }
    else if (g->python_home
             && !ap_os_is_path_absolute(cmd->pool, g->python_home)) {
        opt = "python-home", val = g->python_home;
    }
    else if (g->python_eggs
             && !ap_os_is_path_absolute(cmd->pool, g->python_eggs)) {
        opt = "python-eggs", val = g->python_eggs;
    }
    if (opt != NULL) {
        return apr_psprintf(cmd->pool, "%s %s: %s=%s is not an absolute "
                            "path", cmd->cmd->name, g->name, opt, val);
    }
    if (g->home != NULL) {
        pyw_warn_missing(cmd, apr_pstrcat(cmd->pool, cmd->cmd->name, " ",
                                          g->name, " home=", NULL),
                         g->home, "the group's daemons cannot start until "
                         "it does");
    }
    pyw_check_python_path(cmd, cmd->cmd->name, g->python_path);
    return pyw_check_python_home(cmd, apr_pstrcat(cmd->pool, cmd->cmd->name,
                                                  " ", g->name, NULL),
                                 g->python_home);
}

/* Values that pass the option table but could only misbehave: a
 * deadlock-timeout under the watchdog's look every 250 ms reported
 * deadlocks that were not (27 daemons replaced in 6 s at 1ms); a
 * memory-limit under what a daemon uses at rest replaced every new one
 * at once, for ever (memory-limit=512, meant as 512M). */
#define PYW_DEADLOCK_TIMEOUT_MIN_MS 1000
#define PYW_MEMORY_LIMIT_MIN        ((int64_t)32 << 20)

static const char *pyw_group_check_limits(cmd_parms *cmd, pyw_group_t *g)
{
    if (g->deadlock_timeout_ms > 0
        && g->deadlock_timeout_ms < PYW_DEADLOCK_TIMEOUT_MIN_MS) {
        return apr_psprintf(cmd->pool, "%s %s: deadlock-timeout is at "
                            "least 1 second (the daemon looks every 250 ms)",
                            cmd->cmd->name, g->name);
    }
    if (g->memory_limit > 0 && g->memory_limit < PYW_MEMORY_LIMIT_MIN) {
        return apr_psprintf(cmd->pool, "%s %s: memory-limit is at least "
                            "32M (a daemon uses more than that at rest; "
                            "mod_wsgi's unit is bytes too: 512M, not 512)",
                            cmd->cmd->name, g->name);
    }
    return NULL;
}

/* start=always (the default) or start=on-demand. */
static const char *pyw_group_start_mode(cmd_parms *cmd, pyw_group_t *g)
{
    if (g->start == NULL || strcmp(g->start, "always") == 0) {
        g->on_demand = 0;
        return NULL;
    }
    if (strcmp(g->start, "on-demand") == 0) {
        g->on_demand = 1;
        return NULL;
    }
    return apr_psprintf(cmd->pool, "%s %s: start=%s: expected 'always' or "
                        "'on-demand'", cmd->cmd->name, g->name, g->start);
}

/* script= or paste= (file.ini#name): the application of requests that
 * come through mod_proxy's pyworker:// scheme (pyw_proxy.c). */
static const char *pyw_group_app(cmd_parms *cmd, pyw_group_t *g)
{
    const char *err;

    if (g->script != NULL && g->paste != NULL) {
        return apr_psprintf(cmd->pool, "%s %s: script= and paste= exclude "
                            "each other", cmd->cmd->name, g->name);
    }
    if (g->paste != NULL) {
        if ((err = pyw_paste_spec(cmd, g->paste, &g->app_file,
                                  &g->app_paste_name)) != NULL) {
            return apr_psprintf(cmd->pool, "%s (paste= of %s)", err,
                                g->name);
        }
    }
    else if (g->script == NULL) {
        return NULL;
    }
    else if (*g->script == '\0' || (g->app_file = ap_server_root_relative(
                 cmd->pool, g->script)) == NULL) {
        return apr_psprintf(cmd->pool, "%s %s: script=%s is not a valid path",
                            cmd->cmd->name, g->name, g->script);
    }
    pyw_warn_missing(cmd, apr_pstrcat(cmd->pool, cmd->cmd->name, " ",
                                      g->name, NULL), g->app_file,
                     "its requests get 500 until it exists");
    return NULL;
}

/* application-group= and callable-object=: where and under which name
 * the group's own app runs.  A health check has no request, so of the
 * %{...} forms only %{GLOBAL} (resolved now: "" is the main
 * interpreter). */
static const char *pyw_group_app_names(cmd_parms *cmd, pyw_group_t *g)
{
    const char *err, *ag = g->application_group;

    if ((ag != NULL || g->callable_object != NULL) && g->app_file == NULL) {
        return apr_psprintf(cmd->pool, "%s %s: application-group= and "
                            "callable-object= name where script= or "
                            "paste= runs; the group has neither",
                            cmd->cmd->name, g->name);
    }
    if (g->callable_object != NULL && g->paste != NULL) {
        return apr_psprintf(cmd->pool, "%s %s: callable-object= is for "
                            "script=; paste= names its application in the "
                            "ini file (file.ini#name)", cmd->cmd->name,
                            g->name);
    }
    if (g->callable_object != NULL
        && (err = pyw_check_callable(cmd, g->callable_object)) != NULL) {
        return err;
    }
    if (ag != NULL && ag[0] == '%' && ag[1] == '{'
        && strcmp(ag, pyw_app_group_global) != 0) {
        return apr_psprintf(cmd->pool, "%s %s: application-group=%s: use "
                            "%%{GLOBAL} or a name (a health check of the "
                            "group has no request to resolve %%{...} "
                            "forms with)", cmd->cmd->name, g->name, ag);
    }
    if (ag != NULL && (err = pyw_app_group_check(cmd->pool, "application-"
                                                 "group=", &ag, 1)) != NULL) {
        return err;
    }
    g->application_group = ag ? ag : pyw_app_group_global;
    g->app_group_name = g->application_group == pyw_app_group_global
                        ? "" : g->application_group;
    return NULL;
}

/* own-gil=: names of application groups (or "*"), and a Python with
 * PEP 684 (3.12) for the group. */
static const char *pyw_group_check_own_gil(cmd_parms *cmd, pyw_group_t *g)
{
    const char *version = pyw_python_version(g->python_executable);
    const char *list = g->own_gil, *name;
    int major = 0, minor = 0;

    if (list == NULL) {
        return NULL;
    }
    if (version == NULL || sscanf(version, "%d.%d", &major, &minor) != 2
        || major < 3 || (major == 3 && minor < 12)) {
        return apr_psprintf(cmd->pool, "%s %s: own-gil= needs Python 3.12 "
                            "or later (PEP 684); this group runs Python %s "
                            "(%s): pick a newer one with python-executable=",
                            cmd->cmd->name, g->name,
                            version ? version : "?", g->python_executable);
    }
    while (*list != '\0') {
        name = ap_getword(cmd->pool, &list, ',');
        if (*name == '\0' || (name[0] == '%' && name[1] == '{')) {
            return apr_psprintf(cmd->pool, "%s %s: own-gil=%s: list the "
                                "names application groups resolve to, or "
                                "*; not %%{...} forms nor empty names (the "
                                "main interpreter, %%{GLOBAL}, keeps the "
                                "main GIL)", cmd->cmd->name, g->name,
                                g->own_gil);
        }
    }
    return NULL;
}

const char *pyw_cmd_daemon_process(cmd_parms *cmd, void *mconfig,
                                   const char *args)
{
    const char *name = ap_getword_conf(cmd->pool, &args);
    pyw_option_state_t st = { 0 };
    char msg[PYW_MSG_MAX];
    const char *err, *where, *other;
    pyw_group_t *g;
    char *word;

    if ((err = pyw_check_group_name(cmd, name)) != NULL) {
        return err;
    }
    /* In any case: mod_proxy lower-cases a pyworker:// URL's host, so
     * "Shop" and "shop" could not be told apart there. */
    where = pyw_config_group_where(name, &other);
    if (where != NULL) {
        return apr_psprintf(cmd->pool, "%s %s: a group of that name%s is "
                            "already defined at %s", cmd->cmd->name, name,
                            strcmp(name, other) == 0 ? ""
                            : apr_psprintf(cmd->pool, " ('%s': names must "
                                           "differ in more than case)",
                                           other),
                            where);
    }
    g = pyw_group_new(cmd, name);
    while (*(word = pyw_next_option(cmd->pool, &args)) != '\0') {
        if (pyw_option_parse(pyw_daemon_options, &st, word, g, msg,
                             sizeof(msg)) < 0) {
            return apr_psprintf(cmd->pool, "%s %s: %s", cmd->cmd->name,
                                name, msg);
        }
    }
    if ((err = pyw_group_start_mode(cmd, g)) != NULL
        || (err = pyw_group_check_limits(cmd, g)) != NULL
        || (err = pyw_group_check_paths(cmd, g)) != NULL
        || (err = pyw_group_app(cmd, g)) != NULL
        || (err = pyw_group_app_names(cmd, g)) != NULL
        || (err = pyw_group_resolve_ids(cmd, g)) != NULL
        || (err = pyw_group_resolve_extra_ids(cmd, g)) != NULL) {
        return err;
    }
    g->daemon_program = pyw_python_program(cmd->pool, g->python_executable,
                                           &g->python_executable, &err);
    if (g->daemon_program == NULL) {
        return apr_psprintf(cmd->pool, "%s %s: %s", cmd->cmd->name, name,
                            err);
    }
    if ((err = pyw_group_check_own_gil(cmd, g)) != NULL) {
        return err;
    }
    pyw_config_add_group(cmd, g);
    return NULL;
}

/* The longest a daemon of g waits to pass response bytes to Apache, as
 * the daemon takes it (mod_wsgi's: response-socket-timeout, else
 * socket-timeout). */
int64_t pyw_config_response_write_ms(const pyw_group_t *g)
{
    return g->response_socket_timeout_ms > 0 ? g->response_socket_timeout_ms
           : g->socket_timeout_ms > 0 ? g->socket_timeout_ms
           : PYW_DEFAULT_DAEMON_IO_MS;
}

/* ---- main server only ---- */

const char *pyw_cmd_socket_prefix(cmd_parms *cmd, void *mconfig,
                                  const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (err != NULL) {
        return err;
    }
    pyw_globals.socket_prefix = ap_runtime_dir_relative(cmd->pool, arg);
    if (pyw_globals.socket_prefix == NULL) {
        return apr_psprintf(cmd->pool, "%s: invalid path '%s'",
                            cmd->cmd->name, arg);
    }
    return NULL;
}

/* PyWorkerPythonHome / PyWorkerPythonPath: cmd->info is the field. */
const char *pyw_cmd_python(cmd_parms *cmd, void *mconfig,
                           const char *arg)
{
    const char *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);

    if (err != NULL) {
        return err;
    }
    if (cmd->info == &pyw_globals.python_home
        && !ap_os_is_path_absolute(cmd->pool, arg)) {
        return apr_psprintf(cmd->pool, "%s: '%s' is not an absolute path",
                            cmd->cmd->name, arg);
    }
    if (cmd->info == &pyw_globals.python_home) {
        if ((err = pyw_check_python_home(cmd, cmd->cmd->name, arg))) {
            return err;
        }
    }
    else {
        pyw_check_python_path(cmd, cmd->cmd->name, arg);
    }
    *(const char **)cmd->info = arg;
    return NULL;
}

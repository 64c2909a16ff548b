/*
 * pyw_config.c - directives, per-server and per-directory configuration,
 * the daemon-group registry, and the PyWorkerScriptAlias (and
 * PyWorkerPasteApp) translation.
 *
 * Lifetimes: everything here lives in pconf.  Apache reads the whole
 * configuration again into a fresh pconf at every restart (graceful or
 * not), so pre_config resets the registry and the directives rebuild it.
 *
 * Whatever one directive cannot check alone - an alias or import script
 * naming a group defined further down, or the default user (User may come
 * after the group) - is checked in check_config.  That hook also runs for
 * "apachectl configtest", so every configuration error fails configtest.
 */
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/stat.h>
#include <string.h>
#include <unistd.h>

#include "apr_lib.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_log.h"
#include "http_request.h"
#include "unixd.h"

#include "../common/pyw_proto.h"
#include "pyw_appgroup.h"
#include "pyw_config.h"
#include "pyw_pythons.h"
#include "pyw_log.h"
#include "../common/pyw_option.h"

#define PYW_GROUP_NAME_MAX  64  /* keeps <prefix>.<pid>.<name>.sock short */
#define PYW_MSG_MAX         256

pyw_globals_t pyw_globals;

/* A group named before check_config can know it exists. */
typedef struct {
    const char *group;
    server_rec *server;         /* where the reference was written */
    const char *where;          /* "PyWorkerScriptAlias /x (file:line)" */
    const char *import_script;  /* PyWorkerImportScript: its path */
    const char *import_app_group;   /* and its application-group= */
} pyw_group_ref_t;

static apr_array_header_t *pyw_refs;        /* pyw_group_ref_t */
static apr_hash_t *pyw_group_where;         /* name -> "file:line" */

/* ---- PyWorkerDaemonProcess options: rows from pyw_options.h ---- */

#define PYW_GROUP_ROW(field, name, kind, min, max, def, defdoc, doc) \
    PYW_OPTION_ROW(pyw_group_t, field, name, kind, min, max),
#define PYW_NOT_YET_ROW(name) { name, PYW_OPT_UNSUPPORTED, 0, 0, 0 },

static const pyw_option_t pyw_daemon_options[] = {
    PYW_DAEMON_OPTIONS(PYW_GROUP_ROW)
    PYW_DAEMON_OPTIONS_NOT_YET(PYW_NOT_YET_ROW)
    { NULL, 0, 0, 0, 0 }
};

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
    /* An inner list replaces the outer one; lists are never joined. */
    d->restrict_process = add->restrict_process ? add->restrict_process
                                                : base->restrict_process;
    return d;
}

/* ---- small checks shared by the directives ---- */

static const char *pyw_cmd_where(cmd_parms *cmd)
{
    if (cmd->directive == NULL || cmd->directive->filename == NULL) {
        return "the command line";
    }
    return apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename,
                        cmd->directive->line_num);
}

static const char *pyw_check_group_name(cmd_parms *cmd, const char *name)
{
    const char *c;

    if (*name == '\0') {
        return apr_psprintf(cmd->pool, "%s: a process group name is "
                            "required", cmd->cmd->name);
    }
    if (name[0] == '%') {
        return apr_psprintf(cmd->pool, "%s: process group '%s': %%{...} "
                            "forms (embedded mode, %%{ENV:...}) are not "
                            "supported; name a PyWorkerDaemonProcess group",
                            cmd->cmd->name, name);
    }
    for (c = name; *c; c++) {
        if (!apr_isalnum(*c) && *c != '_' && *c != '.' && *c != '-') {
            break;
        }
    }
    if (*c != '\0' || c - name > PYW_GROUP_NAME_MAX) {
        return apr_psprintf(cmd->pool, "%s: invalid process group name "
                            "'%s' (use at most %d letters, digits, '_', "
                            "'.' and '-')", cmd->cmd->name, name,
                            PYW_GROUP_NAME_MAX);
    }
    return NULL;
}

/* The script attribute Python will look up: an identifier, so a typo
 * such as "app()" fails at configtest, not on every request. */
static const char *pyw_check_callable(cmd_parms *cmd, const char *name)
{
    const char *c = name;

    if (apr_isalpha(*c) || *c == '_') {
        while (apr_isalnum(*c) || *c == '_') {
            c++;
        }
    }
    if (c == name || *c != '\0' || c - name > PYW_CALLABLE_MAX) {
        return apr_psprintf(cmd->pool, "%s: invalid callable object name "
                            "'%s' (a Python identifier of at most %d "
                            "letters, digits and '_')", cmd->cmd->name, name,
                            PYW_CALLABLE_MAX);
    }
    return NULL;
}

static pyw_group_ref_t *pyw_note_ref(cmd_parms *cmd, const char *group,
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
    return ref;
}

/*
 * The next "name=value" word of args, "" at the end.  The value is read
 * as a word of its own, as mod_wsgi reads it, so it may be quoted:
 * lang='en_US.UTF-8' and display-name="my site" lose their quotes.  A
 * word without '=' comes back whole (the parser names it).
 */
static char *pyw_next_option(apr_pool_t *p, const char **args)
{
    const char *s = *args, *end;
    char *name;

    while (apr_isspace(*s)) {
        s++;
    }
    for (end = s; *end != '\0' && *end != '=' && !apr_isspace(*end); end++) {
        /* the name */
    }
    if (*end != '=') {
        *args = s;
        return ap_getword_conf(p, args);
    }
    name = apr_pstrmemdup(p, s, end - s + 1);       /* with the '=' */
    *args = end + 1;
    if (**args == '\0' || apr_isspace(**args)) {
        return name;                                /* an empty value */
    }
    return apr_pstrcat(p, name, ap_getword_conf(p, args), NULL);
}

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

/* ---- user= and group= ---- */

/* "name" or "#uid", as Apache's User.  0, or -1 if unknown. */
static int pyw_lookup_user(apr_pool_t *p, const char *spec, uid_t *uid,
                           gid_t *primary, const char **name)
{
    struct passwd *pw;
    char msg[PYW_MSG_MAX];
    int64_t v;

    if (spec[0] == '#') {
        if (pyw_option_value(PYW_OPT_INT, spec + 1, 0, INT_MAX, &v, msg,
                             sizeof(msg)) < 0) {
            return -1;
        }
        *uid = (uid_t)v;
        pw = getpwuid(*uid);
    }
    else if ((pw = getpwnam(spec)) != NULL) {
        *uid = pw->pw_uid;
    }
    else {
        return -1;
    }
    *primary = pw ? pw->pw_gid : (gid_t)-1;
    *name = pw ? apr_pstrdup(p, pw->pw_name) : NULL;
    return 0;
}

static int pyw_lookup_group(const char *spec, gid_t *gid)
{
    struct group *gr;
    char msg[PYW_MSG_MAX];
    int64_t v;

    if (spec[0] == '#') {
        if (pyw_option_value(PYW_OPT_INT, spec + 1, 0, INT_MAX, &v, msg,
                             sizeof(msg)) < 0) {
            return -1;
        }
        *gid = (gid_t)v;
        return 0;
    }
    if ((gr = getgrnam(spec)) == NULL) {
        return -1;
    }
    *gid = gr->gr_gid;
    return 0;
}

/* supplementary-groups=a,b, socket-user=, script-user= and
 * script-group=, resolved now so configtest names an unknown one. */
static const char *pyw_group_resolve_extra_ids(cmd_parms *cmd,
                                               pyw_group_t *g)
{
    gid_t primary;
    const char *name, *list = g->supplementary_groups;
    int max;

    if (list != NULL) {
        max = 1;
        for (name = list; *name; name++) {
            max += *name == ',';
        }
        g->supplementary_gids = apr_pcalloc(cmd->pool, max * sizeof(gid_t));
        while (*(name = ap_getword(cmd->pool, &list, ',')) != '\0'
               || *list != '\0') {
            if (*name == '\0') {
                continue;
            }
            if (pyw_lookup_group(name, &g->supplementary_gids
                                 [g->n_supplementary_gids]) < 0) {
                return apr_psprintf(cmd->pool, "%s %s: supplementary-groups: "
                                    "unknown group '%s'", cmd->cmd->name,
                                    g->name, name);
            }
            if (g->supplementary_gids[g->n_supplementary_gids] == 0) {
                return apr_psprintf(cmd->pool, "%s %s: supplementary-groups: "
                                    "'%s' is group id 0; refused",
                                    cmd->cmd->name, g->name, name);
            }
            g->n_supplementary_gids++;
        }
    }
    if (g->socket_user != NULL
        && pyw_lookup_user(cmd->pool, g->socket_user, &g->socket_uid,
                           &primary, &name) < 0) {
        return apr_psprintf(cmd->pool, "%s %s: socket-user: unknown user "
                            "'%s'", cmd->cmd->name, g->name, g->socket_user);
    }
    if (g->script_user != NULL
        && pyw_lookup_user(cmd->pool, g->script_user, &g->script_uid,
                           &primary, &name) < 0) {
        return apr_psprintf(cmd->pool, "%s %s: script-user: unknown user "
                            "'%s'", cmd->cmd->name, g->name, g->script_user);
    }
    if (g->script_group != NULL
        && pyw_lookup_group(g->script_group, &g->script_gid) < 0) {
        return apr_psprintf(cmd->pool, "%s %s: script-group: unknown group "
                            "'%s'", cmd->cmd->name, g->name,
                            g->script_group);
    }
    return NULL;
}

/* user= and group= now, so configtest names an unknown one.  Without
 * group= the daemons run with user='s primary group. */
static const char *pyw_group_resolve_ids(cmd_parms *cmd, pyw_group_t *g)
{
    gid_t primary = (gid_t)-1;

    if (g->user != NULL
        && pyw_lookup_user(cmd->pool, g->user, &g->uid, &primary,
                           &g->user_name) < 0) {
        return apr_psprintf(cmd->pool, "%s %s: unknown user '%s'",
                            cmd->cmd->name, g->name, g->user);
    }
    if (g->unix_group != NULL
        && pyw_lookup_group(g->unix_group, &g->gid) < 0) {
        return apr_psprintf(cmd->pool, "%s %s: unknown group '%s'",
                            cmd->cmd->name, g->name, g->unix_group);
    }
    if (g->user != NULL && g->unix_group == NULL) {
        if (primary == (gid_t)-1) {
            return apr_psprintf(cmd->pool, "%s %s: user '%s' has no passwd "
                                "entry; give group= as well",
                                cmd->cmd->name, g->name, g->user);
        }
        g->gid = primary;
    }
    return NULL;
}

/* Apache's User and Group, once the whole configuration is read. */
static int pyw_group_default_ids(apr_pool_t *p, server_rec *s,
                                 pyw_group_t *g)
{
    struct passwd *pw;

    if (g->user == NULL) {
        g->uid = ap_unixd_config.user_id;
        pw = getpwuid(g->uid);
        g->user_name = pw ? apr_pstrdup(p, pw->pw_name) : NULL;
        if (g->unix_group == NULL) {
            g->gid = ap_unixd_config.group_id;
        }
    }
    if (geteuid() == 0 && (g->uid == (uid_t)-1 || g->gid == (gid_t)-1)) {
        PYW_SLOG(APLOG_ERR, 0, s, 1, g->name, 0L, "PyWorkerDaemonProcess "
                 "%s: no user= and Apache's User/Group are not set",
                 g->name);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

/* ---- directives ---- */

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
    return g;
}

/* ---- paths that must exist (configtest says so, not the daemon) ---- */

/* A python-home that is not a directory: the daemon could never start. */
static const char *pyw_check_python_home(cmd_parms *cmd, const char *what,
                                         const char *home)
{
    struct stat st;
    const char *why;

    if (home == NULL) {
        return NULL;
    }
    if (stat(home, &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            return NULL;
        }
        why = "not a directory";
    }
    else {
        why = strerror(errno);
    }
    return apr_psprintf(cmd->pool, "%s: PYW0006 python-home %s is not "
                        "usable: %s", what, home, why);
}

/* Missing python-path entries or scripts may be deployed later: a
 * warning that configtest shows. */
static void pyw_warn_missing(cmd_parms *cmd, const char *what,
                             const char *path, const char *then)
{
    if (access(path, F_OK) != 0) {
        PYW_SLOG(APLOG_WARNING, errno, cmd->server, 7, NULL, 0L,
                 "%s (%s:%d): %s does not exist; %s", what,
                 cmd->directive->filename, cmd->directive->line_num, path,
                 then);
    }
}

static void pyw_check_python_path(cmd_parms *cmd, const char *what,
                                  const char *path)
{
    char *copy, *dir, *state;

    if (path == NULL) {
        return;
    }
    copy = apr_pstrdup(cmd->temp_pool, path);
    for (dir = apr_strtok(copy, ":", &state); dir != NULL;
         dir = apr_strtok(NULL, ":", &state)) {
        pyw_warn_missing(cmd, what, dir, "Python skips it");
    }
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
    pyw_check_python_path(cmd, cmd->cmd->name, g->python_path);
    return pyw_check_python_home(cmd, apr_pstrcat(cmd->pool, cmd->cmd->name,
                                                  " ", g->name, NULL),
                                 g->python_home);
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
    const char *spec = g->script ? g->script : g->paste;
    const char *hash, *file;

    if (g->script != NULL && g->paste != NULL) {
        return apr_psprintf(cmd->pool, "%s %s: script= and paste= exclude "
                            "each other", cmd->cmd->name, g->name);
    }
    if (spec == NULL) {
        return NULL;
    }
    hash = g->paste ? strchr(spec, '#') : NULL;
    file = hash ? apr_pstrmemdup(cmd->pool, spec, hash - spec) : spec;
    g->app_paste_name = g->paste ? (hash && hash[1] ? hash + 1 : "main")
                                 : NULL;
    if (*file == '\0'
        || (g->app_file = ap_server_root_relative(cmd->pool, file)) == NULL) {
        return apr_psprintf(cmd->pool, "%s %s: %s=%s is not a valid path",
                            cmd->cmd->name, g->name,
                            g->script ? "script" : "paste", spec);
    }
    pyw_warn_missing(cmd, apr_pstrcat(cmd->pool, cmd->cmd->name, " ",
                                      g->name, NULL), g->app_file,
                     "its requests get 500 until it exists");
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

static const char *pyw_cmd_daemon_process(cmd_parms *cmd, void *mconfig,
                                          const char *args)
{
    const char *name = ap_getword_conf(cmd->pool, &args);
    pyw_option_state_t st = { 0 };
    char msg[PYW_MSG_MAX];
    const char *err, *where;
    pyw_group_t *g;
    char *word;

    if ((err = pyw_check_group_name(cmd, name)) != NULL) {
        return err;
    }
    where = apr_hash_get(pyw_group_where, name, APR_HASH_KEY_STRING);
    if (where != NULL) {
        return apr_psprintf(cmd->pool, "%s %s: a group of that name is "
                            "already defined at %s", cmd->cmd->name, name,
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
        || (err = pyw_group_check_paths(cmd, g)) != NULL
        || (err = pyw_group_app(cmd, g)) != NULL
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
    *(pyw_group_t **)apr_array_push(pyw_globals.groups) = g;
    apr_hash_set(pyw_globals.groups_by_name, name, APR_HASH_KEY_STRING, g);
    apr_hash_set(pyw_group_where, name, APR_HASH_KEY_STRING,
                 pyw_cmd_where(cmd));
    return NULL;
}

/* PyWorkerScriptAlias (cmd->info NULL) and PyWorkerScriptAliasMatch. */
static const char *pyw_cmd_script_alias(cmd_parms *cmd, void *mconfig,
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
    if (a.regex == NULL) {
        pyw_warn_missing(cmd, cmd->cmd->name, a.script,
                         "its URLs answer 404 until it does");
    }
    if (a.process_group != NULL) {
        pyw_note_ref(cmd, a.process_group, a.uri, NULL);
    }
    *(pyw_alias_t *)apr_array_push(sc->aliases) = a;
    return NULL;
}

/*
 * PyWorkerPasteApp /url /path/app.ini[#name] [options]: a prefix alias
 * whose application the daemon loads with PasteDeploy (pyw_paste.c),
 * "main" unless #name says otherwise.  The file must exist now: unlike a
 * script, it cannot be looked up per request as a 404.
 */
static const char *pyw_cmd_paste_app(cmd_parms *cmd, void *mconfig,
                                     const char *args)
{
    pyw_server_conf_t *sc = ap_get_module_config(cmd->server->module_config,
                                                  &pyworker_module);
    pyw_alias_t a = { 0 };
    const char *spec, *hash, *err;

    a.uri = ap_getword_conf(cmd->pool, &args);
    spec = ap_getword_conf(cmd->pool, &args);
    if (a.uri[0] != '/' || *spec == '\0') {
        return apr_psprintf(cmd->pool, "%s needs a URL path starting with "
                            "'/' and an ini file", cmd->cmd->name);
    }
    hash = strrchr(spec, '#');
    if (hash != NULL && strchr(hash, '/') != NULL) {
        hash = NULL;                /* a '#' in a directory name */
    }
    a.paste_app = hash ? hash + 1 : "main";
    if (*a.paste_app == '\0') {
        return apr_psprintf(cmd->pool, "%s: '%s': no application name after "
                            "'#'", cmd->cmd->name, spec);
    }
    a.script = ap_server_root_relative(cmd->pool, hash ? apr_pstrmemdup(
                   cmd->pool, spec, hash - spec) : spec);
    if (a.script == NULL || access(a.script, R_OK) != 0) {
        return apr_psprintf(cmd->pool, "%s: PYW0006 %s cannot be read: %s",
                            cmd->cmd->name, a.script ? a.script : spec,
                            a.script ? strerror(errno) : "invalid path");
    }
    err = pyw_parse_group_options(cmd, pyw_paste_options, args, &a);
    if (err != NULL) {
        return err;
    }
    if (a.process_group != NULL) {
        pyw_note_ref(cmd, a.process_group, a.uri, NULL);
    }
    *(pyw_alias_t *)apr_array_push(sc->aliases) = a;
    return NULL;
}

static const char *pyw_cmd_import_script(cmd_parms *cmd, void *mconfig,
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

/* A .htaccess file, read while serving a request (in the request's pool,
 * by one thread among many): nothing may be added to the registry. */
static int pyw_cmd_in_htaccess(cmd_parms *cmd)
{
    return ap_check_cmd_context(cmd, NOT_IN_HTACCESS) != NULL;
}

/* From .htaccess (AllowOverride FileInfo) too.  configtest cannot see a
 * group named there: the handler checks it per request (PYW0101, 0102),
 * and PyWorkerRestrictProcess limits the choice (PYW0107). */
static const char *pyw_cmd_process_group(cmd_parms *cmd, void *mconfig,
                                         const char *arg)
{
    pyw_dir_conf_t *d = mconfig;
    const char *err = pyw_check_group_name(cmd, arg);

    if (err != NULL) {
        return err;
    }
    d->process_group = arg;
    if (!pyw_cmd_in_htaccess(cmd)) {
        pyw_note_ref(cmd, arg, cmd->path ? cmd->path : "", NULL);
    }
    return NULL;
}

/* PyWorkerRestrictProcess g1 [g2 ...]: one call per name (ITERATE); the
 * names of one context add up.  Refused in .htaccess even when
 * AllowOverrideList allows it: the list is what keeps a tenant's
 * .htaccess to its own groups, so a tenant must not be able to widen it. */
static const char *pyw_cmd_restrict_process(cmd_parms *cmd, void *mconfig,
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

static const char *pyw_cmd_application_group(cmd_parms *cmd, void *mconfig,
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

static const char *pyw_cmd_callable_object(cmd_parms *cmd, void *mconfig,
                                           const char *arg)
{
    pyw_dir_conf_t *d = mconfig;
    const char *err = pyw_check_callable(cmd, arg);

    if (err == NULL) {
        d->callable_object = arg;
    }
    return err;
}

static const char *pyw_cmd_socket_prefix(cmd_parms *cmd, void *mconfig,
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

/* PyWorkerChunkedRequest On|Off|Stream. */
static const char *pyw_cmd_chunked_request(cmd_parms *cmd, void *mconfig,
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
static const char *pyw_cmd_chunked_limit(cmd_parms *cmd, void *mconfig,
                                         const char *arg)
{
    pyw_dir_conf_t *d = mconfig;
    char msg[PYW_MSG_MAX];
    int64_t v;

    if (pyw_option_value(PYW_OPT_BYTES, arg, 0, INT64_MAX / 2, &v, msg,
                         sizeof(msg)) < 0) {
        return apr_psprintf(cmd->pool, "%s: %s", cmd->cmd->name, msg);
    }
    d->chunked_limit = (apr_off_t)v;
    return NULL;
}

/* PyWorkerPythonHome / PyWorkerPythonPath: cmd->info is the field. */
static const char *pyw_cmd_python(cmd_parms *cmd, void *mconfig,
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
    AP_INIT_TAKE1("PyWorkerPythonHome", pyw_cmd_python,
        &pyw_globals.python_home, RSRC_CONF,
        "default python-home of every group (main server only)"),
    AP_INIT_TAKE1("PyWorkerPythonPath", pyw_cmd_python,
        &pyw_globals.python_path, RSRC_CONF,
        "default python-path (dir[:dir]) of every group (main server only)"),
    { NULL }
};

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

static int pyw_check_ref(server_rec *s, const pyw_group_ref_t *ref)
{
    pyw_group_t *g = pyw_config_find_group(ref->group);

    if (g == NULL) {
        PYW_SLOG(APLOG_ERR, 0, s, 2, ref->group, 0L, "%s: process group "
                 "'%s' is not defined by any PyWorkerDaemonProcess",
                 ref->where, ref->group);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!pyw_config_group_visible(g, ref->server)) {
        PYW_SLOG(APLOG_ERR, 0, s, 3, ref->group, 0L, "%s: process group "
                 "'%s' is defined in another virtual host (%s)", ref->where,
                 ref->group, (const char *)apr_hash_get(pyw_group_where,
                 ref->group, APR_HASH_KEY_STRING));
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (ref->import_script != NULL) {
        *(const char **)apr_array_push(g->import_scripts) =
            ref->import_script;
        *(const char **)apr_array_push(g->import_app_groups) =
            pyw_app_group_for_server(g->import_app_groups->pool,
                                     ref->server, ref->import_app_group);
    }
    return OK;
}

static int pyw_config_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                                 apr_pool_t *ptemp)
{
    memset(&pyw_globals, 0, sizeof(pyw_globals));
    pyw_globals.groups = apr_array_make(pconf, 4, sizeof(pyw_group_t *));
    pyw_globals.groups_by_name = apr_hash_make(pconf);
    pyw_refs = apr_array_make(pconf, 8, sizeof(pyw_group_ref_t));
    pyw_group_where = apr_hash_make(pconf);
    return OK;
}

static int pyw_config_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                                   apr_pool_t *ptemp, server_rec *s)
{
    pyw_group_t **groups = (pyw_group_t **)pyw_globals.groups->elts;
    pyw_group_ref_t *refs = (pyw_group_ref_t *)pyw_refs->elts;
    int i, rc = OK;

    if (pyw_globals.socket_prefix == NULL) {
        pyw_globals.socket_prefix = ap_runtime_dir_relative(pconf,
                                                            "pyworker");
    }
    for (i = 0; i < pyw_globals.groups->nelts; i++) {
        if (pyw_group_default_ids(pconf, s, groups[i]) != OK) {
            rc = HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    for (i = 0; i < pyw_refs->nelts; i++) {
        if (pyw_check_ref(s, &refs[i]) != OK) {
            rc = HTTP_INTERNAL_SERVER_ERROR;
        }
    }
    return rc;
}

/* ---- translate_name ---- */

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
static int pyw_config_translate(request_rec *r)
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
    return OK;
}

const pyw_alias_t *pyw_config_request_alias(request_rec *r)
{
    return ap_get_module_config(r->request_config, &pyworker_module);
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

const char *pyw_config_application_group(request_rec *r)
{
    return pyw_config_string(r, offsetof(pyw_alias_t, application_group),
                             offsetof(pyw_dir_conf_t, application_group),
                             pyw_app_group_global);
}

const char *pyw_config_callable_object(request_rec *r)
{
    return pyw_config_string(r, offsetof(pyw_alias_t, callable_object),
                             offsetof(pyw_dir_conf_t, callable_object),
                             PYW_CALLABLE_DEFAULT);
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

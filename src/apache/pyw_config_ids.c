/*
 * pyw_config_ids.c - the user and group ids a daemon group runs as:
 * user=, group=, supplementary-groups=, socket-user=, script-user= and
 * script-group= resolved while the directive is read, and Apache's User
 * and Group as the default once the whole configuration is.
 */
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <unistd.h>

#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"
#include "unixd.h"

#include "pyw_config_int.h"
#include "pyw_log.h"
#include "../common/pyw_option.h"

/* ---- user= and group= ---- */

/* The number of a "#N" id (spec past the '#'); 0, or -1 if it is not
 * one. */
static int pyw_numeric_id(const char *digits, int64_t *v)
{
    char msg[PYW_MSG_MAX];

    return pyw_option_value(PYW_OPT_INT, digits, 0, INT_MAX, v, msg,
                            sizeof(msg));
}

/* "name" or "#uid", as Apache's User.  0, or -1 if unknown. */
static int pyw_lookup_user(apr_pool_t *p, const char *spec, uid_t *uid,
                           gid_t *primary, const char **name)
{
    struct passwd *pw;
    int64_t v;

    if (spec[0] == '#') {
        if (pyw_numeric_id(spec + 1, &v) < 0) {
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
    int64_t v;

    if (spec[0] == '#') {
        if (pyw_numeric_id(spec + 1, &v) < 0) {
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
const char *pyw_group_resolve_extra_ids(cmd_parms *cmd,
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
    /* A #uid no account has cannot be Apache's children's: every
     * request would be refused at the socket (PYW0110). */
    if (g->socket_user != NULL
        && (pyw_lookup_user(cmd->pool, g->socket_user, &g->socket_uid,
                            &primary, &name) < 0 || name == NULL)) {
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
const char *pyw_group_resolve_ids(cmd_parms *cmd, pyw_group_t *g)
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
    /* The daemon refuses to run Python as root: say so now, not in a
     * restart loop. */
    if (g->user != NULL && g->uid == 0) {
        return apr_psprintf(cmd->pool, "%s %s: user=%s is root: daemons "
                            "never run as root", cmd->cmd->name, g->name,
                            g->user);
    }
    if ((g->user != NULL || g->unix_group != NULL) && g->gid == 0) {
        return apr_psprintf(cmd->pool, "%s %s: %s is group root (gid 0): "
                            "daemons never run as root", cmd->cmd->name,
                            g->name, g->unix_group != NULL
                            ? apr_pstrcat(cmd->pool, "group=", g->unix_group,
                                          NULL)
                            : apr_pstrcat(cmd->pool, "the primary group of "
                                          "user=", g->user, NULL));
    }
    return NULL;
}

/* Apache's User and Group, once the whole configuration is read. */
int pyw_group_default_ids(apr_pool_t *p, server_rec *s,
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

/*
 * pyw_config_check.c - the small checks and the word reading that the
 * directive handlers share: where a directive was written, group and
 * callable names, "name=value" words, python-home and python-path.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apr_lib.h"
#include "apr_strings.h"

#include "httpd.h"
#include "http_config.h"
#include "http_log.h"

#include "pyw_config_int.h"
#include "pyw_log.h"

/* ---- small checks shared by the directives ---- */

const char *pyw_cmd_where(cmd_parms *cmd)
{
    if (cmd->directive == NULL || cmd->directive->filename == NULL) {
        return "the command line";
    }
    return apr_psprintf(cmd->pool, "%s:%d", cmd->directive->filename,
                        cmd->directive->line_num);
}

const char *pyw_check_group_name(cmd_parms *cmd, const char *name)
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
const char *pyw_check_callable(cmd_parms *cmd, const char *name)
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

/*
 * The next "name=value" word of args, "" at the end.  The value is read
 * as a word of its own, as mod_wsgi reads it, so it may be quoted:
 * lang='en_US.UTF-8' and display-name="my site" lose their quotes.  A
 * word without '=' comes back whole (the parser names it).
 */
char *pyw_next_option(apr_pool_t *p, const char **args)
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

/* ---- paths that must exist (configtest says so, not the daemon) ---- */

/* A python-home that is not a directory: the daemon could never start. */
const char *pyw_check_python_home(cmd_parms *cmd, const char *what,
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
void pyw_warn_missing(cmd_parms *cmd, const char *what,
                      const char *path, const char *then)
{
    if (access(path, F_OK) != 0) {
        PYW_SLOG(APLOG_WARNING, errno, cmd->server, 7, NULL, 0L,
                 "%s (%s:%d): %s does not exist; %s", what,
                 cmd->directive->filename, cmd->directive->line_num, path,
                 then);
    }
}

void pyw_check_python_path(cmd_parms *cmd, const char *what,
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

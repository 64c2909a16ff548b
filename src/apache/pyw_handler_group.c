/*
 * pyw_handler_group.c - before any daemon is asked: the daemon group a
 * request names (PyWorkerProcessGroup, PyWorkerRestrictProcess, the
 * vhost it is defined in), the script file it runs, and script-user= /
 * script-group=.  Each refusal is a status with one log line.
 */
#include "apr_strings.h"
#include "httpd.h"

#include "pyw_config.h"
#include "pyw_handler.h"
#include "pyw_handler_int.h"
#include "pyw_log.h"

int pyw_handler_group(request_rec *r, const char *name,
                      const pyw_group_t **gp)
{
    const char *allowed;
    const pyw_group_t *g;

    /* Before the look-up: a name outside the list is refused whether or
     * not such a group exists. */
    if (!pyw_config_group_allowed(r, name, &allowed)) {
        PYW_RLOG(APLOG_ERR, 0, r, 107, name, 0L, "process group '%s' may "
                 "not be used here; PyWorkerRestrictProcess allows only: %s",
                 name, allowed);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    g = pyw_config_find_group(name);
    if (g == NULL) {
        PYW_RLOG(APLOG_ERR, 0, r, 101, name, 0L, "PyWorkerProcessGroup "
                 "'%s' names no PyWorkerDaemonProcess", name);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (!pyw_config_group_visible(g, r->server)) {
        PYW_RLOG(APLOG_ERR, 0, r, 102, name, 0L, "daemon group '%s' is "
                 "defined in another virtual host and cannot be used from "
                 "this one", name);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    *gp = g;
    return OK;
}

int pyw_handler_find_group(request_rec *r, const pyw_group_t **gp)
{
    const char *name = pyw_config_process_group(r);

    if (name == NULL || *name == '\0') {
        PYW_RLOG(APLOG_ERR, 0, r, 100, NULL, 0L,
                 "no PyWorkerProcessGroup for this request");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return pyw_handler_group(r, name, gp);
}

/* script-user= / script-group=: only files of that owner run in g.
 * *finfo is path's, stat'ed here if it does not hold the owner yet. */
int pyw_handler_check_owner(request_rec *r, const pyw_group_t *g,
                            const char *path, apr_finfo_t *finfo)
{
    if (g->script_uid == (uid_t)-1 && g->script_gid == (gid_t)-1) {
        return OK;
    }
    if (!(finfo->valid & APR_FINFO_OWNER)
        && apr_stat(finfo, path, APR_FINFO_OWNER, r->pool) != APR_SUCCESS) {
        finfo->valid &= ~APR_FINFO_OWNER;
    }
    if (!(finfo->valid & APR_FINFO_OWNER)
        || (g->script_uid != (uid_t)-1 && finfo->user != g->script_uid)
        || (g->script_gid != (gid_t)-1 && finfo->group != g->script_gid)) {
        const char *want = apr_pstrcat(r->pool,
            g->script_user ? " script-user=" : "",
            g->script_user ? g->script_user : "",
            g->script_group ? " script-group=" : "",
            g->script_group ? g->script_group : "", NULL);

        PYW_RLOG(APLOG_ERR, 0, r, 106, g->name, 0L, "WSGI script %s is "
                 "owned by uid %ld gid %ld; the group runs only scripts "
                 "of%s", path, (long)finfo->user, (long)finfo->group, want);
        return HTTP_FORBIDDEN;
    }
    return OK;
}

/* PyWorkerPasteApp: the application's name in the ini file, else NULL. */
const char *pyw_handler_paste_app(request_rec *r)
{
    const pyw_alias_t *a = pyw_config_request_alias(r);

    return a != NULL ? a->paste_app : NULL;
}

int pyw_handler_check_script(request_rec *r, const pyw_group_t *g)
{
    if (r->filename == NULL) {
        PYW_RLOG(APLOG_INFO, 0, r, 103, g->name, 0L,
                 "no WSGI script file for this request");
        return HTTP_NOT_FOUND;
    }
    if (r->finfo.filetype == APR_NOFILE
        && apr_stat(&r->finfo, r->filename, APR_FINFO_MIN, r->pool)
           != APR_SUCCESS) {
        r->finfo.filetype = APR_NOFILE;
    }
    if (r->finfo.filetype == APR_NOFILE) {
        if (pyw_handler_paste_app(r) != NULL) {
            return OK;      /* the daemon answers 500 and names it */
        }
        PYW_RLOG(APLOG_INFO, 0, r, 103, g->name, 0L, "WSGI script %s not "
                 "found or unable to stat", r->filename);
        return HTTP_NOT_FOUND;
    }
    if (r->finfo.filetype == APR_DIR) {
        PYW_RLOG(APLOG_ERR, 0, r, 104, g->name, 0L, "WSGI script %s is "
                 "a directory", r->filename);
        return HTTP_FORBIDDEN;
    }
    return pyw_handler_check_owner(r, g, r->filename, &r->finfo);
}

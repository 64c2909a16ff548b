/*
 * pyw_config_int.h - private to the configuration files (pyw_config*.c):
 * what the directive handlers, the registry and the command table share.
 */
#ifndef PYW_CONFIG_INT_H
#define PYW_CONFIG_INT_H

#include "httpd.h"
#include "http_config.h"

#include "pyw_config.h"

#define PYW_GROUP_NAME_MAX  64  /* keeps <prefix>.<pid>.<name>.sock short */
#define PYW_MSG_MAX         256

/* A group named before check_config can know it exists. */
typedef struct {
    const char *group;
    server_rec *server;         /* where the reference was written */
    const char *where;          /* "PyWorkerScriptAlias /x (file:line)" */
    const char *import_script;  /* PyWorkerImportScript or a preload:
                                   its path */
    const char *import_app_group;   /* and its application-group= */
    const char *import_mode;    /* PYW_IMPORT_* (pyw_spec.h); NULL:
                                   PyWorkerImportScript */
    int         any_host;       /* a directory or location outside every
                                   <VirtualHost>: it serves every host, so
                                   a vhost's group there is checked per
                                   request (PYW0102), as mod_wsgi does */
} pyw_group_ref_t;

/* Checks and word reading shared by the directives (pyw_config_check.c). */
const char *pyw_cmd_where(cmd_parms *cmd);
const char *pyw_check_group_name(cmd_parms *cmd, const char *name);
const char *pyw_check_callable(cmd_parms *cmd, const char *name);
/* "file.ini[#name]" into the file (ServerRoot-relative made absolute) and
 * the application's name ("main" without one); a '#' followed by a '/'
 * is part of a directory name.  NULL, or an error naming spec. */
const char *pyw_paste_spec(cmd_parms *cmd, const char *spec,
                           const char **file, const char **name);
char *pyw_next_option(apr_pool_t *p, const char **args);
const char *pyw_check_python_home(cmd_parms *cmd, const char *what,
                                  const char *home);
void pyw_warn_missing(cmd_parms *cmd, const char *what, const char *path,
                      const char *then);
void pyw_check_python_path(cmd_parms *cmd, const char *what,
                           const char *path);

/* The group registry (pyw_config_registry.c). */
pyw_group_ref_t *pyw_note_ref(cmd_parms *cmd, const char *group,
                              const char *what, const char *import_script);
/* Where a group of this name in any case was defined (*as: its name as
 * written), or NULL. */
const char *pyw_config_group_where(const char *name, const char **as);
void pyw_config_add_group(cmd_parms *cmd, pyw_group_t *g);
int pyw_config_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                          apr_pool_t *ptemp);
int pyw_config_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                            apr_pool_t *ptemp, server_rec *s);

/* user=, group= and the other ids of a group (pyw_config_ids.c). */
const char *pyw_group_resolve_ids(cmd_parms *cmd, pyw_group_t *g);
const char *pyw_group_resolve_extra_ids(cmd_parms *cmd, pyw_group_t *g);
int pyw_group_default_ids(apr_pool_t *p, server_rec *s, pyw_group_t *g);

/* translate_name (pyw_config_request.c). */
int pyw_config_translate(request_rec *r);

/* Directive handlers, for the command table in pyw_config.c. */
const char *pyw_cmd_daemon_process(cmd_parms *cmd, void *mconfig,
                                   const char *args);     /* _group.c */
const char *pyw_cmd_socket_prefix(cmd_parms *cmd, void *mconfig,
                                  const char *arg);
const char *pyw_cmd_python(cmd_parms *cmd, void *mconfig, const char *arg);
const char *pyw_cmd_script_alias(cmd_parms *cmd, void *mconfig,
                                 const char *args);       /* _alias.c */
const char *pyw_cmd_paste_app(cmd_parms *cmd, void *mconfig,
                              const char *args);
const char *pyw_cmd_import_script(cmd_parms *cmd, void *mconfig,
                                  const char *args);
const char *pyw_cmd_process_group(cmd_parms *cmd, void *mconfig,
                                  const char *arg);       /* _dir.c */
const char *pyw_cmd_restrict_process(cmd_parms *cmd, void *mconfig,
                                     const char *arg);
const char *pyw_cmd_application_group(cmd_parms *cmd, void *mconfig,
                                      const char *arg);
const char *pyw_cmd_callable_object(cmd_parms *cmd, void *mconfig,
                                    const char *arg);
const char *pyw_cmd_chunked_request(cmd_parms *cmd, void *mconfig,
                                    const char *arg);
const char *pyw_cmd_chunked_limit(cmd_parms *cmd, void *mconfig,
                                  const char *arg);
const char *pyw_cmd_map_head(cmd_parms *cmd, void *mconfig,
                             const char *arg);

#endif /* PYW_CONFIG_INT_H */

/*
 * pyw_config.h - directives, per-server/per-dir configuration and the
 * daemon-group registry (Apache side).
 */
#ifndef PYW_CONFIG_H
#define PYW_CONFIG_H

#include "httpd.h"
#include "http_config.h"
#include "ap_regex.h"
#include "apr_tables.h"
#include "apr_hash.h"

#include "../common/pyw_options.h"

#define PYW_HANDLER_NAME   "pyworker-script"
#define PYW_CALLABLE_DEFAULT "application"
#define PYW_CALLABLE_MAX     128
#define PYW_UNSET          (-1)

/* PyWorkerChunkedRequest: what a chunked request body gets. */
#define PYW_CHUNKED_OFF    0    /* 411 Length Required, as mod_wsgi      */
#define PYW_CHUNKED_SPOOL  1    /* On: read whole, then CONTENT_LENGTH   */
#define PYW_CHUNKED_STREAM 2    /* forwarded as it comes, no CONTENT_LENGTH */

/* PyWorkerMapHEADToGET */
#define PYW_MAP_HEAD_OFF   0    /* HEAD reaches the application as HEAD  */
#define PYW_MAP_HEAD_ON    1    /* always as GET                         */
#define PYW_MAP_HEAD_AUTO  2    /* as GET when an output filter needs the
                                   body (pyw_handler_head.c)             */
/* PyWorkerChunkedRequestLimit when not set: 1 GiB (Apache's own
 * LimitRequestBody applies as well). */
#define PYW_CHUNKED_LIMIT_DEFAULT ((apr_off_t)1 << 30)

struct pyw_group_rt;            /* process manager state (pyw_procmgr.c) */

/* One PyWorkerDaemonProcess. */
typedef struct {
    const char *name;
    server_rec *server;         /* where it was defined (main or a vhost) */
    PYW_OPTION_FIELDS           /* its options as written (pyw_options.h) */
    /* Resolved at config time (pyw_config_group.c): */
    const char *daemon_program; /* the daemon built for python_executable */
    apr_array_header_t *import_scripts;   /* const char *, absolute paths */
    apr_array_header_t *import_app_groups; /* const char *, resolved: one
                                              per import script ("" for
                                              %{GLOBAL}) */
    apr_array_header_t *import_modes;     /* const char *, one per import
                                             script: PYW_IMPORT_* */
    uid_t       uid;            /* ids the daemons run as, from user= and */
    gid_t       gid;            /* group=, else Apache's User and Group   */
    const char *user_name;      /* for initgroups(); NULL: no passwd entry */
    gid_t      *supplementary_gids;
    int         n_supplementary_gids;
    uid_t       socket_uid;     /* (uid_t)-1: Apache's User */
    uid_t       script_uid;     /* (uid_t)-1: any owner */
    gid_t       script_gid;     /* (gid_t)-1: any group */
    int         on_demand;      /* start=on-demand */
    const char *app_file;       /* script= or paste='s file, absolute;
                                   NULL: none (pyworker:// refused) */
    const char *app_paste_name; /* paste=: the application in the ini
                                   file ("main"); NULL for script= */
    const char *app_group_name; /* application-group= as the daemon gets
                                   it: "" for %{GLOBAL} */
    /* Set by the process manager. */
    const char *socket_path;
    int         send_log_id;    /* its server's ErrorLogFormat has %L */
    struct pyw_group_rt *rt;
} pyw_group_t;

/* One PyWorkerScriptAlias / PyWorkerScriptAliasMatch / PyWorkerPasteApp. */
typedef struct {
    const char *uri;            /* prefix, or the regex source */
    ap_regex_t *regex;          /* NULL for a prefix alias */
    const char *script;         /* file; may hold $1.. for a regex alias */
    const char *paste_app;      /* PyWorkerPasteApp: the application's name
                                   in the ini file ("main"); NULL: script */
    const char *process_group;  /* NULL: PyWorkerProcessGroup */
    const char *application_group;  /* NULL: PyWorkerApplicationGroup;
                                       as written (pyw_appgroup.h) */
    const char *callable_object;    /* NULL: PyWorkerCallableObject */
    const char *pass_auth_word;     /* pass-authorization=, as written */
    int         pass_authorization; /* PYW_UNSET: PyWorkerPassAuthorization */
} pyw_alias_t;

typedef struct {
    apr_array_header_t *aliases;    /* pyw_alias_t: this server's, then (in
                                       a vhost) the main server's */
} pyw_server_conf_t;

typedef struct {
    const char *process_group;
    const char *application_group;
    const char *callable_object;    /* NULL -> "application" */
    int         script_reloading;   /* PYW_UNSET -> On */
    int         pass_authorization; /* PYW_UNSET -> Off */
    int         chunked_request;    /* PYW_CHUNKED_*; PYW_UNSET -> On */
    apr_off_t   chunked_limit;      /* PYW_UNSET -> the default      */
    int         error_override;     /* PYW_UNSET -> Off              */
    int         map_head;           /* PYW_MAP_HEAD_*; PYW_UNSET -> Auto */
    apr_array_header_t *restrict_process;   /* PyWorkerRestrictProcess:
                                               const char *; NULL: any */
} pyw_dir_conf_t;

/* Global settings (main server context only). */
typedef struct {
    const char *socket_prefix;      /* default: <runtime dir>/pyworker */
    const char *python_home;
    const char *python_path;
    apr_array_header_t *groups;     /* pyw_group_t *, every group */
    apr_hash_t *groups_by_name;
} pyw_globals_t;

extern module AP_MODULE_DECLARE_DATA pyworker_module;
extern const command_rec pyw_config_cmds[];
extern pyw_globals_t pyw_globals;

void *pyw_config_create_server(apr_pool_t *p, server_rec *s);
void *pyw_config_merge_server(apr_pool_t *p, void *base, void *add);
void *pyw_config_create_dir(apr_pool_t *p, char *dir);
void *pyw_config_merge_dir(apr_pool_t *p, void *base, void *add);

/* How long a daemon of g waits for Apache to take response bytes before
 * it gives the response up (response-socket-timeout, else
 * socket-timeout, else PYW_DEFAULT_DAEMON_IO_MS). */
int64_t pyw_config_response_write_ms(const pyw_group_t *g);

/* Hooks registered by pyw_config_register_hooks(): pre_config resets the
 * registry; translate_name maps PyWorkerScriptAlias URIs. */
void pyw_config_register_hooks(apr_pool_t *p);

/* NULL if no such group. */
pyw_group_t *pyw_config_find_group(const char *name);

/* 1 if requests of server s may use group g: a group defined in the main
 * server serves every vhost; one defined in a vhost serves that vhost and
 * vhosts with the same ServerName (the :80 and :443 pair of one site). */
int pyw_config_group_visible(const pyw_group_t *g, server_rec *s);

/* 1 if the PyWorkerRestrictProcess in force for r (if any) lists group;
 * else 0, and *allowed is the list, space-separated, for a log line. */
int pyw_config_group_allowed(request_rec *r, const char *group,
                             const char **allowed);

/* The alias that translate_name matched for r, or NULL. */
const pyw_alias_t *pyw_config_request_alias(request_rec *r);

/* Effective process / application group for r (alias, then dir config);
 * the application group as written (dflt when neither sets one), for
 * pyw_app_group_resolve(). */
const char *pyw_config_process_group(request_rec *r);
const char *pyw_config_application_group(request_rec *r, const char *dflt);

/* 1 if Authorization goes to the app (alias, then dir config; Off). */
int pyw_config_pass_authorization(request_rec *r);

/* PyWorkerErrorOverride in force for r (Off by default). */
int pyw_config_error_override(request_rec *r);

/* PyWorkerMapHEADToGET in force for r: PYW_MAP_HEAD_* (Auto). */
int pyw_config_map_head(request_rec *r);

/* The name of the WSGI callable in the script (dflt when neither the
 * alias nor the dir config sets one). */
const char *pyw_config_callable_object(request_rec *r, const char *dflt);

#endif /* PYW_CONFIG_H */

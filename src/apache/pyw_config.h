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

#define PYW_HANDLER_NAME   "pyworker-script"
#define PYW_APP_GROUP_GLOBAL "%{GLOBAL}"
#define PYW_CALLABLE_DEFAULT "application"
#define PYW_CALLABLE_MAX     128
#define PYW_UNSET          (-1)

struct pyw_group_rt;            /* process manager state (pyw_procmgr.c) */

/* One PyWorkerDaemonProcess. */
typedef struct {
    const char *name;
    server_rec *server;         /* where it was defined (main or a vhost) */
    int         processes;      /* default 1 */
    int         threads;        /* default 15, as mod_wsgi */
    const char *user;           /* NULL: Apache's User */
    const char *group;          /* NULL: the user's primary group */
    const char *home;
    const char *python_home;    /* NULL: PyWorkerPythonHome */
    const char *python_path;    /* NULL: PyWorkerPythonPath */
    const char *display_name;   /* "%{GROUP}" expanded at start */
    const char *lang;
    const char *locale;
    int         umask;          /* PYW_UNSET: inherited */
    apr_array_header_t *import_scripts;   /* const char *, absolute paths */
    const char *socket_path;    /* set by the process manager */
    struct pyw_group_rt *rt;
    /* Added by pyw_config.c: ids the daemons run as, resolved from user=
     * and group= at config time, else from Apache's User and Group in
     * check_config (User may come after the group). */
    uid_t       uid;
    gid_t       gid;
    const char *user_name;      /* for initgroups(); NULL: no passwd entry */
    /* Lifecycle options (issue 5), mod_wsgi names and units; times in
     * milliseconds, 0 = off unless a default is noted. */
    int64_t     maximum_requests;
    int64_t     restart_interval_ms;
    int64_t     inactivity_timeout_ms;
    int64_t     request_timeout_ms;
    int64_t     deadlock_timeout_ms;    /* default 300 s */
    int64_t     queue_timeout_ms;
    int64_t     connect_timeout_ms;     /* default 15 s (Apache side) */
    int64_t     socket_timeout_ms;      /* default: Apache's Timeout */
    int64_t     response_socket_timeout_ms; /* daemon writes; 0: the above */
    int64_t     startup_timeout_ms;
    int64_t     graceful_timeout_ms;    /* default 15 s */
    int64_t     shutdown_timeout_ms;    /* default 5 s */
    int64_t     eviction_timeout_ms;
    int64_t     listen_backlog;         /* default 100, as mod_wsgi */
    int64_t     memory_limit;           /* RSS bytes */
    int64_t     cpu_time_limit_ms;
    /* Process settings, mod_wsgi names and units. */
    int         cpu_priority;           /* PYW_PRIORITY_UNSET: inherited */
    int64_t     virtual_memory_limit;   /* RLIMIT_AS bytes; 0 = none */
    int64_t     stack_size;             /* worker thread stacks; 0 = libc */
    int64_t     header_buffer_size;     /* largest response header; 0 = any */
    int64_t     send_buffer_size;       /* daemon socket SO_SNDBUF; 0 = OS */
    int64_t     receive_buffer_size;    /* daemon socket SO_RCVBUF; 0 = OS */
    const char *python_eggs;            /* PYTHON_EGG_CACHE, or NULL */
    const char *supplementary_groups;   /* "a,b", as written */
    gid_t      *supplementary_gids;     /* resolved */
    int         n_supplementary_gids;
    const char *socket_user;            /* as written, or NULL */
    uid_t       socket_uid;             /* (uid_t)-1: Apache's User */
    const char *script_user;            /* scripts must be owned by ... */
    const char *script_group;           /* ... as written, or NULL */
    uid_t       script_uid;             /* (uid_t)-1: any owner */
    gid_t       script_gid;             /* (gid_t)-1: any group */
} pyw_group_t;

#define PYW_PRIORITY_UNSET  (-1000)

/* One PyWorkerScriptAlias / PyWorkerScriptAliasMatch. */
typedef struct {
    const char *uri;            /* prefix, or the regex source */
    ap_regex_t *regex;          /* NULL for a prefix alias */
    const char *script;         /* file; may hold $1.. for a regex alias */
    const char *process_group;  /* NULL: PyWorkerProcessGroup */
    const char *application_group;  /* NULL: PyWorkerApplicationGroup */
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
    int         chunked_request;    /* PYW_UNSET -> On  */
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

/* Effective process / application group for r (alias, then dir config). */
const char *pyw_config_process_group(request_rec *r);
const char *pyw_config_application_group(request_rec *r);

/* 1 if Authorization goes to the app (alias, then dir config; Off). */
int pyw_config_pass_authorization(request_rec *r);

/* The name of the WSGI callable in the script (default "application"). */
const char *pyw_config_callable_object(request_rec *r);

#endif /* PYW_CONFIG_H */

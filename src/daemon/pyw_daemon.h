/*
 * pyw_daemon.h - the daemon process: what the Apache parent hands over
 * after fork(), and the entry point that never returns.
 *
 * The spec is plain data so it crosses the fork without APR or httpd
 * types.  The daemon uses APR at most internally; it never sees a
 * request_rec or an httpd filter.
 */
#ifndef PYW_DAEMON_H
#define PYW_DAEMON_H

#include <stdint.h>
#include <sys/types.h>

#define PYW_PRIORITY_KEEP  (-1000)

/* Exit codes the parent interprets (see pyw_procmgr.c). */
#define PYW_DAEMON_EXIT_OK              0   /* asked to stop, stopped     */
#define PYW_DAEMON_EXIT_STARTUP_FAILED  254 /* could not start: back off  */

typedef struct {
    const char   *group;           /* daemon group name                   */
    int           process_index;   /* 0 .. processes-1                    */
    int           processes;       /* processes= of the group             */
    int           threads;         /* worker threads                      */

    int           drop_privileges; /* 1 when started as root              */
    uid_t         uid;             /* user= (resolved)                    */
    gid_t         gid;             /* group= (resolved)                   */
    const char   *user_name;       /* for initgroups()                    */

    const char   *home;            /* chdir() target, or NULL             */
    const char   *python_home;     /* PyConfig.home, or NULL              */
    const char   *python_path;     /* ':'-separated, prepended to sys.path */
    const char   *lang;            /* LANG, or NULL                       */
    const char   *locale;          /* LC_ALL/setlocale, or NULL           */
    int           umask;           /* -1: leave as inherited              */
    int           cpu_priority;    /* nice value; PYW_PRIORITY_KEEP: keep  */
    int64_t       virtual_memory_limit; /* RLIMIT_AS bytes; 0: none        */
    int64_t       stack_size;      /* worker thread stacks; 0: libc's     */
    int64_t       header_buffer_size; /* largest response header; 0: any  */
    int64_t       send_buffer_size;    /* SO_SNDBUF per connection; 0: OS */
    int64_t       receive_buffer_size; /* SO_RCVBUF per connection; 0: OS */
    const char   *python_eggs;     /* PYTHON_EGG_CACHE, or NULL           */
    const gid_t  *supplementary_gids;  /* added to the user's groups      */
    int           n_supplementary_gids;
    const char   *display_name;    /* process title, or NULL              */
    char         *title_area;      /* original argv memory to overwrite   */
    size_t        title_len;       /* its usable length                   */

    const char *const *import_scripts; /* PyWorkerImportScript paths      */
    int           n_import_scripts;

    int           listen_fd;       /* the group's listening Unix socket   */
    struct pyw_board *board;       /* the group's load board, or NULL     */
    int           log_fd;          /* Apache's error log (usually 2)      */
    int           log_level;       /* Apache level: 3 err .. 7 debug      */
    int           startup_delay_ms;/* back-off before starting (restarts) */
    int           shutdown_timeout_ms; /* in-flight requests on SIGTERM   */

    /* Lifecycle (PyWorkerDaemonProcess options, mod_wsgi meaning).  Times
     * in milliseconds, 0 = off unless noted. */
    int64_t       maximum_requests;
    int64_t       restart_interval_ms;
    int64_t       inactivity_timeout_ms;
    int64_t       request_timeout_ms;
    int64_t       deadlock_timeout_ms;   /* default 300 s                 */
    int64_t       queue_timeout_ms;
    int64_t       response_write_timeout_ms; /* one response write to
                                                Apache; 0: the backstop */
    int64_t       graceful_timeout_ms;   /* default 15 s                  */
    int64_t       memory_limit;          /* resident set size, bytes      */
    int64_t       cpu_time_limit_ms;
    int           script_reloading;      /* PyWorkerScriptReloading       */

    /* Events to the parent: one byte each (PYW_STATUS_*), written to this
     * pipe; -1 if none. */
    int           status_fd;
} pyw_daemon_spec_t;

/* Status bytes a daemon writes to spec->status_fd. */
#define PYW_STATUS_READY     'R'  /* Python up, import scripts ran: the
                                     parent may now retire a predecessor */
#define PYW_STATUS_RECYCLE   'C'  /* replace me (a limit was reached); the
                                     daemon keeps serving until SIGTERM   */
#define PYW_STATUS_ROLLING   'G'  /* restart my whole group, one process at
                                     a time (SIGUSR2, script touched)     */

/* The application the daemon serves (struct pyw_app in pyw_app.h). */
typedef struct pyw_app pyw_app_t;

/* Run the daemon, serving app.  Never returns: exits with a
 * PYW_DAEMON_EXIT_* code. */
void pyw_daemon_main(const pyw_daemon_spec_t *spec, const pyw_app_t *app)
    __attribute__((noreturn));

#endif /* PYW_DAEMON_H */

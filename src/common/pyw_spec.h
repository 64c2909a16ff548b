/*
 * pyw_spec.h - what a daemon process is given, and how it crosses exec.
 *
 * The Apache parent forks, lays out a few descriptors at fixed numbers,
 * writes the spec of that one daemon into a memfd and execs the daemon
 * program (pyw_exec.c).  The daemon reads the spec back (pyw_main.c).
 * Nothing else of the parent reaches it: no configuration of other
 * groups or vhosts, no keys, no environment beyond a fixed few names.
 *
 * Encoding: a sequence of "key\0value\0" pairs; numbers in decimal; a
 * NULL string is left out; an array repeats its key.  The decoder
 * refuses an unknown key, so a daemon program of another build fails
 * loudly instead of running with half its settings.
 */
#ifndef PYW_SPEC_H
#define PYW_SPEC_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pyw_options.h"

/* Descriptors of an exec'd daemon: 0 /dev/null, 1 and 2 the error log. */
#define PYW_EXEC_LISTEN_FD   3      /* the group's listening socket      */
#define PYW_EXEC_STATUS_FD   4      /* status pipe to the parent         */
#define PYW_EXEC_BOARD_FD    5      /* the group's load board (memfd)    */
#define PYW_EXEC_SPEC_FD     6      /* this spec (memfd), read once      */
#define PYW_EXEC_WBOARD_FD   7      /* the group's worker board (memfd)  */
#define PYW_EXEC_FIRST_FREE  8

/* Exit codes the parent interprets (see pyw_procmgr.c). */
#define PYW_DAEMON_EXIT_OK              0   /* asked to stop, stopped     */
#define PYW_DAEMON_EXIT_STARTUP_FAILED  254 /* could not start: back off  */

/* Status bytes a daemon writes to its status pipe. */
#define PYW_STATUS_READY     'R'  /* Python up, import scripts ran: the
                                     parent may now retire a predecessor */
#define PYW_STATUS_RECYCLE   'C'  /* replace me (a limit was reached, or
                                     a preload failed); the daemon keeps
                                     serving until told to stop
                                     (PYW_SIG_RETIRE)                     */
#define PYW_STATUS_ROLLING   'G'  /* restart my whole group, one process at
                                     a time (SIGUSR2, script touched)     */
#define PYW_STATUS_IDLE      'I'  /* no request for idle-timeout: the parent
                                     stops the group once every process of
                                     it said so (PYW_RETIRE_IDLE)         */
#define PYW_STATUS_ACTIVE    'A'  /* a request came after IDLE            */
#define PYW_STATUS_QUIET     'Q'  /* replace me: inactivity-timeout (no
                                     request for that long); my successor
                                     counts that quiet towards
                                     idle-timeout                         */
#define PYW_STATUS_SIGNAL    'S'  /* replace me: someone else than Apache
                                     sent me SIGTERM or SIGUSR1 (a deploy
                                     script); as RECYCLE otherwise        */

/*
 * How the parent stops a daemon, so that the daemon knows how long its
 * requests in flight may run (pyw_daemon_stop.c) before the parent's SIGKILL
 * (pyw_slots.c, pyw_group_stop_budget):
 *   PYW_SIG_RETIRE with sigqueue() value PYW_RETIRE_RECYCLE: replaced
 *     because a limit was reached: graceful-timeout, then atexit within
 *     shutdown-timeout;
 *   PYW_SIG_RETIRE with value PYW_RETIRE_EVICT: replaced by a rolling or
 *     an Apache restart: eviction-timeout (else graceful-timeout), then
 *     atexit within shutdown-timeout;
 *   PYW_SIG_RETIRE with value PYW_RETIRE_IDLE: the group was idle for
 *     idle-timeout and stops (nothing replaces it): as RECYCLE;
 *   PYW_SIG_RETIRE with value PYW_RETIRE_STALE: Apache restarted while
 *     the daemon was still starting (it is not handed over), or
 *     PYW_RETIRE_UNCONFIGURED: without its group or process slot: as
 *     RECYCLE, the values only say why;
 *   PYW_SIG_RETIRE with value PYW_RETIRE_SIGNAL: replaced because it
 *     said PYW_STATUS_SIGNAL: as EVICT (a restart asked from outside);
 *   PYW_SIG_APACHE_STOP: Apache stops or restarts hard: requests and
 *     atexit share shutdown-timeout.  Also the parent-death signal, and
 *     what Ctrl-C sends a foreground Apache's whole process group.
 * A plain SIGTERM from the Apache parent (prefork stopping signals its
 * whole process group), or the daemon's own (PYW_RETIRE_SELF), counts as
 * RECYCLE; a SIGTERM or SIGINT from any other process, or from the
 * application (kill(1) by hand, os.kill(os.getpid(), SIGINT) as mod_wsgi
 * documents for code reloading), is no stop but a request for a
 * successor (PYW_STATUS_SIGNAL), as SIGUSR1 is.  A later signal with a
 * shorter budget shortens the wait; nothing lengthens it.
 */
#define PYW_SIG_RETIRE       SIGTERM
#define PYW_SIG_APACHE_STOP  SIGINT
#define PYW_RETIRE_RECYCLE   1
#define PYW_RETIRE_EVICT     2
#define PYW_RETIRE_IDLE      3
#define PYW_RETIRE_STALE     4
#define PYW_RETIRE_UNCONFIGURED 5
#define PYW_RETIRE_SIGNAL    6
#define PYW_RETIRE_SELF      7  /* the daemon's own stop (its socket is
                                   gone...): a plain SIGTERM's budget   */

#define PYW_PRIORITY_KEEP  PYW_PRIORITY_UNSET

/* How an import entry is loaded at daemon start, before READY:
 *   "script"      PyWorkerImportScript: a failure stops the start (254);
 *   "preload"     a script whose alias names process-group= and
 *                 application-group= (mod_wsgi's rule), or the group's
 *                 script=: a failure stops the start of a daemon that is
 *                 `replacing` a serving one; any other daemon logs it,
 *                 starts (its requests try again) and asks for its own
 *                 replacement (PYW_STATUS_RECYCLE);
 *   "paste:NAME"  the same for application NAME of a PasteDeploy file. */
#define PYW_IMPORT_SCRIPT   "script"
#define PYW_IMPORT_PRELOAD  "preload"
#define PYW_IMPORT_PASTE    "paste:"

typedef struct {
    /* The group's PyWorkerDaemonProcess options (pyw_options.h), with
     * python_home, python_path and display_name already resolved. */
    PYW_OPTION_FIELDS

    const char   *group;           /* daemon group name                   */
    int           process_index;   /* 0 .. processes-1                    */
    int           keeper_pid;      /* its parent, when it was forked: the
                                      daemon stops if it has another one  */
    int           apache_pid;      /* Apache's parent: its signals are
                                      Apache's, not an operator's         */
    int           wboard_lane;     /* its worker board lane (pyw_wboard.h) */
    int           drop_privileges; /* 1 when started as root              */
    uid_t         uid;             /* user= (resolved)                    */
    gid_t         gid;             /* group= (resolved)                   */
    const char   *user_name;       /* for initgroups()                    */
    uid_t         script_uid;      /* script-user= (resolved); -1: any    */
    gid_t         script_gid;      /* script-group= (resolved); -1: any   */
    const gid_t  *supplementary_gids;  /* added to the user's groups      */
    int           n_supplementary_gids;
    const char *const *import_scripts; /* PyWorkerImportScript paths      */
    int           n_import_scripts;
    const char *const *import_app_groups; /* the application group of
                                          each ("" %{GLOBAL}); missing
                                          ones are %{GLOBAL}             */
    int           n_import_app_groups;
    const char *const *import_modes;  /* how each is loaded (below);
                                          missing ones are "script"      */
    int           n_import_modes;
    int64_t       response_write_timeout_ms; /* one response write to
                                                Apache; 0: the backstop */
    int           script_reloading;      /* PyWorkerScriptReloading       */
    int           log_level;       /* Apache level: 3 err .. 7 debug      */
    const char   *log_format;      /* its ErrorLogFormat; NULL: default   */
    const char   *log_server;      /* its ServerName (%v), or NULL        */
    int           log_syslog;      /* its ErrorLog is syslog: log there   */
    int           syslog_facility; /* LOG_LOCAL7 and the like             */
    const char   *syslog_tag;      /* openlog()'s ident                   */
    int           startup_delay_ms;/* back-off before starting (restarts) */
    int64_t       quiet_since_ms;  /* its slot's last request, on the
                                      CLOCK_MONOTONIC ms clock of
                                      pyw_io_now_ms (idle-timeout); 0   */
    int           replacing;       /* 1: the slot's previous process serves
                                      until this one is ready, so a failed
                                      preload fails the start (254) and
                                      that one serves on; 0: the daemon
                                      starts anyway (pyw_interp.c)        */

    /* Not encoded: descriptors and memory of the daemon itself. */
    int           listen_fd;       /* the group's listening Unix socket   */
    int           status_fd;       /* status pipe, or -1                  */
    int           log_fd;          /* Apache's error log (usually 2)      */
    struct pyw_board *board;       /* the group's load board, or NULL     */
    struct pyw_wboard *wboard;     /* its worker board, or NULL           */
    const char   *hosted_ext;      /* the daemon as an extension module of
                                      the group's Python executable, to
                                      exec into (pyw_hosted.c), or NULL */
} pyw_daemon_spec_t;

/* A malloc()ed encoding of spec (*len bytes), or NULL (ENOMEM). */
char *pyw_spec_encode(const pyw_daemon_spec_t *spec, size_t *len);

/*
 * Decode buf into spec, which is zeroed first; strings point into buf
 * and arrays are malloc()ed, so both live as long as the process.
 * Descriptors are set to -1.  0, or -1 with msg saying what is wrong.
 */
int pyw_spec_decode(char *buf, size_t len, pyw_daemon_spec_t *spec,
                    char *msg, size_t msglen);

/* Read all of fd (from offset 0) into a malloc()ed *buf and decode it;
 * the same results.  The spec's strings live in *buf. */
int pyw_spec_read_fd(int fd, char **buf, pyw_daemon_spec_t *spec,
                     char *msg, size_t msglen);

#endif /* PYW_SPEC_H */

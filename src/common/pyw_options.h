/*
 * pyw_options.h - every PyWorkerDaemonProcess option, defined once.
 *
 * Each row of PYW_DAEMON_OPTIONS is
 *   X(field, "name", KIND, min, max, default, "default as documented",
 *     "meaning")
 * and from this list alone come: the option fields of a group (Apache
 * side, pyw_config.h) and of the daemon spec (pyw_spec.h), the parse
 * table and the defaults (pyw_config_group.c), the hand-over to the exec'd
 * daemon (pyw_spec.c), and README's option table (`make options-doc`,
 * checked by `make layout`).
 *
 * KIND is a pyw_option_kind_e without its PYW_OPT_ prefix.  Times are
 * stored in milliseconds, sizes in bytes.  Names, meanings and units are
 * mod_wsgi's.
 */
#ifndef PYW_OPTIONS_H
#define PYW_OPTIONS_H

#include <stdint.h>

#include "pyw_option.h"
#include "pyw_proto.h"         /* PYW_MAX_META_PAYLOAD */

#define PYW_DAY_MS       (86400LL * 1000)
#define PYW_YEAR_MS      (365 * PYW_DAY_MS)
#define PYW_GIB          ((int64_t)1 << 30)
#define PYW_PRIORITY_UNSET  (-1000)     /* cpu-priority: inherited */
/* Defaults also used where a group is not known (a daemon of a group
 * that left the configuration) or a 0 means "the default". */
#define PYW_DEFAULT_CONNECT_MS    (15 * 1000)
#define PYW_DEFAULT_GRACEFUL_MS   (15 * 1000)
#define PYW_DEFAULT_SHUTDOWN_MS   (5 * 1000)
/* A daemon's wait on Apache when neither response-socket-timeout nor
 * socket-timeout is set (Apache's Timeout is not the daemon's to know). */
#define PYW_DEFAULT_DAEMON_IO_MS  (300 * 1000)
#define PYW_UMASK_UNSET     (-1)        /* umask: inherited        */

#define PYW_DAEMON_OPTIONS(X) \
    X(processes, "processes", INT, 1, 1000, 1, "`1`", \
      "Number of daemon processes. With more than one, Apache sends " \
      "each request to the process with the most free workers (the " \
      "shortest queue), a daemon accepts new connections only while it " \
      "has a free worker (unless no sibling has one), and a request that " \
      "still finds every worker busy for 1 ms or more is handed back to " \
      "Apache, which sends it to a sibling with a free worker.") \
    X(threads, "threads", INT, 1, 1000, 15, "`15`", \
      "Worker threads per process, all started up front; one request " \
      "runs start to end on one thread.") \
    X(start, "start", STRING, 0, 0, 0, "`always`", \
      "`always`: the daemons start with Apache (and at each restart). " \
      "`on-demand`: Apache creates the group's socket but starts no " \
      "daemon until the first connection; that request waits in the " \
      "socket's backlog while the group starts (see connect-timeout).") \
    X(python_executable, "python-executable", STRING, 0, 0, 0, \
      "the first `--with-python`", \
      "The Python the group runs: one that `./configure --with-python` " \
      "built a daemon program for (configtest lists them).") \
    X(user, "user", STRING, 0, 0, 0, "Apache's `User`", \
      "The user the daemons run as (`name` or `#uid`), when Apache starts " \
      "as root. Real, effective and saved uid are all set; never root.") \
    X(unix_group, "group", STRING, 0, 0, 0, "`user`'s primary group", \
      "The daemons' Unix group (Apache's `Group` without `user=`).") \
    X(home, "home", STRING, 0, 0, 0, "the user's home", \
      "Working directory of the daemons; an absolute path.") \
    X(python_home, "python-home", STRING, 0, 0, 0, "`PyWorkerPythonHome`", \
      "A virtualenv or prefix of the group's Python (`sys.prefix`); an " \
      "absolute path.") \
    X(python_path, "python-path", STRING, 0, 0, 0, "`PyWorkerPythonPath`", \
      "Directories (`dir[:dir]`) added to the front of `sys.path`.") \
    X(display_name, "display-name", STRING, 0, 0, 0, \
      "program and group", \
      "Process title in `ps`; `%{GROUP}` becomes `(pyworker:<group>)`.") \
    X(lang, "lang", STRING, 0, 0, 0, "unset", "`LANG` in the daemons.") \
    X(locale, "locale", STRING, 0, 0, 0, "unset", \
      "Locale of the daemons (`LC_ALL` and `setlocale`).") \
    X(umask, "umask", OCTAL, 0, 0777, PYW_UMASK_UNSET, "inherited", \
      "The daemons' umask, in octal (`0002`).") \
    X(maximum_requests, "maximum-requests", INT, 0, INT32_MAX, 0, "`0`", \
      "Replace a daemon after it served N requests.") \
    X(restart_interval_ms, "restart-interval", SECONDS, 0, PYW_YEAR_MS, 0, \
      "`0`", "Replace a daemon after it ran S seconds.") \
    X(inactivity_timeout_ms, "inactivity-timeout", SECONDS, 0, PYW_YEAR_MS, \
      0, "`0`", "Replace a daemon after S seconds without a request " \
      "(counted from its first request).") \
    X(idle_timeout_ms, "idle-timeout", SECONDS, 0, PYW_YEAR_MS, 0, "`0`", \
      "After S seconds without a request in any of its processes, the " \
      "group's daemons finish and exit, and the next request starts the " \
      "group again, as with `start=on-demand` (`inactivity-timeout` " \
      "replaces a daemon instead).") \
    X(memory_limit, "memory-limit", BYTES, 0, (int64_t)1 << 50, 0, "`0`", \
      "Replace a daemon whose resident set passes BYTES (`512M`). An idle " \
      "daemon first gives freed heap back, so only memory in use counts. " \
      "At least 32M.") \
    X(cpu_time_limit_ms, "cpu-time-limit", SECONDS, 0, PYW_YEAR_MS, 0, \
      "`0`", "Replace a daemon after S seconds of CPU time.") \
    X(request_timeout_ms, "request-timeout", SECONDS, 0, PYW_DAY_MS, 0, \
      "`0`", "A request running longer gets 504 within a second; every " \
      "thread's Python stack is logged and the daemon replaced gracefully.") \
    X(deadlock_timeout_ms, "deadlock-timeout", SECONDS, 0, PYW_DAY_MS, \
      300 * 1000, "`300`", "The GIL held for S seconds (seen from outside " \
      "Python): stacks logged, daemon replaced. At least 1 second.") \
    X(queue_timeout_ms, "queue-timeout", SECONDS, 0, PYW_DAY_MS, 0, "`0`", \
      "A request that waited longer for a worker (time in Apache and the " \
      "backlog included) gets 503 with `Retry-After`, without running.") \
    X(queue_limit, "queue-limit", INT, 0, 1000000, 0, "`0`", \
      "At most N requests of the group wait for a worker: the group's " \
      "requests in Apache (running, waiting or sending their response) " \
      "are at most processes x threads + N, and one more gets 503 with " \
      "`Retry-After` at once (PYW0143), so a slow or flooded site cannot " \
      "hold every Apache thread. Not mod_wsgi's; `0`: no limit.") \
    X(connect_timeout_ms, "connect-timeout", SECONDS, 0, PYW_DAY_MS, \
      PYW_DEFAULT_CONNECT_MS, "`15`", "How long Apache tries to connect to the group " \
      "and get the greeting; then 503 with `Retry-After`. While a daemon " \
      "of the group is starting (its imports and preloads; an on-demand " \
      "group's first request) and no start has failed since, the " \
      "connection waits on, up to `startup-timeout` (else Apache's " \
      "`Timeout`) in all. When the group's starts failed twice in a row " \
      "and none is under way (the next waits out its back-off), it gets " \
      "its 503 at once (PYW0110).") \
    X(socket_timeout_ms, "socket-timeout", SECONDS, 0, PYW_DAY_MS, 0, \
      "Apache's `Timeout`", "Limit of each single wait on a daemon socket; " \
      "then 504.") \
    X(response_socket_timeout_ms, "response-socket-timeout", SECONDS, 0, \
      PYW_DAY_MS, 0, "socket-timeout", "Limit of each wait of the daemon " \
      "to pass response bytes to Apache; past it the request is aborted " \
      "(PYW0326) and the worker is free again (`0` everywhere: 300 s).") \
    X(startup_timeout_ms, "startup-timeout", SECONDS, 0, PYW_DAY_MS, 0, \
      "`0`", "A daemon not ready within S is killed and retried with " \
      "back-off; `0` waits.") \
    X(graceful_timeout_ms, "graceful-timeout", SECONDS, 0, PYW_DAY_MS, \
      PYW_DEFAULT_GRACEFUL_MS, "`15`", "Time a daemon being replaced has to finish its " \
      "running requests.") \
    X(eviction_timeout_ms, "eviction-timeout", SECONDS, 0, PYW_DAY_MS, 0, \
      "`0`", "The same for rolling and Apache restarts and for a " \
      "daemon sent SIGUSR1 or SIGTERM by hand (`0`: " \
      "graceful-timeout); it can only shorten graceful-timeout.") \
    X(shutdown_timeout_ms, "shutdown-timeout", SECONDS, 0, PYW_DAY_MS, \
      PYW_DEFAULT_SHUTDOWN_MS, "`5`", "After graceful-timeout, time before SIGKILL; on " \
      "`apachectl stop`, the time running requests and atexit get " \
      "(SIGINT), with SIGKILL 2 s after it.") \
    X(listen_backlog, "listen-backlog", INT, 1, 65535, 100, "`100`", \
      "`listen()` backlog of the group's socket.") \
    X(cpu_priority, "cpu-priority", INT, -20, 20, PYW_PRIORITY_UNSET, \
      "inherited", "Nice value of the daemons (below 0 needs Apache " \
      "started as root).") \
    X(virtual_memory_limit, "virtual-memory-limit", BYTES, 0, \
      (int64_t)1 << 50, 0, "none", "Address-space limit (`RLIMIT_AS`): an " \
      "allocation past it raises `MemoryError` in that request (500). " \
      "Leave room for threads x stack size; malloc then keeps 2 arenas " \
      "(each reserves 64 MiB of address space).") \
    X(stack_size, "stack-size", BYTES, 65536, PYW_GIB, 0, "libc's", \
      "Stack size of the worker threads, rounded up to whole pages; " \
      "at least 64K (Python needs that much for a request).") \
    X(header_buffer_size, "header-buffer-size", BYTES, 8192, \
      PYW_MAX_META_PAYLOAD, 0, "none (1M for all)", \
      "Largest single response header; a larger one makes " \
      "`start_response` raise `ValueError` (500). At least 8K, as " \
      "in mod_wsgi.") \
    X(send_buffer_size, "send-buffer-size", BYTES, 0, PYW_GIB, 0, \
      "the kernel's", "`SO_SNDBUF` of the daemon's connections to Apache.") \
    X(receive_buffer_size, "receive-buffer-size", BYTES, 0, PYW_GIB, 0, \
      "the kernel's", "`SO_RCVBUF` of the daemon's connections to Apache.") \
    X(python_eggs, "python-eggs", STRING, 0, 0, 0, "unset", \
      "`PYTHON_EGG_CACHE` of the daemons; an absolute path.") \
    X(supplementary_groups, "supplementary-groups", STRING, 0, 0, 0, \
      "none", "Unix groups (`g1,g2`) added to the user's own; id 0 is " \
      "refused.") \
    X(socket_user, "socket-user", STRING, 0, 0, 0, "Apache's `User`", \
      "Owner of the group's socket (mode 0600), for mpm-itk or " \
      "mod_ruid2; only that user can connect.") \
    X(script_user, "script-user", STRING, 0, 0, 0, "any", \
      "Only WSGI scripts and `PyWorkerPasteApp` ini files owned by this " \
      "user run in the group (also its own script= or paste= file, " \
      "served through mod_proxy); others get 403 and PYW0106. The daemon " \
      "checks the file it opens again (a symlink swapped after Apache's " \
      "check: 500, PermissionError in PYW0311 for a script, PYW0313 for " \
      "an ini file).") \
    X(script_group, "script-group", STRING, 0, 0, 0, "any", \
      "The same for the scripts' Unix group.") \
    X(own_gil, "own-gil", STRING, 0, 0, 0, "none", \
      "Application groups (`name[,name...]`, or `*` for every named one) " \
      "whose sub-interpreter gets a GIL of its own (PEP 684): their " \
      "requests run in parallel with the other interpreters'. Python 3.12 " \
      "or later; C extensions must support it.") \
    X(script, "script", STRING, 0, 0, 0, "none", \
      "The WSGI script the group runs for requests that reach it through " \
      "mod_proxy (`ProxyPass /app pyworker://GROUP/`, `BalancerMember " \
      "pyworker://GROUP`). Each daemon loads it when it starts, before " \
      "it is ready (PYW0317; a failure is logged and its requests try " \
      "again).") \
    X(paste, "paste", STRING, 0, 0, 0, "none", \
      "The same as a PasteDeploy file, `file.ini` or `file.ini#name` " \
      "(default `main`); either `script=` or `paste=`.") \
    X(application_group, "application-group", STRING, 0, 0, 0, \
      "`%{GLOBAL}`", \
      "With `script=` or `paste=`: the application group (interpreter) " \
      "that app runs in, for requests through mod_proxy and for health " \
      "checks; `%{GLOBAL}` or a name. `PyWorkerApplicationGroup` where a " \
      "request matches wins for that request.") \
    X(callable_object, "callable-object", STRING, 0, 0, 0, \
      "`application`", \
      "With `script=`: the WSGI callable's name, likewise; " \
      "`PyWorkerCallableObject` where a request matches wins.")

/* mod_wsgi options refused by name (configtest: "not supported yet"). */
#define PYW_DAEMON_OPTIONS_NOT_YET(Y) \
    Y("socket-rotation") Y("response-buffer-size") Y("server-metrics") \
    Y("chroot") Y("newrelic-config-file") Y("newrelic-environment")

/* The C type each kind is stored as. */
#define PYW_OPT_CTYPE_INT       int
#define PYW_OPT_CTYPE_OCTAL     int
#define PYW_OPT_CTYPE_SECONDS   int64_t
#define PYW_OPT_CTYPE_BYTES     int64_t
#define PYW_OPT_CTYPE_STRING    const char *

/* Expands to one struct member per option (used in both structs). */
#define PYW_OPTION_FIELD(field, name, kind, min, max, def, defdoc, doc) \
    PYW_OPT_CTYPE_##kind field;
#define PYW_OPTION_FIELDS PYW_DAEMON_OPTIONS(PYW_OPTION_FIELD)

/* Sets every option of `obj` (a pointer) to its default. */
#define PYW_OPTION_SET_DEFAULT(field, name, kind, min, max, def, defdoc, \
                               doc) \
    pyw_opts_->field = (PYW_OPT_CTYPE_##kind)(def);
#define PYW_OPTIONS_SET_DEFAULTS(obj) \
    do { \
        __typeof__(obj) pyw_opts_ = (obj); \
        PYW_DAEMON_OPTIONS(PYW_OPTION_SET_DEFAULT) \
    } while (0)

/* Copies every option from `src` to `dst` (structs of either kind). */
#define PYW_OPTION_COPY(field, name, kind, min, max, def, defdoc, doc) \
    pyw_dst_->field = pyw_src_->field;
#define PYW_OPTIONS_COPY(dst, src) \
    do { \
        __typeof__(dst) pyw_dst_ = (dst); \
        __typeof__(src) pyw_src_ = (src); \
        PYW_DAEMON_OPTIONS(PYW_OPTION_COPY) \
    } while (0)

/* A pyw_option_t row for `type`'s field. */
#define PYW_OPTION_ROW(type, field, name, kind, min, max) \
    { name, PYW_OPT_##kind, offsetof(type, field), min, max }

#endif /* PYW_OPTIONS_H */

/*
 * pyw_script.h - WSGI script files, each loaded once per interpreter
 * (application group).
 *
 * A script is compiled and executed as a module named
 * "_pyworker_<hash of path>" (registered in sys.modules, __file__ set),
 * like mod_wsgi's script modules.  The first request (or
 * PyWorkerImportScript) loads it; concurrent requests for a script that
 * is still loading wait for that load, with the GIL released, and reuse
 * it.  A load that fails is logged with its traceback and retried on the
 * next request.  Each interpreter loads its own copy, into its own
 * sys.modules.
 *
 * GIL: every function here is called with the GIL of ip (the current
 * interpreter) held.
 */
#ifndef PYW_SCRIPT_H
#define PYW_SCRIPT_H

#include "pyw_python.h"

#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

typedef struct pyw_interp pyw_interp_t;

/* PyWorkerScriptReloading, the group's setting (spec->script_reloading),
 * used when a request does not say (see pyw_script_application).  Set
 * once at start. */
void pyw_script_reloading(int on);

/* script-user= / script-group= (spec->script_uid/gid, -1: any): a script
 * file opened with another owner is refused (PermissionError), so one
 * swapped in after Apache checked the path does not run.  Set once at
 * start. */
void pyw_script_owner(uid_t uid, gid_t gid);

/* Preload a script (PyWorkerImportScript): 0, or -1 with the failure
 * logged.  The script does not need an `application`. */
int pyw_script_import(pyw_interp_t *ip, const char *path);

/* How a preload's failure line ends in a daemon that replaces a serving
 * one (pyw_spec.h `replacing`): it exits 254 next (PYW0210). */
#define PYW_PRELOAD_NO_START  "not starting this daemon: it would replace " \
                              "one that serves, which serves on"

/* Preload path in ip at start (an alias with process-group= and
 * application-group=, or the group's script=): 0, or -1 with the
 * failure logged (PYW0311) and the script left unloaded, so that its
 * requests load it again.  `replacing` (pyw_spec.h) only changes what
 * the line says will happen.  GIL held. */
int pyw_script_preload(pyw_interp_t *ip, const char *path, int replacing);

/*
 * The `application` callable of the script at path (raw bytes as Apache
 * sent SCRIPT_FILENAME), loading the script first if needed.  New
 * reference, or NULL with the failure logged (uri may be NULL) and no
 * exception left set.
 *
 * reloading (PyWorkerScriptReloading for this request; -1: the group's
 * setting): when on and the file changed since it was loaded (mtime or
 * inode; looked at no more than once a second per script), log it and
 * ask the parent, once, for a rolling restart of the group
 * (PYW_STATUS_ROLLING).  This process keeps serving the code it loaded;
 * the replacements load the new file.
 * callable_name: the attribute to return (PyWorkerCallableObject); NULL
 * means "application".
 */
PyObject *pyw_script_application(pyw_interp_t *ip, const char *path,
                                 const char *uri, int reloading,
                                 PyObject *callable_name);

/*
 * The whole file at path as a new bytes object, read from the descriptor
 * it checked: a regular file of at most 64 MiB whose owner is the one
 * script-user= / script-group= require (PermissionError if not), so a
 * symlink swapped after Apache's check does not hand over another file.
 * *st is that file's fstat.  NULL with OSError set.  Scripts and
 * PasteDeploy files (pyw_paste.c) are both read through this.
 */
PyObject *pyw_script_read(const char *path, struct stat *st);

/*
 * 1 if the file at path is no longer the one loaded (mtime, device or
 * inode differ); 0 if it is, or cannot be looked at (gone mid-deploy).
 * stat() runs without the GIL: call with it held.  Scripts and
 * PasteDeploy files (pyw_paste.c) both ask this.
 */
int pyw_script_file_changed(const char *path, const struct timespec *mtime,
                            dev_t dev, ino_t ino);

/*
 * Log the current Python exception and clear it: one headline
 * (printf-style) at `level` with `code`, then the traceback, one log line
 * per line.  Without a current exception, only the headline.  An
 * extension module refusing this interpreter is one PYW0316 line instead
 * (pyw_refuse.h).
 */
void pyw_script_log_exception(int level, int code, const char *uri,
                              const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif /* PYW_SCRIPT_H */

/*
 * pyw_hosted.c - the exec from the daemon program into the group's Python
 * executable (pyw_hosted.h); pyw_hosted_entry.c is the other side.
 *
 * What the exec keeps is what the steps before Python made: user and
 * groups, working directory, environment, limits, nice, umask, the
 * parent-death signal, descriptors 0-4 (made inheritable here) and the
 * spec and boards at 5-7.  The daemon's signals stay blocked across it,
 * so a stop request during Python's own start waits for the daemon's
 * handlers instead of killing it half-started.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/pyw_elf.h"
#include "../common/pyw_spec.h"
#include "../daemon/pyw_daemon.h"
#include "../daemon/pyw_dlog.h"
#include "pyw_hosted.h"

/* Log codes of this file (README.md lists them all). */
#define HOSTED_LOG_EMBEDDED     306  /* notice/info: Python embedded, why */
#define HOSTED_LOG_EXEC_FAILED  307  /* warning: exec into Python failed  */

/* Python's -c: sys.path[0] is "" (the working directory) for -c, which
 * the embedded interpreter never had; then the module from its path (no
 * extension suffix: Debian's lintian takes any .so beside Apache's
 * modules for one).  No name is bound in __main__, which stays as empty
 * as when embedded. */
#define HOSTED_BOOT \
    "del __import__('sys').path[0]\n" \
    "__import__('importlib.util').util.module_from_spec(" \
    "__import__('importlib.util').util.spec_from_file_location(" \
    "'pyworker_daemon', __import__('sys').argv[1], loader=" \
    "__import__('importlib.machinery').machinery.ExtensionFileLoader(" \
    "'pyworker_daemon', __import__('sys').argv[1]))).run()\n"

#define HOSTED_MAX_TITLE 8

static char hosted_ext[PATH_MAX + 4];
static char *hosted_title[HOSTED_MAX_TITLE];
static int hosted_ntitle;

const char *pyw_hosted_prepare(int argc, char **argv)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    int i;

    if (n <= 0) {
        return NULL;
    }
    self[n] = '\0';
    snprintf(hosted_ext, sizeof(hosted_ext), "%s.ext", self);
    if (access(hosted_ext, F_OK) != 0) {
        return NULL;
    }
    for (i = 0; i < argc && i < HOSTED_MAX_TITLE; i++) {
        hosted_title[i] = argv[i];
    }
    hosted_ntitle = i;
    return hosted_ext;
}

static int hosted_inheritable(int fd)
{
    int flags = fcntl(fd, F_GETFD);

    return flags < 0 || fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) == 0
           ? 0 : -1;
}

int pyw_hosted_exec(const char *ext, const char *program,
                    const char *python_home)
{
    char *argv[4 + HOSTED_MAX_TITLE + 1];
    sigset_t all, old;
    int i, n = 0, err;

    if (access(ext, R_OK) != 0) {
        pyw_dlog(PYW_LOG_NOTICE, HOSTED_LOG_EMBEDDED, NULL, "Python runs "
                 "embedded in the daemon program: uid %ld cannot read %s "
                 "(%s)", (long)getuid(), ext, strerror(errno));
        return -1;
    }
    /* An executable on the shared libpython runs the same code as this
     * program, and may need a library path this environment lacks. */
    if (pyw_elf_needs(program, "libpython") != 0) {
        pyw_dlog(PYW_LOG_INFO, HOSTED_LOG_EMBEDDED, NULL, "Python runs "
                 "embedded in the daemon program: %s %s", program,
                 access(program, R_OK) == 0 ? "links the shared libpython"
                 : "cannot be read");
        return -1;
    }
    argv[n++] = (char *)program;
    argv[n++] = "-c";
    argv[n++] = HOSTED_BOOT;
    argv[n++] = (char *)ext;
    for (i = 0; i < hosted_ntitle; i++) {
        argv[n++] = hosted_title[i];    /* the title, restored there */
    }
    argv[n] = NULL;
    if (hosted_inheritable(PYW_EXEC_LISTEN_FD) < 0
        || hosted_inheritable(PYW_EXEC_STATUS_FD) < 0) {
        return -1;
    }
    if (python_home != NULL) {
        setenv("PYTHONHOME", python_home, 1);
    }
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, &old);
    /* A stop that came before the mask (its keeper died with Apache, say)
     * was counted by this image's handlers: the next would never know. */
    if (pyw_daemon_stop_asked()) {
        _exit(PYW_DAEMON_EXIT_OK);
    }
    execv(program, argv);
    err = errno;
    sigprocmask(SIG_SETMASK, &old, NULL);
    unsetenv("PYTHONHOME");
    pyw_dlog(PYW_LOG_WARNING, HOSTED_LOG_EXEC_FAILED, NULL, "cannot run "
             "the daemon in %s (%s); Python runs embedded in the daemon "
             "program instead", program, strerror(err));
    return -1;
}

/*
 * pyw_daemon_setup.c - the daemon's start-up steps before Python: turn the
 * freshly exec'd daemon program (started as root) into an unprivileged
 * one with only its own descriptors, its title, environment, working
 * directory and limits.  Nothing here can be retried: a failure is a
 * start-up failure (PYW_DAEMON_EXIT_STARTUP_FAILED).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <locale.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pyw_daemon_int.h"
#include "pyw_dlog.h"
#include "pyw_dlogno.h"
#include "pyw_resources.h"

/* The status pipe to the parent comes right after the listening socket. */
#define DAEMON_STATUS_FD   4

static int daemon_close_from(int lowfd)
{
    int fd, max;

    if (close_range((unsigned)lowfd, ~0u, 0) == 0) {
        return 0;
    }
    max = (int)sysconf(_SC_OPEN_MAX);   /* kernel before 5.9 */
    for (fd = lowfd; fd < (max > 0 ? max : 65536); fd++) {
        close(fd);
    }
    return 0;
}

/*
 * 0 stdin </dev/null, 1 and 2 the error log, 3 the listening socket, 4
 * the status pipe if any (close-on-exec), nothing else: the parent's
 * listeners, log files and pipes must not stay open here.  *status_fd:
 * 4, or -1 without a pipe (fds 0-2 are never one: a spec that was only
 * zeroed says 0); with hosted_ext also the spec and boards (5-7).
 * Nothing can be logged yet: -1 on error.
 */
int pyw_daemon_setup_fds(const pyw_daemon_spec_t *spec, int *status_fd)
{
    int lfd, logfd, nullfd, sfd = -1;

    if (spec->status_fd > 2
        && (sfd = fcntl(spec->status_fd, F_DUPFD_CLOEXEC, 10)) < 0) {
        return -1;
    }
    *status_fd = sfd >= 0 ? DAEMON_STATUS_FD : -1;
    lfd = fcntl(spec->listen_fd, F_DUPFD_CLOEXEC, 10);
    logfd = spec->log_fd >= 0 ? fcntl(spec->log_fd, F_DUPFD_CLOEXEC, 10)
                              : open("/dev/null", O_WRONLY | O_CLOEXEC);
    nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (lfd < 0 || logfd < 0 || nullfd < 0
        || dup2(nullfd, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0
        || dup3(lfd, DAEMON_LISTEN_FD, O_CLOEXEC) < 0
        || (sfd >= 0 && dup3(sfd, DAEMON_STATUS_FD, O_CLOEXEC) < 0)) {
        return -1;
    }
    if (spec->hosted_ext != NULL) {
        /* The spec and the boards cross the exec into the group's Python
         * (pyw_hosted.c), which reads and closes them. */
        if (sfd < 0) {
            close(DAEMON_STATUS_FD);
        }
        return daemon_close_from(PYW_EXEC_WBOARD_FD + 1);
    }
    return daemon_close_from(sfd >= 0 ? DAEMON_STATUS_FD + 1
                                      : DAEMON_LISTEN_FD + 1);
}

/* Name in top: comm (15 chars, inherited by the threads created later).
 * ps shows argv, which the parent made the title already (pyw_exec.c). */
void pyw_daemon_set_comm(const pyw_daemon_spec_t *spec)
{
    static const char token[] = "%{GROUP}";
    const char *in = spec->display_name, *hit;
    char comm[16];
    size_t n = 0;

    if (in == NULL || in[0] == '\0') {
        return;
    }
    /* %{GROUP} anywhere, as in the title (pyw_slots_spawn.c); the
     * kernel keeps 15 bytes of it. */
    comm[0] = '\0';
    while (n < sizeof(comm) - 1 && (hit = strstr(in, token)) != NULL) {
        n += snprintf(comm + n, sizeof(comm) - n, "%.*s(pyworker:%s)",
                      (int)(hit - in), in, spec->group ? spec->group : "-");
        n = n < sizeof(comm) ? n : sizeof(comm) - 1;
        in = hit + sizeof(token) - 1;
    }
    if (n < sizeof(comm) - 1) {
        snprintf(comm + n, sizeof(comm) - n, "%s", in);
    }
    prctl(PR_SET_NAME, comm, 0, 0, 0);
}

static void daemon_environment(const pyw_daemon_spec_t *spec)
{
    if (spec->umask >= 0) {
        umask((mode_t)spec->umask);
    }
    if (spec->lang) {
        setenv("LANG", spec->lang, 1);
    }
    if (spec->locale) {
        setenv("LC_ALL", spec->locale, 1);
        if (setlocale(LC_ALL, spec->locale) == NULL) {
            pyw_dlog(PYW_LOG_WARNING, PYW_LOG_LOCALE, NULL,
                     "setlocale(LC_ALL, \"%s\") failed; locale not "
                     "installed?", spec->locale);
        }
    }
}

/* chdir(home= or, when switching user, the user's home directory) and,
 * when switching user, HOME/USER/LOGNAME for that user. */
static void daemon_chdir(const pyw_daemon_spec_t *spec)
{
    const char *home = spec->home;
    struct passwd *pw = NULL;

    if (spec->drop_privileges && (pw = getpwuid(spec->uid)) != NULL) {
        setenv("HOME", pw->pw_dir, 1);
        setenv("USER", pw->pw_name, 1);
        setenv("LOGNAME", pw->pw_name, 1);
        if (home == NULL) {
            home = pw->pw_dir;
        }
    }
    if (home == NULL || chdir(home) == 0) {
        return;
    }
    if (spec->home) {
        pyw_dlog(PYW_LOG_CRIT, PYW_LOG_CHDIR, NULL,
                 "cannot change to home directory %s: %s", home,
                 strerror(errno));
        _exit(PYW_DAEMON_EXIT_STARTUP_FAILED);
    }
    pyw_dlog(PYW_LOG_WARNING, PYW_LOG_CHDIR, NULL,
             "cannot change to %s: %s; using /", home, strerror(errno));
    if (chdir("/") < 0) {
        /* "/" always exists; nothing better to do */
    }
}

static void daemon_refuse(const char *what) __attribute__((noreturn));

static void daemon_refuse(const char *what)
{
    pyw_dlog(PYW_LOG_CRIT, PYW_LOG_PRIVILEGES, NULL, "%s", what);
    _exit(PYW_DAEMON_EXIT_STARTUP_FAILED);
}

/* Every real/effective/saved id must be the target, and none root. */
static void daemon_check_ids(const pyw_daemon_spec_t *spec)
{
    uid_t ru, eu, su;
    gid_t rg, eg, sg;

    if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0) {
        daemon_refuse("getresuid/getresgid failed");
    }
    if (ru == 0 || eu == 0 || su == 0) {
        daemon_refuse("refusing to run Python as root (uid 0); set user=");
    }
    if (spec->drop_privileges
        && (ru != spec->uid || eu != spec->uid || su != spec->uid
            || rg != spec->gid || eg != spec->gid || sg != spec->gid
            || rg == 0)) {
        pyw_dlog(PYW_LOG_CRIT, PYW_LOG_PRIVILEGES, NULL,
                 "privileges not dropped: uid %ld/%ld/%ld gid %ld/%ld/%ld, "
                 "wanted uid %ld gid %ld", (long)ru, (long)eu, (long)su,
                 (long)rg, (long)eg, (long)sg, (long)spec->uid,
                 (long)spec->gid);
        _exit(PYW_DAEMON_EXIT_STARTUP_FAILED);
    }
}

static void daemon_drop_privileges(const pyw_daemon_spec_t *spec)
{
    const char *step = NULL;

    if (spec->drop_privileges) {
        if (spec->uid == 0 || spec->gid == 0) {
            daemon_refuse("refusing to run Python as root (user= or "
                          "group= resolves to id 0)");
        }
        if ((spec->user_name ? initgroups(spec->user_name, spec->gid)
                             : setgroups(1, &spec->gid)) < 0) {
            step = "initgroups";
        }
        else if ((errno = -pyw_resources_add_groups(spec)) != 0) {
            step = "setgroups(supplementary-groups)";
        }
        else if (setresgid(spec->gid, spec->gid, spec->gid) < 0) {
            step = "setresgid";
        }
        else if (setresuid(spec->uid, spec->uid, spec->uid) < 0) {
            step = "setresuid";
        }
        if (step) {
            pyw_dlog(PYW_LOG_CRIT, PYW_LOG_PRIVILEGES, NULL,
                     "%s(%s uid=%ld gid=%ld) failed: %s", step,
                     spec->user_name ? spec->user_name : "-",
                     (long)spec->uid, (long)spec->gid, strerror(errno));
            _exit(PYW_DAEMON_EXIT_STARTUP_FAILED);
        }
    }
    daemon_check_ids(spec);
}

/* If Apache's parent dies without stopping us, stop as when Apache stops
 * (the setting is cleared by setuid, hence after it; getppid() closes the
 * race). */
static void daemon_watch_parent(pid_t ppid)
{
    prctl(PR_SET_PDEATHSIG, PYW_SIG_APACHE_STOP, 0, 0, 0);
    if (getppid() != ppid) {
        _exit(PYW_DAEMON_EXIT_OK);
    }
}

/* Every persistent Apache connection is a descriptor: a soft limit of
 * 1024 (the usual default) would cap them, so take the hard limit. */
static void daemon_raise_nofile(void)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* What comes between logging's start and Python's, in this order: the
 * privilege drop after the steps that may need root, then the home
 * directory with the user's own rights (entered as root, a path through
 * a directory the tenant controls could lead into one it may not read),
 * and watching the parent (setuid clears that setting). */
void pyw_daemon_prepare(const pyw_daemon_spec_t *spec, pid_t ppid)
{
    pyw_daemon_set_comm(spec);
    daemon_environment(spec);
    daemon_raise_nofile();
    pyw_resources_apply(spec);
    daemon_drop_privileges(spec);
    daemon_chdir(spec);
    daemon_watch_parent(ppid);
}

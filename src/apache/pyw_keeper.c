/*
 * pyw_keeper.c - the keeper: a small root process between the Apache
 * parent and each daemon.
 *
 * Every MPM reaps the parent's children itself, and takes a child that
 * exits with status 15 (APEXIT_CHILDFATAL) as the sign to shut all of
 * Apache down, without asking whose child it was.  A daemon runs a
 * tenant's code, which may end its process with any status it likes
 * (libc's _exit through ctypes, or exec of another program), and so
 * could stop every site on the host.  So the parent's child is the
 * keeper, not the daemon: a fork of the parent that forks the daemon,
 * says its pid, waits for it, passes its raw wait status up a pipe, and
 * exits 0.  What the daemon chooses never reaches the MPM.
 *
 * It is also the child subreaper of the daemon's tree: whatever the
 * tenant's code leaves running (a double fork, setsid, clone with
 * CLONE_PARENT) comes to it, never to its own parent, which is PID 1 in
 * a container (so every orphan on the machine would be Apache's child,
 * reaped by the MPM).  It reaps them as they end, and ends those left
 * when the daemon ends: a daemon's processes go with it.
 *
 * The keeper stays root and non-dumpable, out of the tenant's reach (no
 * signal, no ptrace).  It holds no descriptor but 0-2 and its pipe,
 * ignores the signals Apache sends its whole process group for restarts
 * (the daemon gets those itself, as before), passes a stop (SIGTERM) on
 * as the parent's "Apache stops", and dies with the parent; the daemon's
 * own parent-death signal (pyw_daemon_setup.c) then stops it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "httpd.h"

#include "pyw_keeper.h"
#include "pyw_pm.h"
#include "../common/pyw_spec.h"

#define PYW_KEEPER_TITLE "pyworker: keeper"
#define PYW_KEEPER_GRACE_MS 2000    /* SIGTERM to SIGKILL for leftovers */

/* Signals Apache sends its process group (restarts), and others nobody
 * should be able to end a keeper with.  SIGTERM is passed on. */
static const int pyw_keeper_ignored[] = {
    SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM,
    SIGWINCH, SIGTSTP, SIGTTIN, SIGTTOU, SIGXCPU, SIGXFSZ
};

static volatile pid_t pyw_keeper_daemon;    /* 0 once it is reaped */

/* SIGTERM to the keeper is Apache stopping: the MPM's own stop of an
 * "extra" process (a daemon handed over to a configuration without this
 * module), or prefork's signal to its process group.  The daemon is told
 * as the parent tells it, and the keeper ends when it has. */
static void pyw_keeper_on_term(int sig)
{
    if (pyw_keeper_daemon > 0) {
        kill(pyw_keeper_daemon, PYW_SIG_APACHE_STOP);
    }
}

static int pyw_keeper_write(int fd, int value)
{
    ssize_t n;

    do {
        n = write(fd, &value, sizeof(value));
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof(value) ? 0 : -1;
}

/* Blocking; 0 on a whole int. */
static int pyw_keeper_read(int fd, int *value)
{
    ssize_t n;

    do {
        n = read(fd, value, sizeof(*value));
    } while (n < 0 && errno == EINTR);
    return n == (ssize_t)sizeof(*value) ? 0 : -1;
}

/* Nothing of the parent's but what waiting needs. */
static void pyw_keeper_strip(int report_fd)
{
    struct sigaction sa;
    struct rlimit none = { 0, 0 };
    sigset_t empty;
    size_t i;
    int sig;

    memset(&sa, 0, sizeof(sa));
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = SIG_DFL;
    for (sig = 1; sig < NSIG; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) {
            sigaction(sig, &sa, NULL);  /* EINVAL for libc's own: fine */
        }
    }
    sa.sa_handler = SIG_IGN;
    for (i = 0; i < sizeof(pyw_keeper_ignored) / sizeof(int); i++) {
        sigaction(pyw_keeper_ignored[i], &sa, NULL);
    }
    sa.sa_handler = pyw_keeper_on_term;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
    /* A core of this copy of the parent would hold its secrets. */
    setrlimit(RLIMIT_CORE, &none);
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (report_fd > 3) {
        close_range(3, (unsigned int)report_fd - 1, 0);
    }
    close_range((unsigned int)report_fd + 1, ~0U, 0);
    prctl(PR_SET_NAME, "pyw-keeper", 0, 0, 0);
    if (pyw_pm.title_area != NULL && pyw_pm.title_len > 0) {
        memset(pyw_pm.title_area, 0, pyw_pm.title_len);
        strncpy(pyw_pm.title_area, PYW_KEEPER_TITLE, pyw_pm.title_len - 1);
    }
}

/* Signal every child of the keeper (sig 0: only count them); their
 * number.  Children are found by their parent in /proc: the keeper has
 * children besides the daemon only once orphans came to it. */
static int pyw_keeper_signal_children(int sig)
{
    pid_t me = getpid();
    struct dirent *e;
    char path[sizeof(e->d_name) + 16], buf[256], *close_paren;
    DIR *d = opendir("/proc");
    int n = 0, fd;
    ssize_t len;
    long ppid;

    while (d != NULL && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') {
            continue;
        }
        snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
            continue;
        }
        len = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        buf[len > 0 ? len : 0] = '\0';
        /* "pid (comm) state ppid ...": comm may hold ')' itself. */
        close_paren = strrchr(buf, ')');
        if (close_paren != NULL
            && sscanf(close_paren + 1, " %*c %ld", &ppid) == 1
            && ppid == (long)me) {
            n++;
            if (sig != 0) {
                kill((pid_t)atol(e->d_name), sig);
            }
        }
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

static void pyw_keeper_reap_ready(void)
{
    int st;

    while (waitpid(-1, &st, WNOHANG) > 0) {
    }
}

/* The daemon ended: what it left behind ends too, SIGTERM first, then
 * SIGKILL after PYW_KEEPER_GRACE_MS, until the keeper has no child. */
static void pyw_keeper_end_the_rest(void)
{
    struct timespec tick = { 0, 10 * 1000000L };
    int waited_ms = 0, st;

    if (waitpid(-1, &st, WNOHANG) < 0 && errno == ECHILD) {
        return;                 /* the usual case: nothing left */
    }
    pyw_keeper_signal_children(SIGTERM);
    do {
        pyw_keeper_reap_ready();
        nanosleep(&tick, NULL);
        waited_ms += 10;
    } while (pyw_keeper_signal_children(waited_ms >= PYW_KEEPER_GRACE_MS
                                        ? SIGKILL : 0) > 0);
    pyw_keeper_reap_ready();
}

/* Reap every child until the daemon; its wait status, or -1 if it was
 * not the keeper's child any more (cannot happen). */
static int pyw_keeper_wait(pid_t daemon)
{
    pid_t got;
    int st;

    for (;;) {
        got = waitpid(-1, &st, 0);
        if (got == daemon) {
            pyw_keeper_daemon = 0;
            return st;
        }
        if (got < 0 && errno != EINTR) {
            return -1;
        }
    }
}

static void pyw_keeper_run(int report_fd, pid_t daemon)
    __attribute__((noreturn));
static void pyw_keeper_run(int report_fd, pid_t daemon)
{
    int said = daemon > 0 ? (int)daemon : -errno;
    int st;

    pyw_keeper_daemon = daemon;
    pyw_keeper_strip(report_fd);
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (pyw_keeper_write(report_fd, said) < 0 || daemon <= 0
        || getppid() != pyw_pm.parent) {
        _exit(0);       /* the daemon, if any, follows (its death signal) */
    }
    if ((st = pyw_keeper_wait(daemon)) != -1) {
        pyw_keeper_write(report_fd, st);
    }
    pyw_keeper_end_the_rest();
    _exit(0);
}

apr_status_t pyw_keeper_fork(pyw_keeper_t *k, pid_t *daemon,
                             apr_pool_t *pool)
{
    apr_status_t rv;
    int fds[2], said = 0, st;

    k->proc.pid = 0;
    k->report_fd = -1;
    if (pipe2(fds, O_CLOEXEC) < 0) {
        return APR_FROM_OS_ERROR(errno);
    }
    rv = apr_proc_fork(&k->proc, pool);
    if (rv == APR_INCHILD) {
        pid_t pid;

        /* Not inherited by the daemon: only the keeper takes orphans. */
        prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        /* The daemon's getppid() may already be init's when it asks: the
         * keeper dies at once with a parent that died. */
        k->proc.pid = getpid();
        pid = fork();

        if (pid == 0) {
            close(fds[0]);
            close(fds[1]);
            return APR_INCHILD;
        }
        pyw_keeper_run(fds[1], pid);
    }
    close(fds[1]);
    if (rv != APR_INPARENT) {
        close(fds[0]);
        k->proc.pid = 0;
        return rv;
    }
    if (pyw_keeper_read(fds[0], &said) < 0 || said <= 0) {
        /* It could not fork the daemon, and exits at once. */
        while (waitpid(k->proc.pid, &st, 0) < 0 && errno == EINTR) {
        }
        close(fds[0]);
        k->proc.pid = 0;
        return said < 0 ? APR_FROM_OS_ERROR(-said) : APR_EGENERAL;
    }
    fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK);
    k->report_fd = fds[0];
    *daemon = (pid_t)said;
    return APR_INPARENT;
}

void pyw_keeper_forget(pyw_keeper_t *k)
{
    if (k->report_fd >= 0) {
        close(k->report_fd);
        k->report_fd = -1;
    }
    k->proc.pid = 0;
}

int pyw_keeper_report(pyw_keeper_t *k, int *wait_status)
{
    int got = k->report_fd >= 0 && pyw_keeper_read(k->report_fd,
                                                   wait_status) == 0;

    pyw_keeper_forget(k);
    return got;
}

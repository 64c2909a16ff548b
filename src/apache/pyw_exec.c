/*
 * pyw_exec.c - the forked child's last steps: become the daemon program.
 *
 * Why exec and not just run the daemon in the fork: a forked copy of the
 * Apache parent holds everything the parent read - every vhost's
 * configuration and SetEnv values, the text of httpd.conf, mod_ssl's
 * private keys - and a tenant's application can read its own memory.
 * After execve() none of that exists; the daemon gets exactly:
 *   0 /dev/null, 1 and 2 the error log, 3 the group's socket, 4 the
 *   status pipe, 5 the group's load board, 6 its own spec (a memfd),
 *   7 the group's worker board (pyw_wboard.h),
 *   an environment of PATH, TZ, LANG and LC_ALL, and an argv that shows
 *   its title and group, never its settings.
 * Every other descriptor is closed by the kernel at exec.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#include "apr_strings.h"
#include "httpd.h"
#include "http_log.h"

#include "pyw_exec.h"
#include "pyw_log.h"
#include "pyw_pm.h"

#define PYW_EXEC_HIGH_FD  64    /* sources are moved here first */
#define PYW_EXEC_ENV_MAX  5
#define PYW_DEFAULT_PATH  "/usr/local/bin:/usr/bin:/bin"

/* The spec in an anonymous file, rewound; -1 on failure. */
static int pyw_spec_memfd(const pyw_daemon_spec_t *spec)
{
    size_t len, off = 0;
    ssize_t n;
    char *buf = pyw_spec_encode(spec, &len);
    int fd = buf ? memfd_create("pyworker-spec", MFD_CLOEXEC) : -1;

    while (fd >= 0 && off < len) {
        n = write(fd, buf + off, len - off);
        if (n < 0 && errno != EINTR) {
            close(fd);
            fd = -1;
        }
        off += n > 0 ? (size_t)n : 0;
    }
    free(buf);
    return fd;
}

/* Every descriptor from `low` on is closed at exec; they stay usable
 * until then, so a failed exec can still be logged. */
static void pyw_cloexec_from(int low)
{
    struct dirent *e;
    DIR *d;
    int fd;

    if (close_range((unsigned)low, ~0U, CLOSE_RANGE_CLOEXEC) == 0) {
        return;
    }
    if ((d = opendir("/proc/self/fd")) == NULL) {
        return;
    }
    while ((e = readdir(d)) != NULL) {
        fd = atoi(e->d_name);
        if (fd >= low && fd != dirfd(d)) {
            fcntl(fd, F_SETFD, FD_CLOEXEC);
        }
    }
    closedir(d);
}

/* Move fd out of the way of 0..6; -1 stays -1. */
static int pyw_high(int fd)
{
    return fd < 0 ? -1 : fcntl(fd, F_DUPFD_CLOEXEC, PYW_EXEC_HIGH_FD);
}

/* dup2 clears close-on-exec, so exactly these survive exec. */
static int pyw_place_fds(int listen_fd, int status_fd, int board_fd,
                         int wboard_fd, int spec_fd, int log_fd)
{
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

    listen_fd = pyw_high(listen_fd);
    status_fd = pyw_high(status_fd);
    board_fd = pyw_high(board_fd);
    wboard_fd = pyw_high(wboard_fd);
    spec_fd = pyw_high(spec_fd);
    log_fd = pyw_high(log_fd);
    if (null_fd < 0 || listen_fd < 0 || spec_fd < 0 || log_fd < 0
        || dup2(null_fd, 0) < 0 || dup2(log_fd, 1) < 0
        || dup2(log_fd, 2) < 0
        || dup2(listen_fd, PYW_EXEC_LISTEN_FD) < 0
        || dup2(spec_fd, PYW_EXEC_SPEC_FD) < 0
        || (status_fd >= 0 && dup2(status_fd, PYW_EXEC_STATUS_FD) < 0)
        || (board_fd >= 0 && dup2(board_fd, PYW_EXEC_BOARD_FD) < 0)
        || (wboard_fd >= 0 && dup2(wboard_fd, PYW_EXEC_WBOARD_FD) < 0)) {
        return -1;
    }
    /* Left closed when absent: the daemon tells by fcntl(). */
    if (status_fd < 0) {
        close(PYW_EXEC_STATUS_FD);
    }
    if (board_fd < 0) {
        close(PYW_EXEC_BOARD_FD);
    }
    if (wboard_fd < 0) {
        close(PYW_EXEC_WBOARD_FD);
    }
    pyw_cloexec_from(PYW_EXEC_FIRST_FREE);
    return 0;
}

/* PATH, TZ, LANG and LC_ALL of Apache's own environment; nothing else
 * of it (a systemd EnvironmentFile may hold anybody's secrets). */
static void pyw_exec_env(apr_pool_t *p, char **env)
{
    static const char *const keep[] = { "TZ", "LANG", "LC_ALL", NULL };
    const char *v = getenv("PATH");
    int i, n = 0;

    env[n++] = apr_pstrcat(p, "PATH=", v ? v : PYW_DEFAULT_PATH, NULL);
    for (i = 0; keep[i] != NULL; i++) {
        if ((v = getenv(keep[i])) != NULL) {
            env[n++] = apr_pstrcat(p, keep[i], "=", v, NULL);
        }
    }
    env[n] = NULL;
}

/*
 * The start failed before the daemon program ran.  The program sleeps
 * its start-up delay (the parent's back-off) before anything else, so a
 * failure here would come back at once, and the parent would fork again
 * at once: a fork loop for as long as the program is missing.  Wait out
 * the delay here instead.  This is still a copy of the Apache parent,
 * with its signal handlers: a stop signal (pyw_spec.h) must end the
 * wait, so those go back to the default action first.
 */
static void pyw_exec_fail(const pyw_daemon_spec_t *spec)
    __attribute__((noreturn));
static void pyw_exec_fail(const pyw_daemon_spec_t *spec)
{
    struct sigaction sa;
    struct timespec ts;
    sigset_t term;

    if (spec->startup_delay_ms > 0) {
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = SIG_DFL;
        sigemptyset(&sa.sa_mask);
        sigaction(PYW_SIG_RETIRE, &sa, NULL);
        sigaction(PYW_SIG_APACHE_STOP, &sa, NULL);
        sigemptyset(&term);
        sigaddset(&term, PYW_SIG_RETIRE);
        sigaddset(&term, PYW_SIG_APACHE_STOP);
        sigprocmask(SIG_UNBLOCK, &term, NULL);
        ts.tv_sec = spec->startup_delay_ms / 1000;
        ts.tv_nsec = (long)(spec->startup_delay_ms % 1000) * 1000000L;
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
            /* another signal: sleep the rest */
        }
    }
    _exit(PYW_DAEMON_EXIT_STARTUP_FAILED);
}

void pyw_exec_daemon(apr_pool_t *p, const pyw_daemon_spec_t *spec,
                     const char *program, const char *title, int board_fd,
                     int wboard_fd)
{
    char *env[PYW_EXEC_ENV_MAX];
    char *argv[3];
    int spec_fd = pyw_spec_memfd(spec);

    argv[0] = (char *)(title ? title : program);
    argv[1] = title ? NULL : (char *)spec->group;
    argv[2] = NULL;
    pyw_exec_env(p, env);
    if (spec_fd < 0
        || pyw_place_fds(spec->listen_fd, spec->status_fd, board_fd,
                         wboard_fd, spec_fd, spec->log_fd) < 0) {
        PYW_SLOG(APLOG_ERR, errno, pyw_pm.s, 27, spec->group,
                 (long)getpid(), "cannot prepare the descriptors of daemon "
                 "process %d", spec->process_index + 1);
        pyw_exec_fail(spec);
    }
    execve(program, argv, env);
    PYW_SLOG(APLOG_ERR, errno, pyw_pm.s, 27, spec->group, (long)getpid(),
             "cannot run the daemon program %s", program);
    pyw_exec_fail(spec);
}

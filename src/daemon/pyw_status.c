/*
 * pyw_status.c - status bytes to the Apache parent (see pyw_status.h).
 *
 * The flags are only ever set, never cleared, with atomic exchanges: two
 * threads that trip a limit at the same moment send one byte between
 * them.  The write() of one byte to a pipe is atomic and, with fewer than
 * PIPE_BUF bytes ever written, never blocks.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "pyw_daemon.h"
#include "pyw_dfds.h"
#include "pyw_dlog.h"
#include "pyw_dlogno.h"
#include "pyw_status.h"

static int status_fd = -1;          /* written once, before any thread  */
static int status_sent_ready, status_sent_recycle, status_sent_rolling;
static int status_sent_signal;
static int status_stopping;

void pyw_status_init(int fd)
{
    status_fd = fd;
    pyw_dfds_add(fd);
}

int pyw_status_available(void)
{
    return status_fd >= 0;
}

void pyw_status_stop(void)
{
    __atomic_store_n(&status_stopping, 1, __ATOMIC_SEQ_CST);
}

static int *status_flag(char what)
{
    switch (what) {
    case PYW_STATUS_READY:
        return &status_sent_ready;
    case PYW_STATUS_RECYCLE:
    case PYW_STATUS_QUIET:          /* one replacement, for either */
        return &status_sent_recycle;
    case PYW_STATUS_ROLLING:
        return &status_sent_rolling;
    case PYW_STATUS_SIGNAL:
        return &status_sent_signal;
    default:
        return NULL;
    }
}

static int status_write(char what)
{
    ssize_t n;

    do {
        n = write(status_fd, &what, 1);
    } while (n < 0 && errno == EINTR);
    if (n == 1) {
        return 1;
    }
    /* EPIPE: the parent is gone (SIGPIPE is ignored); PR_SET_PDEATHSIG
     * stops us anyway.  Nothing else can be done about it here. */
    n = n < 0 ? -errno : -EIO;
    pyw_dlog(PYW_LOG_ERR, PYW_LOG_STATUS_WRITE, NULL,
             "cannot tell the parent '%c': %s", what, strerror((int)-n));
    return (int)n;
}

int pyw_status_send(char what)
{
    int *flag = status_flag(what);

    if (flag == NULL || status_fd < 0
        || __atomic_load_n(&status_stopping, __ATOMIC_SEQ_CST)
        || __atomic_exchange_n(flag, 1, __ATOMIC_SEQ_CST)) {
        return 0;
    }
    return status_write(what);
}

/* Only the watchdog thread calls this: status_said_idle needs no
 * atomics. */
int pyw_status_idle(int idle)
{
    static int status_said_idle;

    if (status_fd < 0 || idle == status_said_idle
        || __atomic_load_n(&status_stopping, __ATOMIC_SEQ_CST)) {
        return 0;
    }
    status_said_idle = idle;
    return status_write(idle ? PYW_STATUS_IDLE : PYW_STATUS_ACTIVE);
}

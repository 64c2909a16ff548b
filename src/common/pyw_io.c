/*
 * pyw_io.c - socket reads and writes that finish, or fail by a deadline.
 *
 * Every call is made with MSG_DONTWAIT and waits in poll() on EAGAIN, so
 * the deadline holds on blocking descriptors too (a blocking recv() could
 * otherwise sleep forever).  Short writes resume by advancing the
 * caller's iovec.  Nothing here logs: errors go back as -errno.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pyw_io.h"

#ifndef IOV_MAX                 /* only with XSI feature macros in glibc */
#define IOV_MAX 1024
#endif

int64_t pyw_io_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t pyw_io_deadline(int64_t timeout_ms)
{
    int64_t now;

    if (timeout_ms < 0) {
        return PYW_NO_DEADLINE;
    }
    now = pyw_io_now_ms();
    if (timeout_ms >= PYW_NO_DEADLINE - now) {
        return PYW_NO_DEADLINE;
    }
    return now + timeout_ms;
}

/* poll() timeout for a deadline: -1 (forever), or 0..INT_MAX ms. */
static int poll_timeout(int64_t deadline_ms)
{
    int64_t left;

    if (deadline_ms == PYW_NO_DEADLINE) {
        return -1;
    }
    left = deadline_ms - pyw_io_now_ms();
    if (left <= 0) {
        return 0;
    }
    return left > INT_MAX ? INT_MAX : (int)left;
}

/* A passed deadline still gets one poll with timeout 0, so data already
 * there is taken rather than reported as a timeout.  POLLHUP/POLLERR count
 * as ready: the following recv/send reports the real condition. */
int pyw_io_wait(int fd, short events, int64_t deadline_ms)
{
    struct pollfd pfd;
    int rc;

    for (;;) {
        pfd.fd = fd;
        pfd.events = events;
        pfd.revents = 0;
        rc = poll(&pfd, 1, poll_timeout(deadline_ms));
        if (rc > 0) {
            return (pfd.revents & POLLNVAL) ? -EBADF : 0;
        }
        if (rc == 0) {
            if (pyw_io_now_ms() >= deadline_ms) {
                return -ETIMEDOUT;
            }
            continue;           /* woke early (clock granularity) */
        }
        if (errno != EINTR) {
            return -errno;
        }
    }
}

static int would_block(int e)
{
    return e == EAGAIN || e == EWOULDBLOCK;
}

/* After a failed receive: 0 to try again (EINTR, or readable now), else
 * -errno or -ETIMEDOUT. */
static int io_read_again(int fd, int64_t deadline_ms)
{
    if (errno == EINTR) {
        return 0;
    }
    if (!would_block(errno)) {
        return -errno;
    }
    return pyw_io_wait(fd, POLLIN, deadline_ms);
}

ssize_t pyw_io_read_some(int fd, void *buf, size_t len, int64_t deadline_ms)
{
    ssize_t n;
    int rc;

    if (len == 0) {
        return -EINVAL;         /* 0 must keep meaning end of stream */
    }
    for (;;) {
        n = recv(fd, buf, len, MSG_DONTWAIT);
        if (n >= 0) {
            return n;
        }
        if ((rc = io_read_again(fd, deadline_ms)) < 0) {
            return rc;
        }
    }
}

int pyw_io_read_full(int fd, void *buf, size_t len, int64_t deadline_ms)
{
    unsigned char *p = buf;
    ssize_t n;

    while (len > 0) {
        n = pyw_io_read_some(fd, p, len, deadline_ms);
        if (n < 0) {
            return (int)n;
        }
        if (n == 0) {
            return -ECONNRESET;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Consume n written bytes from the front of *iov / *iovcnt. */
static void iov_advance(struct iovec **iov, int *iovcnt, size_t n)
{
    while (*iovcnt > 0 && n >= (*iov)->iov_len) {
        n -= (*iov)->iov_len;
        (*iov)->iov_len = 0;
        (*iov)++;
        (*iovcnt)--;
    }
    if (*iovcnt > 0 && n > 0) {
        (*iov)->iov_base = (char *)(*iov)->iov_base + n;
        (*iov)->iov_len -= n;
    }
}

/* One sendmsg() of at most IOV_MAX entries: bytes sent, or -errno. */
static ssize_t send_iov(int fd, struct iovec *iov, int iovcnt)
{
    struct msghdr mh;
    ssize_t n;

    memset(&mh, 0, sizeof(mh));
    mh.msg_iov = iov;
    mh.msg_iovlen = (size_t)(iovcnt > IOV_MAX ? IOV_MAX : iovcnt);
    do {
        n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

int pyw_io_writev_once(int fd, struct iovec **iov, int *iovcnt)
{
    ssize_t n;

    iov_advance(iov, iovcnt, 0);        /* drop empty leading entries */
    if (*iovcnt <= 0) {
        return 0;
    }
    n = send_iov(fd, *iov, *iovcnt);
    if (n < 0) {
        return would_block((int)-n) ? -EAGAIN : (int)n;
    }
    iov_advance(iov, iovcnt, (size_t)n);    /* drops empty ones too */
    return *iovcnt > 0 ? -EAGAIN : 0;
}

/* A short write means the socket buffer is full: wait for room rather
 * than spend a sendmsg() on EAGAIN.  (Past IOV_MAX entries a short write
 * is not one, and the poll returns at once.) */
int pyw_io_writev_full(int fd, struct iovec *iov, int iovcnt,
                       int64_t deadline_ms)
{
    int rc;

    while ((rc = pyw_io_writev_once(fd, &iov, &iovcnt)) == -EAGAIN) {
        if ((rc = pyw_io_wait(fd, POLLOUT, deadline_ms)) < 0) {
            return rc;
        }
    }
    return rc;
}

int pyw_io_write_full(int fd, const void *buf, size_t len,
                      int64_t deadline_ms)
{
    struct iovec iov;

    iov.iov_base = (void *)buf;
    iov.iov_len = len;
    return pyw_io_writev_full(fd, &iov, 1, deadline_ms);
}

/* An idle cached connection must have nothing to read: readable means the
 * daemon closed it (EOF), reset it, or sent bytes outside any exchange.
 * Any doubt answers "gone", since reusing a bad connection costs a 502. */
int pyw_io_peer_gone(int fd)
{
    struct pollfd pfd;
    unsigned char c;
    ssize_t n;
    int rc;

    pfd.fd = fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    do {
        rc = poll(&pfd, 1, 0);
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) {
        return 0;
    }
    if (rc < 0 || (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))) {
        return 1;
    }
    do {
        n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    return (n < 0 && would_block(errno)) ? 0 : 1;
}

/* ---- descriptor passing (SCM_RIGHTS) ---- */

/* One sendmsg() of buf with passfd attached: bytes sent, or -errno.
 * The kernel attaches the descriptor to the first bytes queued. */
static ssize_t send_with_fd(int fd, const void *buf, size_t len, int passfd)
{
    union {
        struct cmsghdr hdr;     /* for alignment */
        char           space[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr mh;
    struct cmsghdr *cm;
    struct iovec iov;
    ssize_t n;

    memset(&mh, 0, sizeof(mh));
    memset(&ctl, 0, sizeof(ctl));
    iov.iov_base = (void *)buf;
    iov.iov_len = len;
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.space;
    mh.msg_controllen = sizeof(ctl.space);
    cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &passfd, sizeof(int));
    do {
        n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

/* The descriptor goes with the first sendmsg() that moves any byte; only
 * an EAGAIN (nothing sent) repeats it.  The rest of buf, if the socket
 * took only part, follows through the ordinary loop. */
int pyw_io_send_fd(int fd, const void *buf, size_t len, int passfd,
                   int64_t deadline_ms)
{
    ssize_t n;
    int rc;

    if (len == 0 || passfd < 0) {
        return -EINVAL;         /* a descriptor needs a byte to ride on */
    }
    for (;;) {
        n = send_with_fd(fd, buf, len, passfd);
        if (n > 0) {
            break;
        }
        if (n < 0 && !would_block((int)-n)) {
            return (int)n;
        }
        rc = pyw_io_wait(fd, POLLOUT, deadline_ms);
        if (rc < 0) {
            return rc;
        }
    }
    return pyw_io_write_full(fd, (const char *)buf + n, len - (size_t)n,
                             deadline_ms);
}

/* Move the SCM_RIGHTS descriptors of mh into fds (closing any that do
 * not fit).  Other control messages are ignored. */
static void take_fds(struct msghdr *mh, int *fds, int max_fds, int *nfds)
{
    struct cmsghdr *cm;
    size_t i, count;
    int one;

    for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS
            || cm->cmsg_len < CMSG_LEN(0)) {
            continue;
        }
        count = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (i = 0; i < count; i++) {
            memcpy(&one, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (*nfds < max_fds) {
                fds[(*nfds)++] = one;
            }
            else {
                close(one);
            }
        }
    }
}

/* Same cost as recv(): one recvmsg() per read; the control buffer only
 * fills when a descriptor really arrives.  More than PYW_IO_MAX_FDS in one
 * read truncate the control data, and the kernel closes the surplus. */
ssize_t pyw_io_recv_fds(int fd, void *buf, size_t len, int *fds,
                        int max_fds, int *nfds, int64_t deadline_ms)
{
    union {
        struct cmsghdr hdr;     /* for alignment */
        char           space[CMSG_SPACE(sizeof(int) * PYW_IO_MAX_FDS)];
    } ctl;
    struct msghdr mh;
    struct iovec iov;
    ssize_t n;
    int rc;

    *nfds = 0;
    if (len == 0) {
        return -EINVAL;         /* 0 must keep meaning end of stream */
    }
    for (;;) {
        memset(&mh, 0, sizeof(mh));
        iov.iov_base = buf;
        iov.iov_len = len;
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = ctl.space;
        mh.msg_controllen = sizeof(ctl.space);
        n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
        if (n >= 0) {
            if (mh.msg_controllen > 0) {
                take_fds(&mh, fds, max_fds, nfds);
            }
            return n;
        }
        if ((rc = io_read_again(fd, deadline_ms)) < 0) {
            return rc;
        }
    }
}

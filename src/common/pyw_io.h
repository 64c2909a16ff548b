/*
 * pyw_io.h - blocking-style socket I/O with deadlines (pure C + POSIX).
 *
 * Works on blocking and non-blocking descriptors alike: EINTR is retried,
 * EAGAIN waits in poll() until the deadline, short writes are resumed.
 * Sends use MSG_NOSIGNAL, so a closed peer gives -EPIPE, never SIGPIPE.
 * Errors are returned as -errno; a passed deadline is -ETIMEDOUT.
 */
#ifndef PYW_IO_H
#define PYW_IO_H

#include <poll.h>           /* POLLIN, POLLOUT for pyw_io_wait() */
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define PYW_NO_DEADLINE INT64_MAX

/* Monotonic clock in milliseconds. */
int64_t pyw_io_now_ms(void);

/* Deadline `timeout_ms` from now; timeout_ms < 0 means none. */
int64_t pyw_io_deadline(int64_t timeout_ms);

/* Wait until fd is readable (events=POLLIN) or writable (POLLOUT).
 * 0 when ready, -ETIMEDOUT, or -errno. */
int pyw_io_wait(int fd, short events, int64_t deadline_ms);

/* Read at least 1 byte: >0 bytes read, 0 at end of stream, -errno. */
ssize_t pyw_io_read_some(int fd, void *buf, size_t len, int64_t deadline_ms);

/* Read exactly len bytes: 0, -ECONNRESET if the peer closed first, -errno. */
int pyw_io_read_full(int fd, void *buf, size_t len, int64_t deadline_ms);

/* Write all of iov (iov is modified as it advances): 0 or -errno. */
int pyw_io_writev_full(int fd, struct iovec *iov, int iovcnt,
                       int64_t deadline_ms);

int pyw_io_write_full(int fd, const void *buf, size_t len,
                      int64_t deadline_ms);

/* One non-blocking sendmsg() of *iov, never a wait: 0 when all of it went
 * out, -EAGAIN when some is left (*iov and *iovcnt then point at the
 * rest, ready for pyw_io_writev_full), or -errno. */
int pyw_io_writev_once(int fd, struct iovec **iov, int *iovcnt);

/*
 * Descriptor passing over an AF_UNIX stream socket (SCM_RIGHTS).
 *
 * pyw_io_send_fd: write all of buf, with `passfd` attached to the first
 * byte that leaves (so the peer has it by the time it has read buf's
 * first byte).  The caller keeps its own copy of passfd.  0 or -errno.
 *
 * pyw_io_recv_fds: like pyw_io_read_some, but with recvmsg() and room for
 * up to max_fds descriptors (MSG_CMSG_CLOEXEC).  Received descriptors go
 * to fds[0..*nfds); any beyond max_fds are closed.  Every read from a
 * socket that may carry descriptors must go through here: a plain recv()
 * over such a byte makes the kernel drop them.  Linux never merges bytes
 * that carry descriptors with later bytes in one read, so a descriptor
 * arrives with the read that returns the first byte it was sent with.
 */
int pyw_io_send_fd(int fd, const void *buf, size_t len, int passfd,
                   int64_t deadline_ms);

#define PYW_IO_MAX_FDS  4

ssize_t pyw_io_recv_fds(int fd, void *buf, size_t len, int *fds,
                        int max_fds, int *nfds, int64_t deadline_ms);

/* Non-blocking probe used before reusing a cached connection:
 * 1 if the peer closed or sent unexpected bytes (do not reuse), 0 if idle. */
int pyw_io_peer_gone(int fd);

#endif /* PYW_IO_H */

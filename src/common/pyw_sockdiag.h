/*
 * pyw_sockdiag.h - how many connections wait in the accept queue of a
 * listening Unix socket, asked of the kernel by the socket's inode
 * (NETLINK_SOCK_DIAG, UNIX_DIAG_RQLEN), so the asker needs no descriptor
 * of it: Apache's children close the groups' listening sockets.
 *
 * On Linux, ioctl(SIOCINQ) on a listening AF_UNIX socket fails with
 * EINVAL; sock_diag is what `ss -xl` shows as Recv-Q.  One netlink
 * socket, one request and one reply per call; never blocks.
 */
#ifndef PYW_SOCKDIAG_H
#define PYW_SOCKDIAG_H

#include <stdint.h>

/* The accept queue of the listening Unix socket with inode `ino` (as
 * fstat() of a descriptor of it says), or -errno (-ENOENT: no such
 * socket, -EINVAL: not listening). */
int pyw_sockdiag_unix_backlog(uint64_t ino);

#endif /* PYW_SOCKDIAG_H */

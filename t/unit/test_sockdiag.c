/*
 * test_sockdiag.c - the accept queue of a listening Unix socket, as the
 * status page reads it: N connections nobody accepted are N; accepting
 * one is one less; a socket that does not listen, or no socket, is an
 * error, never a number.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"
#include "pyw_sockdiag.h"

static uint64_t inode_of(int fd)
{
    struct stat st;

    return fstat(fd, &st) == 0 ? (uint64_t)st.st_ino : 0;
}

static void test_backlog(void)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int l = socket(AF_UNIX, SOCK_STREAM, 0), c[5], i, a;
    uint64_t ino;

    snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/pyw-sockdiag-%ld",
             (long)getpid());
    unlink(sa.sun_path);
    CHECK(bind(l, (struct sockaddr *)&sa, sizeof(sa)) == 0);
    ino = inode_of(l);
    CHECK_EQ(pyw_sockdiag_unix_backlog(ino), -EINVAL);   /* not listening */
    CHECK(listen(l, 16) == 0);
    CHECK_EQ(pyw_sockdiag_unix_backlog(ino), 0);
    for (i = 0; i < 5; i++) {
        c[i] = socket(AF_UNIX, SOCK_STREAM, 0);
        CHECK(connect(c[i], (struct sockaddr *)&sa, sizeof(sa)) == 0);
    }
    CHECK_EQ(pyw_sockdiag_unix_backlog(ino), 5);
    a = accept(l, NULL, NULL);
    CHECK(a >= 0);
    CHECK_EQ(pyw_sockdiag_unix_backlog(ino), 4);
    /* A connected socket's inode is not a listener. */
    CHECK_EQ(pyw_sockdiag_unix_backlog(inode_of(a)), -EINVAL);
    close(a);
    for (i = 0; i < 5; i++) {
        close(c[i]);
    }
    close(l);
    unlink(sa.sun_path);
    CHECK_EQ(pyw_sockdiag_unix_backlog(ino), -ENOENT);   /* gone */
    CHECK_EQ(pyw_sockdiag_unix_backlog(0), -EINVAL);
}

int main(void)
{
    test_backlog();
    return UNIT_DONE();
}

/*
 * test_io.c - pyw_io over socketpair(): writes that only complete in many
 * short pieces (tiny socket buffers, a slow reader in a child process),
 * reads that meet EOF, deadlines, EPIPE without SIGPIPE, and the idle
 * connection probe.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "pyw_io.h"

#define BIG (600u * 1024)

static unsigned char pattern(size_t i)
{
    return (unsigned char)(i * 131 + (i >> 9));
}

static void make_pair(int sv[2], int small_buffers)
{
    int sz = 4096;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        perror("socketpair");
        exit(2);
    }
    if (small_buffers) {
        setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
        setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
    }
}

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Child: read slowly until EOF; exit 0 if exactly `total` bytes of the
 * pattern arrived. */
static void slow_reader(int fd, size_t total)
{
    unsigned char buf[1000];
    size_t got = 0, i;
    ssize_t n;
    int ok = 1;

    while ((n = read(fd, buf, sizeof(buf))) > 0) {
        for (i = 0; i < (size_t)n; i++) {
            ok &= buf[i] == pattern(got + i);
        }
        got += (size_t)n;
        usleep(20);
    }
    _exit(ok && n == 0 && got == total ? 0 : 1);
}

static int reap(pid_t pid)
{
    int st = -1;

    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100;
}

/* Write iov to a slow reader through 4K buffers. */
static void write_to_slow_reader(struct iovec *iov, int iovcnt, size_t total,
                                 int nonblock)
{
    int sv[2], i, all_consumed = 1;
    pid_t pid;

    make_pair(sv, 1);
    pid = fork();
    if (pid == 0) {
        close(sv[0]);
        slow_reader(sv[1], total);
    }
    close(sv[1]);
    if (nonblock) {
        set_nonblock(sv[0]);
    }
    CHECK_EQ(pyw_io_writev_full(sv[0], iov, iovcnt, pyw_io_deadline(20000)),
             0);
    for (i = 0; i < iovcnt; i++) {
        all_consumed &= iov[i].iov_len == 0;
    }
    CHECK(all_consumed);
    close(sv[0]);
    CHECK_EQ(reap(pid), 0);
}

static void test_writev_short_writes(void)
{
    unsigned char *data = malloc(BIG);
    struct iovec iov[6], *many;
    size_t i, cuts[] = { 0, 1, 1, 100001, 100004, 300000, BIG };
    int nonblock;

    for (i = 0; i < BIG; i++) {
        data[i] = pattern(i);
    }
    for (nonblock = 0; nonblock <= 1; nonblock++) {
        for (i = 0; i < 6; i++) {       /* includes an empty entry */
            iov[i].iov_base = data + cuts[i];
            iov[i].iov_len = cuts[i + 1] - cuts[i];
        }
        write_to_slow_reader(iov, 6, BIG, nonblock);
    }
    /* More entries than IOV_MAX: sent in several sendmsg() calls. */
    many = calloc(3000, sizeof(*many));
    for (i = 0; i < 3000; i++) {
        many[i].iov_base = data + i * 7;
        many[i].iov_len = 7;
    }
    write_to_slow_reader(many, 3000, 3000 * 7, 1);
    free(many);
    free(data);
}

/* pyw_io_writev_once never waits: all at once, or -EAGAIN with the iov
 * advanced to exactly what is left, which writev_full then finishes. */
static void test_writev_once(void)
{
    unsigned char *data = malloc(BIG), *got = malloc(BIG);
    struct iovec iov[3], *it = iov;
    size_t i;
    int sv[2], n = 3;
    pid_t pid;

    for (i = 0; i < BIG; i++) {
        data[i] = pattern(i);
    }
    make_pair(sv, 1);
    iov[0].iov_base = data;
    iov[0].iov_len = 10;
    iov[1].iov_base = data + 10;
    iov[1].iov_len = 0;
    iov[2].iov_base = data + 10;
    iov[2].iov_len = 90;
    CHECK_EQ(pyw_io_writev_once(sv[0], &it, &n), 0);
    CHECK_EQ(read(sv[1], got, BIG), 100);
    CHECK(memcmp(got, data, 100) == 0);

    /* Far more than the 4K buffers hold: part goes, the rest waits. */
    iov[0].iov_base = data;
    iov[0].iov_len = 1000;
    iov[1].iov_base = data + 1000;
    iov[1].iov_len = BIG - 1000;
    it = iov;
    n = 2;
    CHECK_EQ(pyw_io_writev_once(sv[0], &it, &n), -EAGAIN);
    CHECK(n >= 1 && (unsigned char *)it[0].iov_base > data
          && (unsigned char *)it[n - 1].iov_base + it[n - 1].iov_len
             == data + BIG);
    CHECK_EQ(pyw_io_writev_once(sv[0], &it, &n), -EAGAIN);  /* still full */
    pid = fork();
    if (pid == 0) {
        close(sv[0]);
        slow_reader(sv[1], BIG);
    }
    close(sv[1]);
    CHECK_EQ(pyw_io_writev_full(sv[0], it, n, pyw_io_deadline(20000)), 0);
    close(sv[0]);
    CHECK_EQ(reap(pid), 0);

    /* A closed peer: -EPIPE at once, no SIGPIPE. */
    make_pair(sv, 0);
    close(sv[1]);
    it = iov;
    n = 1;
    iov[0].iov_base = data;
    iov[0].iov_len = 10;
    CHECK_EQ(pyw_io_writev_once(sv[0], &it, &n), -EPIPE);
    close(sv[0]);
    free(got);
    free(data);
}

static void test_read_full(void)
{
    int sv[2];
    char buf[16];

    make_pair(sv, 0);
    CHECK_EQ(write(sv[1], "abcdef", 6), 6);
    CHECK_EQ(pyw_io_read_full(sv[0], buf, 6, pyw_io_deadline(1000)), 0);
    CHECK(memcmp(buf, "abcdef", 6) == 0);
    CHECK_EQ(pyw_io_read_some(sv[0], buf, 0, PYW_NO_DEADLINE), -EINVAL);
    CHECK_EQ(write(sv[1], "xyz", 3), 3);
    close(sv[1]);
    CHECK_EQ(pyw_io_read_full(sv[0], buf, 10, pyw_io_deadline(1000)),
             -ECONNRESET);
    CHECK_EQ(pyw_io_read_some(sv[0], buf, 10, pyw_io_deadline(1000)), 0);
    CHECK_EQ(pyw_io_read_full(sv[0], buf, 0, pyw_io_deadline(1000)), 0);
    close(sv[0]);
}

/* Data arriving later on a blocking socket: the wait happens in poll(). */
static void test_read_waits(void)
{
    int sv[2];
    char buf[4];
    pid_t pid;

    make_pair(sv, 0);
    pid = fork();
    if (pid == 0) {
        usleep(30000);
        _exit(write(sv[1], "late", 4) == 4 ? 0 : 1);
    }
    CHECK_EQ(pyw_io_read_full(sv[0], buf, 4, pyw_io_deadline(5000)), 0);
    CHECK(memcmp(buf, "late", 4) == 0);
    CHECK_EQ(reap(pid), 0);
    close(sv[0]);
    close(sv[1]);
}

static void test_deadlines(void)
{
    int sv[2];
    char buf[8];
    unsigned char *big = calloc(1, 1 << 20);
    int64_t t0, now = pyw_io_now_ms();

    CHECK(pyw_io_deadline(-1) == PYW_NO_DEADLINE);
    CHECK(pyw_io_deadline(INT64_MAX) == PYW_NO_DEADLINE);
    CHECK(pyw_io_deadline(100) >= now + 100);
    CHECK(pyw_io_deadline(100) <= pyw_io_now_ms() + 100);

    make_pair(sv, 1);
    t0 = pyw_io_now_ms();
    CHECK_EQ(pyw_io_read_full(sv[0], buf, 1, pyw_io_deadline(50)),
             -ETIMEDOUT);
    CHECK(pyw_io_now_ms() - t0 >= 49 && pyw_io_now_ms() - t0 < 2000);
    CHECK_EQ(pyw_io_wait(sv[0], POLLIN, pyw_io_now_ms() - 1), -ETIMEDOUT);
    CHECK_EQ(pyw_io_wait(sv[0], POLLOUT, pyw_io_now_ms() - 1), 0);
    /* Nobody reads: the write blocks until its deadline. */
    CHECK_EQ(pyw_io_write_full(sv[0], big, 1 << 20, pyw_io_deadline(50)),
             -ETIMEDOUT);
    CHECK_EQ(write(sv[1], "x", 1), 1);
    CHECK_EQ(pyw_io_wait(sv[0], POLLIN, pyw_io_deadline(0)), 0);
    close(sv[0]);
    close(sv[1]);
    free(big);
}

static void test_epipe(void)
{
    int sv[2];

    make_pair(sv, 0);
    close(sv[1]);
    /* Would kill the test with SIGPIPE without MSG_NOSIGNAL. */
    CHECK_EQ(pyw_io_write_full(sv[0], "x", 1, pyw_io_deadline(1000)),
             -EPIPE);
    close(sv[0]);
}

static void test_peer_gone(void)
{
    int sv[2];
    char c;

    make_pair(sv, 0);
    CHECK_EQ(pyw_io_peer_gone(sv[0]), 0);
    CHECK_EQ(write(sv[1], "!", 1), 1);
    CHECK_EQ(pyw_io_peer_gone(sv[0]), 1);      /* unexpected bytes */
    CHECK_EQ(read(sv[0], &c, 1), 1);           /* the probe only peeked */
    CHECK_EQ(pyw_io_peer_gone(sv[0]), 0);
    shutdown(sv[1], SHUT_WR);
    CHECK_EQ(pyw_io_peer_gone(sv[0]), 1);
    close(sv[0]);
    close(sv[1]);

    make_pair(sv, 0);
    close(sv[1]);
    CHECK_EQ(pyw_io_peer_gone(sv[0]), 1);
    close(sv[0]);
}

int main(void)
{
    test_writev_short_writes();
    test_writev_once();
    test_read_full();
    test_read_waits();
    test_deadlines();
    test_epipe();
    test_peer_gone();
    return UNIT_DONE();
}

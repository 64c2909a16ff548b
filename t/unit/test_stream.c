/*
 * test_stream.c - pyw_stream over socketpair().  A forked child plays the
 * peer: it writes frames byte by byte or in chunks (with pauses, so they
 * really arrive in pieces), or one large payload; the test reads them with
 * every pyw_stream call.  EOF, deadlines and malformed headers end it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "pyw_io.h"
#include "pyw_stream.h"

#define MIB  (1u << 20)

static unsigned char pattern(size_t i)
{
    return (unsigned char)(i * 131 + (i >> 9));
}

/* Append one frame to b at *off. */
static void add_frame(unsigned char *b, size_t *off, pyw_frame_type_e type,
                      const void *payload, size_t len)
{
    CHECK_EQ(pyw_frame_header_put(b + *off, 8, type, (uint32_t)len), 8);
    if (len) {
        memcpy(b + *off + 8, payload, len);
    }
    *off += 8 + len;
}

/* Fork a peer that writes data in chunks of `chunk` bytes, pausing `gap`
 * microseconds between them, then closes.  The parent keeps only sv[0]
 * open (stream), so EOF follows the data. */
static pid_t spawn_writer(int sv[2], const unsigned char *data, size_t len,
                          size_t chunk, unsigned gap)
{
    pid_t pid = fork();
    size_t off, n;
    int ok = 1;

    if (pid == 0) {
        close(sv[0]);
        for (off = 0; ok && off < len; off += n) {
            n = len - off < chunk ? len - off : chunk;
            ok = pyw_io_write_full(sv[1], data + off, n,
                                   PYW_NO_DEADLINE) == 0;
            if (gap) {
                usleep(gap);
            }
        }
        _exit(ok ? 0 : 1);
    }
    close(sv[1]);
    return pid;
}

static int reap(pid_t pid)
{
    int st = -1;

    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 100;
}

static void make_pair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        perror("socketpair");
        exit(2);
    }
}

/* HELLO, HEADERS, DATA "abc", END. */
static size_t small_exchange(unsigned char *b)
{
    unsigned char p[64];
    size_t off = 0, n;

    off = pyw_hello_put(b, 20, 321);
    n = pyw_status_put(p, sizeof(p), 200, "OK", 2);
    n += pyw_pair_put(p + n, sizeof(p) - n, "X-A", 3, "bc", 2);
    add_frame(b, &off, PYW_FRAME_HEADERS, p, n);
    add_frame(b, &off, PYW_FRAME_DATA, "abc", 3);
    add_frame(b, &off, PYW_FRAME_END, NULL, 0);
    return off;
}

static void read_small_exchange(pyw_stream_t *s, int64_t deadline)
{
    pyw_frame_t f;
    const unsigned char *p;
    pyw_hello_t h;
    uint16_t status;
    pyw_slice_t reason;
    size_t rest_len;
    const char *err;
    char data[8];
    long n, got = 0;

    CHECK_EQ(pyw_stream_next(s, &f, deadline), 0);
    CHECK_EQ(f.type, PYW_FRAME_HELLO);
    CHECK_EQ(pyw_stream_payload(s, &p, deadline), 0);
    CHECK(pyw_hello_decode(p, f.length, &h, &err) == 0 && h.pid == 321);
    CHECK_EQ(pyw_stream_next(s, &f, deadline), 0);
    CHECK_EQ(f.type, PYW_FRAME_HEADERS);
    CHECK_EQ(pyw_stream_payload(s, &p, deadline), 0);
    CHECK_EQ(pyw_status_decode(p, f.length, &status, &reason, &p,
                               &rest_len, &err), 0);
    CHECK(status == 200 && rest_len == pyw_pair_size(3, 2));
    CHECK_EQ(pyw_stream_next(s, &f, deadline), 0);
    CHECK(f.type == PYW_FRAME_DATA && f.length == 3);
    while ((n = pyw_stream_read_payload(s, data + got, 2, deadline)) > 0) {
        got += n;
    }
    CHECK(n == 0 && got == 3 && memcmp(data, "abc", 3) == 0);
    CHECK_EQ(pyw_stream_next(s, &f, deadline), 0);
    CHECK(f.type == PYW_FRAME_END && s->payload_left == 0);
}

/* Frames trickling in: 1, 2, 3 or 7 bytes at a time. */
static void test_pieces(void)
{
    static const size_t chunks[] = { 1, 2, 3, 7 };
    unsigned char b[256];
    size_t i, len = small_exchange(b);
    pyw_stream_t s;
    pyw_frame_t f;
    int sv[2];
    pid_t pid;

    for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
        make_pair(sv);
        pid = spawn_writer(sv, b, len, chunks[i], 200);
        CHECK_EQ(pyw_stream_init(&s, sv[0]), 0);
        read_small_exchange(&s, pyw_io_deadline(10000));
        CHECK_EQ(pyw_stream_next(&s, &f, pyw_io_deadline(10000)),
                 -ECONNRESET);
        pyw_stream_free(&s);
        close(sv[0]);
        CHECK_EQ(reap(pid), 0);
    }
}

/* Frames sent together are read with one recv(): after the first
 * pyw_stream_next() everything is buffered, and the rest needs no I/O
 * (an already passed deadline would otherwise give -ETIMEDOUT). */
static void test_one_write(void)
{
    unsigned char b[256];
    size_t len = small_exchange(b);
    pyw_stream_t s;
    pyw_frame_t f;
    int sv[2];

    make_pair(sv);
    CHECK_EQ(write(sv[1], b, len), (ssize_t)len);
    CHECK_EQ(pyw_stream_init(&s, sv[0]), 0);
    CHECK_EQ(pyw_stream_next(&s, &f, pyw_io_deadline(1000)), 0);
    CHECK_EQ(pyw_stream_buffered(&s), len - 8);
    s.pos -= 8;                             /* replay the HELLO header */
    s.payload_left = 0;
    read_small_exchange(&s, pyw_io_now_ms() - 1);
    CHECK_EQ(pyw_stream_next(&s, &f, pyw_io_now_ms() - 1), -ETIMEDOUT);
    pyw_stream_free(&s);
    close(sv[0]);
    close(sv[1]);
}

/* Many frames of awkward sizes in one stream: they straddle the end of the
 * 16K buffer at every offset, so compaction is exercised. */
static void test_many_frames(void)
{
    size_t cap = 400 * 1024, off = 0, i, k, len;
    unsigned char *b = malloc(cap), *data = malloc(4000);
    const unsigned char *p;
    pyw_stream_t s;
    pyw_frame_t f;
    int sv[2], ok = 1;
    pid_t pid;

    for (i = 0; i < 4000; i++) {
        data[i] = pattern(i);
    }
    for (i = 0; off + 4100 < cap; i++) {
        add_frame(b, &off, PYW_FRAME_DATA, data, (i * 997) % 4000);
    }
    add_frame(b, &off, PYW_FRAME_END, NULL, 0);
    make_pair(sv);
    pid = spawn_writer(sv, b, off, 5000, 0);
    CHECK_EQ(pyw_stream_init(&s, sv[0]), 0);
    for (k = 0; k < i; k++) {
        len = (k * 997) % 4000;
        ok &= pyw_stream_next(&s, &f, pyw_io_deadline(10000)) == 0;
        ok &= f.type == PYW_FRAME_DATA && f.length == len;
        ok &= pyw_stream_payload(&s, &p, pyw_io_deadline(10000)) == 0;
        ok &= memcmp(p, data, len) == 0;
    }
    CHECK(ok);
    CHECK_EQ(pyw_stream_next(&s, &f, pyw_io_deadline(10000)), 0);
    CHECK_EQ(f.type, PYW_FRAME_END);
    CHECK_EQ(s.cap, PYW_STREAM_INITIAL_CAP);
    pyw_stream_free(&s);
    close(sv[0]);
    CHECK_EQ(reap(pid), 0);
    free(b);
    free(data);
}

/* A 1 MiB DATA frame then DATA "tail" and END, written in 64K chunks. */
static unsigned char *big_stream(size_t *len)
{
    unsigned char *b = malloc(MIB + 64), *d = b + 8;
    size_t i, off = 0;

    for (i = 0; i < MIB; i++) {
        d[i] = pattern(i);
    }
    CHECK_EQ(pyw_frame_header_put(b, 8, PYW_FRAME_DATA, MIB), 8);
    off = 8 + MIB;
    add_frame(b, &off, PYW_FRAME_DATA, "tail", 4);
    add_frame(b, &off, PYW_FRAME_END, NULL, 0);
    *len = off;
    return b;
}

static void read_tail(pyw_stream_t *s)
{
    const unsigned char *p;
    pyw_frame_t f;

    CHECK_EQ(pyw_stream_next(s, &f, pyw_io_deadline(10000)), 0);
    CHECK(f.type == PYW_FRAME_DATA && f.length == 4);
    CHECK_EQ(pyw_stream_payload(s, &p, pyw_io_deadline(10000)), 0);
    CHECK(memcmp(p, "tail", 4) == 0);
    CHECK_EQ(pyw_stream_next(s, &f, pyw_io_deadline(10000)), 0);
    CHECK_EQ(f.type, PYW_FRAME_END);
}

/* One read or peek of up to `want` bytes at offset `got`, checked. */
static long read_piece(pyw_stream_t *s, unsigned char *dst, size_t want,
                       int peek, size_t got, int *ok)
{
    const unsigned char *p = dst;
    long n, i;

    n = peek ? pyw_stream_peek_payload(s, &p, want, pyw_io_deadline(10000))
             : pyw_stream_read_payload(s, dst, want, pyw_io_deadline(10000));
    *ok &= n >= 0 && (size_t)n <= want;
    for (i = 0; i < n; i++) {
        *ok &= p[i] == pattern(got + (size_t)i);
    }
    return n;
}

static void test_big_pieces(void)
{
    /* An odd count, so each size is used both to read and to peek. */
    static const size_t sizes[] = { 1, 10, 100, 8191, 8192, 65536, 3,
                                    200000, 16384, 17000, 5 };
    const size_t nsizes = sizeof(sizes) / sizeof(sizes[0]);
    unsigned char *dst = malloc(200000), *b;
    size_t len, got = 0, k = 0, most = 0;
    pyw_stream_t s;
    pyw_frame_t f;
    int sv[2], ok = 1;
    long n;
    pid_t pid;

    b = big_stream(&len);
    make_pair(sv);
    pid = spawn_writer(sv, b, len, 65536, 0);
    CHECK_EQ(pyw_stream_init(&s, sv[0]), 0);
    CHECK_EQ(pyw_stream_next(&s, &f, pyw_io_deadline(10000)), 0);
    CHECK(f.type == PYW_FRAME_DATA && f.length == MIB);
    do {
        n = read_piece(&s, dst, sizes[k % nsizes], (int)(k & 1), got, &ok);
        got += n > 0 ? (size_t)n : 0;
        if (!(k & 1) && n > 0 && (size_t)n > most) {
            most = (size_t)n;
        }
        k++;
    } while (n > 0 && ok);
    CHECK(ok);
    CHECK(n == 0 && got == MIB && s.payload_left == 0);
    /* More than the buffer holds in one call: read straight into dst. */
    CHECK(most > PYW_STREAM_INITIAL_CAP);
    CHECK_EQ(s.cap, PYW_STREAM_INITIAL_CAP);    /* never grown */
    read_tail(&s);
    pyw_stream_free(&s);
    close(sv[0]);
    CHECK_EQ(reap(pid), 0);
    free(b);
    free(dst);
}

/* pyw_stream_payload() of the largest frame grows the buffer to it. */
static void test_big_whole(void)
{
    const unsigned char *p;
    unsigned char *b;
    size_t len, i;
    pyw_stream_t s;
    pyw_frame_t f;
    int sv[2], ok = 1;
    pid_t pid;

    b = big_stream(&len);
    make_pair(sv);
    pid = spawn_writer(sv, b, len, 65536, 0);
    CHECK_EQ(pyw_stream_init(&s, sv[0]), 0);
    CHECK_EQ(pyw_stream_next(&s, &f, pyw_io_deadline(10000)), 0);
    CHECK_EQ(pyw_stream_payload(&s, &p, pyw_io_deadline(10000)), 0);
    for (i = 0; i < MIB; i++) {
        ok &= p[i] == pattern(i);
    }
    CHECK(ok);
    CHECK(s.cap >= MIB && s.cap <= 2 * MIB);
    read_tail(&s);
    pyw_stream_free(&s);
    close(sv[0]);
    CHECK_EQ(reap(pid), 0);
    free(b);
}

/* Write `len` bytes of b, optionally close the peer, and return a stream
 * on the other end. */
static void feed(pyw_stream_t *s, int sv[2], const void *b, size_t len,
                 int close_peer)
{
    make_pair(sv);
    CHECK_EQ(write(sv[1], b, len), (ssize_t)len);
    if (close_peer) {
        close(sv[1]);
        sv[1] = -1;
    }
    CHECK_EQ(pyw_stream_init(s, sv[0]), 0);
}

static void done(pyw_stream_t *s, int sv[2])
{
    pyw_stream_free(s);
    close(sv[0]);
    if (sv[1] >= 0) {
        close(sv[1]);
    }
}

static void test_eof_and_timeout(void)
{
    unsigned char b[200], dst[200];
    const unsigned char *p;
    pyw_stream_t s;
    pyw_frame_t f;
    int sv[2], close_peer, want;
    long n, got;

    memset(b, 'x', sizeof(b));
    CHECK_EQ(pyw_frame_header_put(b, 8, PYW_FRAME_DATA, 100), 8);
    for (close_peer = 1; close_peer >= 0; close_peer--) {
        want = close_peer ? -ECONNRESET : -ETIMEDOUT;
        feed(&s, sv, b, 0, close_peer);        /* nothing at all */
        CHECK_EQ(pyw_stream_next(&s, &f, pyw_io_deadline(50)), want);
        done(&s, sv);
        feed(&s, sv, b, 5, close_peer);        /* part of a header */
        CHECK_EQ(pyw_stream_next(&s, &f, pyw_io_deadline(50)), want);
        done(&s, sv);
        feed(&s, sv, b, 8 + 50, close_peer);   /* half the payload */
        CHECK_EQ(pyw_stream_next(&s, &f, pyw_io_deadline(50)), 0);
        got = 0;
        while ((n = pyw_stream_read_payload(&s, dst, sizeof(dst),
                                            pyw_io_deadline(50))) > 0) {
            got += n;
        }
        CHECK(got == 50 && n == want);
        done(&s, sv);
        feed(&s, sv, b, 8 + 50, close_peer);
        CHECK_EQ(pyw_stream_next(&s, &f, pyw_io_deadline(50)), 0);
        CHECK_EQ(pyw_stream_payload(&s, &p, pyw_io_deadline(50)), want);
        done(&s, sv);
    }
}

/* recv_ready keeps end of stream (0) and a reset (the peer closed with
 * our bytes unread) apart, and never waits. */
static void test_recv_ready(void)
{
    unsigned char b[64], junk[4] = { 0 };
    pyw_stream_t s;
    pyw_frame_t f;
    int sv[2];
    size_t len = small_exchange(b);

    make_pair(sv);
    CHECK_EQ(pyw_stream_init(&s, sv[0]), 0);
    CHECK_EQ(pyw_stream_recv_ready(&s), -EAGAIN);
    CHECK_EQ(write(sv[1], b, len), (ssize_t)len);
    CHECK_EQ(pyw_stream_recv_ready(&s), (ssize_t)len);
    read_small_exchange(&s, pyw_io_deadline(50));
    close(sv[1]);
    CHECK_EQ(pyw_stream_recv_ready(&s), 0);
    CHECK_EQ(pyw_stream_next(&s, &f, pyw_io_deadline(50)), -ECONNRESET);
    pyw_stream_free(&s);
    close(sv[0]);

    make_pair(sv);
    CHECK_EQ(pyw_stream_init(&s, sv[0]), 0);
    CHECK_EQ(write(sv[0], junk, sizeof(junk)), (ssize_t)sizeof(junk));
    close(sv[1]);                       /* with our 4 bytes unread */
    CHECK_EQ(pyw_stream_recv_ready(&s), -ECONNRESET);
    pyw_stream_free(&s);
    close(sv[0]);
}

/* A look at a header byte, from the socket or the buffer, consumes
 * nothing: the frame still reads whole afterwards. */
static void test_peek_byte(void)
{
    unsigned char b[16];
    pyw_stream_t s;
    pyw_frame_t f;
    int sv[2];
    size_t len = pyw_request_header_put(b, sizeof(b), PYW_REQUEST_RESENT, 0,
                                        0);

    make_pair(sv);
    CHECK_EQ(pyw_stream_init(&s, sv[0]), 0);
    CHECK_EQ(pyw_stream_peek_byte(&s, PYW_FRAME_FLAGS_OFFSET), -1);
    CHECK_EQ(write(sv[1], b, 1), 1);    /* only the type byte so far */
    CHECK_EQ(pyw_stream_peek_byte(&s, 0), PYW_FRAME_REQUEST);
    CHECK_EQ(pyw_stream_peek_byte(&s, PYW_FRAME_FLAGS_OFFSET), -1);
    CHECK_EQ(write(sv[1], b + 1, len - 1), (ssize_t)len - 1);
    CHECK_EQ(pyw_stream_peek_byte(&s, PYW_FRAME_FLAGS_OFFSET),
             PYW_REQUEST_RESENT);
    CHECK_EQ(pyw_stream_recv_ready(&s), (ssize_t)len);     /* buffered */
    CHECK_EQ(pyw_stream_peek_byte(&s, PYW_FRAME_FLAGS_OFFSET),
             PYW_REQUEST_RESENT);
    CHECK_EQ(pyw_stream_peek_byte(&s, PYW_FRAME_HEADER_SIZE + 8), -1);
    CHECK_EQ(pyw_stream_next(&s, &f, pyw_io_deadline(50)), 0);
    CHECK(f.type == PYW_FRAME_REQUEST && f.flags == PYW_REQUEST_RESENT
          && f.length == 0);
    pyw_stream_free(&s);
    close(sv[0]);
    close(sv[1]);
}

/* An exchange that filled more than a page gives its buffer back when
 * the connection goes idle; a small one keeps it; either way the next
 * exchange reads as before. */
static void test_idle_releases_big_buffers(void)
{
    static unsigned char big[8 + 12000], payload[12000];
    unsigned char b[64];
    pyw_stream_t s;
    pyw_frame_t f;
    unsigned char *kept;
    int sv[2];
    size_t len = small_exchange(b), off = 0, i;
    int64_t dl = pyw_io_deadline(1000);

    for (i = 0; i < sizeof(payload); i++) {
        payload[i] = pattern(i);
    }
    add_frame(big, &off, PYW_FRAME_DATA, payload, sizeof(payload));
    make_pair(sv);
    CHECK_EQ(pyw_stream_init(&s, sv[0]), 0);
    CHECK_EQ(write(sv[1], b, len), (ssize_t)len);
    read_small_exchange(&s, dl);
    kept = s.buf;
    pyw_stream_idle(&s);
    CHECK(s.buf == kept && s.buf != NULL);

    CHECK_EQ(pyw_io_write_full(sv[1], big, off, dl), 0);
    CHECK_EQ(pyw_stream_next(&s, &f, dl), 0);
    CHECK(f.type == PYW_FRAME_DATA && f.length == 12000);
    CHECK_EQ(pyw_stream_skip_payload(&s, dl), 0);
    pyw_stream_idle(&s);
    CHECK(s.buf == NULL && pyw_stream_buffered(&s) == 0);

    /* Idle again with nothing read: nothing to free, nothing breaks. */
    pyw_stream_idle(&s);
    CHECK_EQ(write(sv[1], b, len), (ssize_t)len);
    read_small_exchange(&s, dl);
    CHECK(s.buf != NULL);
    pyw_stream_free(&s);
    close(sv[0]);
    close(sv[1]);
}

static void test_malformed(void)
{
    static const struct { uint8_t type, flags; uint32_t length; } bad[] = {
        { 0, 0, 0 }, { 42, 0, 0 }, { PYW_FRAME_DATA, 4, 0 },
        { PYW_FRAME_DATA, 0, PYW_MAX_DATA_PAYLOAD + 1 },
        { PYW_FRAME_END, 0, 1 }, { PYW_FRAME_HELLO, 0, 4 },
    };
    unsigned char b[8];
    pyw_stream_t s;
    pyw_frame_t f;
    size_t i;
    int sv[2];

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pyw_frame_header_put(b, 8, PYW_FRAME_END, 0);
        b[0] = bad[i].type;
        b[1] = bad[i].flags;
        b[4] = (unsigned char)(bad[i].length >> 24);
        b[5] = (unsigned char)(bad[i].length >> 16);
        b[6] = (unsigned char)(bad[i].length >> 8);
        b[7] = (unsigned char)bad[i].length;
        /* Peer stays open: the error must not wait for a payload. */
        feed(&s, sv, b, 8, 0);
        s.err = NULL;
        CHECK_EQ(pyw_stream_next(&s, &f, pyw_io_deadline(2000)), -EPROTO);
        CHECK(s.err != NULL);
        done(&s, sv);
    }
}

static void test_skip_and_misuse(void)
{
    unsigned char *b = calloc(1, 100100), *zero = calloc(1, 100000);
    unsigned char dst[16];
    const unsigned char *p;
    size_t off = 0;
    pyw_stream_t s;
    pyw_frame_t f;
    int sv[2];
    pid_t pid;

    add_frame(b, &off, PYW_FRAME_BODY, zero, 100000);
    add_frame(b, &off, PYW_FRAME_BODY, NULL, 0);
    make_pair(sv);
    pid = spawn_writer(sv, b, off, 30000, 0);
    CHECK_EQ(pyw_stream_init(&s, sv[0]), 0);
    CHECK_EQ(pyw_stream_next(&s, &f, pyw_io_deadline(10000)), 0);
    CHECK_EQ(pyw_stream_read_payload(&s, dst, 10, PYW_NO_DEADLINE), 10);
    CHECK_EQ(pyw_stream_next(&s, &f, PYW_NO_DEADLINE), -EINVAL);
    CHECK_EQ(pyw_stream_read_payload(&s, dst, 0, PYW_NO_DEADLINE), -EINVAL);
    CHECK_EQ(pyw_stream_peek_payload(&s, &p, 0, PYW_NO_DEADLINE), -EINVAL);
    CHECK_EQ(pyw_stream_skip_payload(&s, pyw_io_deadline(10000)), 0);
    CHECK_EQ(s.payload_left, 0);
    CHECK_EQ(pyw_stream_read_payload(&s, dst, 10, PYW_NO_DEADLINE), 0);
    CHECK_EQ(pyw_stream_peek_payload(&s, &p, 10, PYW_NO_DEADLINE), 0);
    CHECK_EQ(pyw_stream_next(&s, &f, pyw_io_deadline(10000)), 0);
    CHECK(f.type == PYW_FRAME_BODY && f.length == 0);
    CHECK_EQ(pyw_stream_payload(&s, &p, PYW_NO_DEADLINE), 0);
    CHECK_EQ(pyw_stream_skip_payload(&s, PYW_NO_DEADLINE), 0);
    CHECK_EQ(pyw_stream_next(&s, &f, pyw_io_deadline(10000)), -ECONNRESET);
    pyw_stream_free(&s);
    pyw_stream_free(&s);                    /* twice is harmless */
    close(sv[0]);
    CHECK_EQ(reap(pid), 0);
    free(b);
    free(zero);
}

/* ---- descriptors passed with SCM_RIGHTS (the FILE frame) ---- */

/* Open descriptors of this process (the directory's own one excluded). */
static int count_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n - 1;
}

/* An unlinked temp file holding `len` pattern bytes; its descriptor. */
static int temp_file(size_t len)
{
    char path[] = "/tmp/pyw-unit-XXXXXX";
    unsigned char *b = malloc(len ? len : 1);
    size_t i;
    int fd = mkstemp(path);

    CHECK(fd >= 0);
    unlink(path);               /* still readable through fd */
    for (i = 0; i < len; i++) {
        b[i] = pattern(i);
    }
    CHECK_EQ(write(fd, b, len), (ssize_t)len);
    free(b);
    return fd;
}

static size_t file_frame(unsigned char *b, uint64_t off, uint64_t len)
{
    return pyw_file_put(b, PYW_FRAME_HEADER_SIZE + PYW_FILE_SIZE, off, len);
}

/* HEADERS + FILE + END in one write, the descriptor on its first byte:
 * it is waiting as soon as HEADERS is read, FILE takes it, it reads the
 * (deleted) file at the frame's offset, and it is close-on-exec. */
static void test_fd_with_frames(void)
{
    unsigned char b[256], p[64], got[8];
    const unsigned char *pl;
    uint64_t off, len;
    size_t n, total = 0;
    const char *err;
    pyw_stream_t s;
    pyw_frame_t f;
    int sv[2], tf = temp_file(100), fd;

    n = pyw_status_put(p, sizeof(p), 200, "OK", 2);
    CHECK_EQ(pyw_frame_header_put(b, 8, PYW_FRAME_HEADERS, (uint32_t)n), 8);
    memcpy(b + 8, p, n);
    total = 8 + n;
    total += file_frame(b + total, 30, 5);
    add_frame(b, &total, PYW_FRAME_END, NULL, 0);
    make_pair(sv);
    CHECK_EQ(pyw_io_send_fd(sv[1], b, total, tf, pyw_io_deadline(1000)), 0);
    close(tf);
    CHECK_EQ(pyw_stream_init(&s, sv[0]), 0);
    CHECK_EQ(pyw_stream_next(&s, &f, pyw_io_deadline(1000)), 0);
    CHECK_EQ(f.type, PYW_FRAME_HEADERS);
    CHECK_EQ(pyw_stream_fds_waiting(&s), 1);
    CHECK_EQ(pyw_stream_skip_payload(&s, PYW_NO_DEADLINE), 0);
    CHECK_EQ(pyw_stream_next(&s, &f, pyw_io_deadline(1000)), 0);
    CHECK(f.type == PYW_FRAME_FILE && f.length == PYW_FILE_SIZE);
    CHECK_EQ(pyw_stream_payload(&s, &pl, PYW_NO_DEADLINE), 0);
    CHECK(pyw_file_decode(pl, f.length, &off, &len, &err) == 0
          && off == 30 && len == 5);
    fd = pyw_stream_take_fd(&s);
    CHECK(fd >= 0);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC);
    CHECK_EQ(pread(fd, got, (size_t)len, (off_t)off), 5);
    CHECK(got[0] == pattern(30) && got[4] == pattern(34));
    close(fd);
    CHECK_EQ(pyw_stream_take_fd(&s), -1);
    CHECK_EQ(pyw_stream_next(&s, &f, pyw_io_deadline(1000)), 0);
    CHECK_EQ(f.type, PYW_FRAME_END);
    done(&s, sv);
}

/* Two pipes sent one after the other come out in order; plain bytes
 * after them carry nothing. */
static void test_fd_queue_order(void)
{
    unsigned char b[64];
    pyw_stream_t s;
    pyw_frame_t f;
    int sv[2], p1[2], p2[2], a, c, k;
    size_t n = file_frame(b, 0, 1);
    char ch = 0;

    CHECK(pipe(p1) == 0 && pipe(p2) == 0);
    make_pair(sv);
    CHECK_EQ(pyw_io_send_fd(sv[1], b, n, p1[0], PYW_NO_DEADLINE), 0);
    CHECK_EQ(pyw_io_send_fd(sv[1], b, n, p2[0], PYW_NO_DEADLINE), 0);
    CHECK_EQ(pyw_io_write_full(sv[1], b, n, PYW_NO_DEADLINE), 0);
    close(p1[0]);
    close(p2[0]);
    CHECK(write(p1[1], "A", 1) == 1 && write(p2[1], "B", 1) == 1);
    CHECK_EQ(pyw_stream_init(&s, sv[0]), 0);
    for (k = 0; k < 3; k++) {
        CHECK_EQ(pyw_stream_next(&s, &f, pyw_io_deadline(1000)), 0);
        CHECK_EQ(f.type, PYW_FRAME_FILE);
        CHECK_EQ(pyw_stream_skip_payload(&s, PYW_NO_DEADLINE), 0);
    }
    CHECK_EQ(pyw_stream_fds_waiting(&s), 2);
    a = pyw_stream_take_fd(&s);
    c = pyw_stream_take_fd(&s);
    CHECK(a >= 0 && c >= 0 && pyw_stream_take_fd(&s) == -1);
    CHECK(read(a, &ch, 1) == 1 && ch == 'A');
    CHECK(read(c, &ch, 1) == 1 && ch == 'B');
    close(a);
    close(c);
    close(p1[1]);
    close(p2[1]);
    done(&s, sv);
}

/* More descriptors than the queue holds: the surplus is closed on
 * arrival, and pyw_stream_free() closes those never taken. */
static void test_fd_overflow_and_free(void)
{
    unsigned char b[64];
    pyw_stream_t s;
    pyw_frame_t f;
    size_t n = file_frame(b, 0, 0);
    int sv[2], base, k, null = open("/dev/null", O_RDONLY);

    make_pair(sv);
    base = count_fds();
    for (k = 0; k < PYW_STREAM_MAX_FDS + 3; k++) {
        CHECK_EQ(pyw_io_send_fd(sv[1], b, n, null, PYW_NO_DEADLINE), 0);
    }
    CHECK_EQ(pyw_stream_init(&s, sv[0]), 0);
    for (k = 0; k < PYW_STREAM_MAX_FDS + 3; k++) {
        CHECK_EQ(pyw_stream_next(&s, &f, pyw_io_deadline(1000)), 0);
        CHECK_EQ(pyw_stream_skip_payload(&s, PYW_NO_DEADLINE), 0);
    }
    CHECK_EQ(pyw_stream_fds_waiting(&s), PYW_STREAM_MAX_FDS);
    CHECK_EQ(count_fds(), base + PYW_STREAM_MAX_FDS);
    pyw_stream_free(&s);
    CHECK_EQ(count_fds(), base);
    close(sv[0]);
    close(sv[1]);
    close(null);
}

/* A 1 MiB DATA frame sent with a descriptor from another process: the
 * socket takes it in many pieces, the descriptor comes with the first,
 * and the payload read straight into the caller's memory is intact. */
static void test_fd_big_send(void)
{
    unsigned char *b, *dst = malloc(MIB), byte;
    size_t len, got = 0, i;
    pyw_stream_t s;
    pyw_frame_t f;
    int sv[2], ok = 1, tf = temp_file(10), fd;
    pid_t pid;
    long n;

    b = big_stream(&len);
    make_pair(sv);
    pid = fork();
    if (pid == 0) {
        close(sv[0]);
        _exit(pyw_io_send_fd(sv[1], b, len, tf, pyw_io_deadline(10000))
              == 0 ? 0 : 1);
    }
    close(sv[1]);
    close(tf);
    CHECK_EQ(pyw_stream_init(&s, sv[0]), 0);
    CHECK_EQ(pyw_stream_next(&s, &f, pyw_io_deadline(10000)), 0);
    CHECK(f.type == PYW_FRAME_DATA && f.length == MIB);
    CHECK_EQ(pyw_stream_fds_waiting(&s), 1);
    /* The buffered start is copied, the rest read straight into dst. */
    while ((n = pyw_stream_read_payload(&s, dst + got, MIB - got,
                                        pyw_io_deadline(10000))) > 0) {
        got += (size_t)n;
    }
    CHECK(n == 0 && got == MIB);
    for (i = 0; i < MIB; i++) {
        ok &= dst[i] == pattern(i);
    }
    CHECK(ok);
    read_tail(&s);
    fd = pyw_stream_take_fd(&s);
    CHECK(fd >= 0 && pread(fd, &byte, 1, 9) == 1 && byte == pattern(9));
    close(fd);
    pyw_stream_free(&s);
    close(sv[0]);
    CHECK_EQ(reap(pid), 0);
    free(b);
    free(dst);
}

static void test_fd_send_errors(void)
{
    unsigned char b[8] = { 0 };
    int sv[2];

    make_pair(sv);
    CHECK_EQ(pyw_io_send_fd(sv[1], b, 0, 0, PYW_NO_DEADLINE), -EINVAL);
    CHECK_EQ(pyw_io_send_fd(sv[1], b, 8, -1, PYW_NO_DEADLINE), -EINVAL);
    CHECK_EQ(pyw_io_send_fd(sv[1], b, 8, 12345, PYW_NO_DEADLINE), -EBADF);
    close(sv[0]);
    CHECK_EQ(pyw_io_send_fd(sv[1], b, 8, 0, PYW_NO_DEADLINE), -EPIPE);
    close(sv[1]);
}

int main(void)
{
    test_pieces();
    test_one_write();
    test_many_frames();
    test_big_pieces();
    test_big_whole();
    test_eof_and_timeout();
    test_recv_ready();
    test_peek_byte();
    test_idle_releases_big_buffers();
    test_malformed();
    test_skip_and_misuse();
    test_fd_with_frames();
    test_fd_queue_order();
    test_fd_overflow_and_free();
    test_fd_big_send();
    test_fd_send_errors();
    return UNIT_DONE();
}

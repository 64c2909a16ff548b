/*
 * test_rewind.c - pyw_rewind: bytes kept in memory, then in a file
 * without a name; read back at any offset; a failure keeps what was
 * kept; nothing is left in the directory, and free closes the file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "pyw_rewind.h"

#define KIB  1024u

static unsigned char pattern(size_t i)
{
    return (unsigned char)(i * 131 + (i >> 9));
}

/* Add [from, to) of the pattern in pieces of `step` bytes. */
static int add_range(pyw_rewind_t *rw, size_t from, size_t to, size_t step)
{
    unsigned char buf[70 * KIB];
    size_t i, n;
    int rc = 0;

    while (rc == 0 && from < to) {
        n = to - from < step ? to - from : step;
        for (i = 0; i < n; i++) {
            buf[i] = pattern(from + i);
        }
        rc = pyw_rewind_add(rw, buf, n);
        from += n;
    }
    return rc;
}

/* Read [off, off + len) back and compare with the pattern. */
static int read_matches(const pyw_rewind_t *rw, size_t off, size_t len)
{
    unsigned char *buf = malloc(len + 1);
    ssize_t n = pyw_rewind_read(rw, off, buf, len);
    size_t i;
    int ok = n == (ssize_t)len;

    for (i = 0; ok && i < len; i++) {
        ok = buf[i] == pattern(off + i);
    }
    free(buf);
    return ok;
}

static int dir_entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    int n = 0;

    while (d != NULL && (e = readdir(d)) != NULL) {
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    }
    if (d != NULL) {
        closedir(d);
    }
    return n;
}

static void test_memory_only(void)
{
    pyw_rewind_t rw;
    unsigned char b[4];

    pyw_rewind_init(&rw, 64 * KIB, 0);
    CHECK_EQ(pyw_rewind_read(&rw, 0, b, sizeof(b)), 0);
    CHECK_EQ(pyw_rewind_needs_file(&rw, 64 * KIB), 0);
    CHECK_EQ(add_range(&rw, 0, 64 * KIB, 1000), 0);
    CHECK_EQ(rw.size, 64 * KIB);
    CHECK(!pyw_rewind_on_disk(&rw));
    CHECK(read_matches(&rw, 0, 64 * KIB));
    CHECK(read_matches(&rw, 12345, 100));
    CHECK_EQ(pyw_rewind_read(&rw, 64 * KIB - 2, b, sizeof(b)), 2);
    CHECK_EQ(pyw_rewind_read(&rw, 64 * KIB + 10, b, sizeof(b)), 0);
    CHECK_EQ(pyw_rewind_needs_file(&rw, 1), 1);
    pyw_rewind_free(&rw);
    CHECK_EQ(rw.size, 0);
    CHECK(rw.mem == NULL);
}

static void test_memory_then_file(const char *dir)
{
    pyw_rewind_t rw;
    int fd;

    pyw_rewind_init(&rw, 64 * KIB, 0);
    CHECK_EQ(pyw_rewind_set_dir(&rw, dir), 0);
    CHECK_EQ(add_range(&rw, 0, 60 * KIB, 7000), 0);
    CHECK(!pyw_rewind_on_disk(&rw));
    CHECK_EQ(add_range(&rw, 60 * KIB, 3000 * KIB, 65 * KIB), 0);
    CHECK(pyw_rewind_on_disk(&rw));
    CHECK(rw.mem == NULL);
    CHECK_EQ(rw.size, 3000 * KIB);
    CHECK(read_matches(&rw, 0, 3000 * KIB));
    CHECK(read_matches(&rw, 60 * KIB - 5, 10));
    CHECK(read_matches(&rw, 2999 * KIB, KIB));
    CHECK_EQ(dir_entries(dir), 0);          /* the file has no name */
    fd = rw.fd;
    pyw_rewind_free(&rw);
    CHECK(fcntl(fd, F_GETFD) < 0 && errno == EBADF);
    CHECK_EQ(rw.fd, -1);
}

static void test_expected_length_goes_to_file_at_once(const char *dir)
{
    pyw_rewind_t rw;

    pyw_rewind_init(&rw, 64 * KIB, 65 * KIB);
    pyw_rewind_set_dir(&rw, dir);
    CHECK_EQ(pyw_rewind_needs_file(&rw, 1), 1);
    CHECK_EQ(add_range(&rw, 0, 1, 1), 0);
    CHECK(pyw_rewind_on_disk(&rw));
    CHECK_EQ(add_range(&rw, 1, 65 * KIB, 4096), 0);
    CHECK(read_matches(&rw, 0, 65 * KIB));
    pyw_rewind_free(&rw);

    /* A short expected length is allocated at once and never regrown. */
    pyw_rewind_init(&rw, 64 * KIB, 40 * KIB);
    CHECK_EQ(add_range(&rw, 0, 10, 10), 0);
    CHECK_EQ(rw.mem_cap, 40 * KIB);
    CHECK_EQ(add_range(&rw, 10, 40 * KIB, 999), 0);
    CHECK_EQ(rw.mem_cap, 40 * KIB);
    CHECK(read_matches(&rw, 0, 40 * KIB));
    pyw_rewind_free(&rw);
}

static void test_failure_keeps_what_was_kept(void)
{
    pyw_rewind_t rw;

    pyw_rewind_init(&rw, 8 * KIB, 0);
    CHECK_EQ(pyw_rewind_set_dir(&rw, "/nonexistent/pyw-rewind"), 0);
    CHECK_EQ(add_range(&rw, 0, 8 * KIB, 3000), 0);
    CHECK_EQ(add_range(&rw, 8 * KIB, 9 * KIB, KIB), -ENOENT);
    CHECK_EQ(rw.err, -ENOENT);
    CHECK_EQ(rw.size, 8 * KIB);
    CHECK(read_matches(&rw, 0, 8 * KIB));
    CHECK_EQ(add_range(&rw, 9 * KIB, 10 * KIB, KIB), -ENOENT);
    CHECK_EQ(rw.size, 8 * KIB);
    pyw_rewind_free(&rw);
}

static void test_relative_dir_means_tmp(void)
{
    pyw_rewind_t rw;

    pyw_rewind_init(&rw, 0, 0);
    CHECK_EQ(pyw_rewind_set_dir(&rw, "relative"), 0);
    CHECK(rw.dir == NULL);
    CHECK_EQ(add_range(&rw, 0, 100 * KIB, 50 * KIB), 0);
    CHECK(pyw_rewind_on_disk(&rw));
    CHECK(read_matches(&rw, 50 * KIB - 1, 2));
    pyw_rewind_free(&rw);
}

int main(void)
{
    char dir[] = "/tmp/pyw-unit-rewind.XXXXXX";

    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_memory_only();
    test_memory_then_file(dir);
    test_expected_length_goes_to_file_at_once(dir);
    test_failure_keeps_what_was_kept();
    test_relative_dir_means_tmp();
    CHECK_EQ(dir_entries(dir), 0);
    rmdir(dir);
    return UNIT_DONE();
}

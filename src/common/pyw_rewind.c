/*
 * pyw_rewind.c - keep what was read of a stream (see pyw_rewind.h).
 *
 * Invariants:
 *   - fd < 0: bytes [0, size) are mem[0, size).  fd >= 0: they are the
 *     file's bytes [0, size), and mem is NULL.
 *   - size only grows, and only by whole adds: a failed add leaves it
 *     where it was, so [0, size) stays exactly what was given.
 *   - Once err is set nothing is written any more.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pyw_rewind.h"

#define PYW_REWIND_MEM_MIN  (16 * 1024)   /* first allocation */

void pyw_rewind_init(pyw_rewind_t *rw, size_t mem_max, uint64_t expect)
{
    memset(rw, 0, sizeof(*rw));
    rw->fd = -1;
    rw->mem_max = mem_max;
    rw->expect = expect;
}

int pyw_rewind_needs_file(const pyw_rewind_t *rw, size_t len)
{
    if (rw->fd >= 0 || rw->err || len == 0) {
        return 0;
    }
    return rw->expect > rw->mem_max || rw->size + len > rw->mem_max;
}

int pyw_rewind_set_dir(pyw_rewind_t *rw, const char *dir)
{
    char *copy = NULL;

    if (dir != NULL && dir[0] == '/' && (copy = strdup(dir)) == NULL) {
        return -ENOMEM;
    }
    free(rw->dir);
    rw->dir = copy;
    return 0;
}

/* A file without a name in rw->dir: O_TMPFILE, or where the file system
 * lacks it, one removed at once.  The descriptor, or -errno. */
static int rewind_file(const pyw_rewind_t *rw)
{
    const char *dir = rw->dir != NULL ? rw->dir : "/tmp";
    char path[PATH_MAX];
    int fd = -1, err;

#ifdef O_TMPFILE
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0) {
        return fd;
    }
    if (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL) {
        return -errno;
    }
#endif
    if (snprintf(path, sizeof(path), "%s/pyworker-input.XXXXXX", dir)
        >= (int)sizeof(path)) {
        return -ENAMETOOLONG;
    }
    if ((fd = mkostemp(path, O_CLOEXEC)) < 0) {
        return -errno;
    }
    if (unlink(path) < 0) {
        err = errno;
        close(fd);
        return -err;
    }
    return fd;
}

/* pwrite() all of it at offset off: 0 or -errno. */
static int rewind_write(int fd, const char *p, size_t len, uint64_t off)
{
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n < 0 ? -errno : -EIO;
        }
        p += n;
        len -= (size_t)n;
        off += (uint64_t)n;
    }
    return 0;
}

/* Move what memory holds to a new file, then free the memory. */
static int rewind_to_file(pyw_rewind_t *rw)
{
    int fd = rewind_file(rw), rc;

    if (fd < 0) {
        return fd;
    }
    if ((rc = rewind_write(fd, rw->mem, (size_t)rw->size, 0)) < 0) {
        close(fd);
        return rc;
    }
    rw->fd = fd;
    free(rw->mem);
    rw->mem = NULL;
    rw->mem_cap = 0;
    return 0;
}

/* Room in memory for `need` bytes in all, growing by doubling (to the
 * expected length at once when that is known). */
static int rewind_mem_reserve(pyw_rewind_t *rw, size_t need)
{
    size_t cap = rw->mem_cap ? rw->mem_cap : PYW_REWIND_MEM_MIN;
    char *mem;

    if (need <= rw->mem_cap) {
        return 0;
    }
    if (rw->mem_cap == 0 && rw->expect > cap) {
        cap = (size_t)rw->expect;
    }
    while (cap < need) {
        cap *= 2;
    }
    if (cap > rw->mem_max) {
        cap = need > rw->mem_max ? need : rw->mem_max;
    }
    if ((mem = realloc(rw->mem, cap)) == NULL) {
        return -ENOMEM;
    }
    rw->mem = mem;
    rw->mem_cap = cap;
    return 0;
}

int pyw_rewind_add(pyw_rewind_t *rw, const void *data, size_t len)
{
    int rc;

    if (rw->err || len == 0) {
        return rw->err;
    }
    if (pyw_rewind_needs_file(rw, len) && (rc = rewind_to_file(rw)) < 0) {
        return rw->err = rc;
    }
    if (rw->fd >= 0) {
        rc = rewind_write(rw->fd, data, len, rw->size);
    }
    else if ((rc = rewind_mem_reserve(rw, (size_t)rw->size + len)) == 0) {
        memcpy(rw->mem + rw->size, data, len);
    }
    if (rc < 0) {
        return rw->err = rc;
    }
    rw->size += len;
    return 0;
}

ssize_t pyw_rewind_read(const pyw_rewind_t *rw, uint64_t off, void *dst,
                        size_t len)
{
    size_t want, got = 0;

    if (off >= rw->size) {
        return 0;
    }
    want = rw->size - off < len ? (size_t)(rw->size - off) : len;
    if (want > SSIZE_MAX) {
        want = SSIZE_MAX;
    }
    if (rw->fd < 0) {
        memcpy(dst, rw->mem + off, want);
        return (ssize_t)want;
    }
    while (got < want) {
        ssize_t n = pread(rw->fd, (char *)dst + got, want - got,
                          (off_t)(off + got));

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n < 0 ? -errno : -EIO;   /* the file was cut short */
        }
        got += (size_t)n;
    }
    return (ssize_t)got;
}

int pyw_rewind_on_disk(const pyw_rewind_t *rw)
{
    return rw->fd >= 0;
}

void pyw_rewind_free(pyw_rewind_t *rw)
{
    if (rw->fd >= 0) {
        close(rw->fd);
    }
    free(rw->mem);
    free(rw->dir);
    pyw_rewind_init(rw, rw->mem_max, 0);
}

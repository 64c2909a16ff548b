/*
 * pyw_spool.c - read a chunked request body whole (see pyw_spool.h).
 *
 * One buffer of PYW_SPOOL_MEM bytes, allocated at the first body byte:
 *   - the body fits: the buffer is the body;
 *   - it does not: the file is made when the buffer first overflows, the
 *     buffer is written out each time it is full (one write() per
 *     PYW_SPOOL_MEM bytes whatever the client's chunk sizes), and once
 *     the body is complete it becomes the read window of
 *     pyw_spool_peek() (one pread() per PYW_SPOOL_MEM bytes).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apr_strings.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"

#include "pyw_body_in.h"
#include "pyw_spool.h"

struct pyw_spool {
    request_rec *r;
    char        *buf;       /* PYW_SPOOL_MEM bytes; NULL: no body byte yet */
    apr_size_t   buf_len;   /* bytes held in buf                          */
    apr_off_t    buf_off;   /* body offset of buf[0]                      */
    int          fd;        /* the temporary file; -1: all of it in buf   */
    apr_off_t    size;      /* body bytes so far, then the body's length  */
    apr_time_t   done;
};

static apr_status_t pyw_spool_close(void *fd)
{
    close((int)(intptr_t)fd);
    return APR_SUCCESS;
}

/* TMPDIR, else /tmp.  Not apr_temp_dir_get(): its first call fills a
 * static buffer, which threads of a child could race on. */
const char *pyw_spool_dir(void)
{
    const char *dir = getenv("TMPDIR");

    return dir != NULL && *dir == '/' ? dir : "/tmp";
}

/* A file without a name in pyw_spool_dir(), closed with r->pool:
 * O_TMPFILE, or where the file system lacks it a file removed as soon as
 * it is made.  The descriptor, or -errno. */
static int pyw_spool_file(request_rec *r)
{
    const char *dir = pyw_spool_dir();
    char *path;
    int fd = -1;

#ifdef O_TMPFILE
    fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif
    if (fd < 0) {
        path = apr_pstrcat(r->pool, dir, "/pyworker-body.XXXXXX", NULL);
        if ((fd = mkostemp(path, O_CLOEXEC)) < 0) {
            return -errno;
        }
        if (unlink(path) < 0) {
            int err = errno;

            close(fd);
            return -err;
        }
    }
    apr_pool_cleanup_register(r->pool, (void *)(intptr_t)fd,
                              pyw_spool_close, pyw_spool_close);
    return fd;
}

/* Write the buffer out (making the file first): 0 or -errno. */
static int pyw_spool_flush(pyw_spool_t *s)
{
    const char *p = s->buf;
    apr_size_t left = s->buf_len;
    ssize_t n;

    if (s->fd < 0) {
        int fd = pyw_spool_file(s->r);

        if (fd < 0) {
            return fd;
        }
        s->fd = fd;
    }
    while (left > 0) {
        n = write(s->fd, p, left);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n < 0 ? -errno : -EIO;
        }
        p += n;
        left -= (apr_size_t)n;
    }
    s->buf_len = 0;
    return 0;
}

static int pyw_spool_append(pyw_spool_t *s, const char *data, apr_size_t len)
{
    apr_size_t n;
    int rc;

    if (s->buf == NULL && len > 0) {
        s->buf = apr_palloc(s->r->pool, PYW_SPOOL_MEM);
    }
    while (len > 0) {
        if (s->buf_len == PYW_SPOOL_MEM && (rc = pyw_spool_flush(s)) < 0) {
            return rc;
        }
        n = PYW_SPOOL_MEM - s->buf_len;
        n = len < n ? len : n;
        memcpy(s->buf + s->buf_len, data, n);
        s->buf_len += n;
        s->size += (apr_off_t)n;
        data += n;
        len -= n;
    }
    return 0;
}

/* The buckets of one read into s; *eos set at the end of the body. */
static pyw_spool_result_e pyw_spool_take(pyw_spool_t *s,
                                         apr_bucket_brigade *bb,
                                         apr_off_t limit, int *eos,
                                         apr_status_t *rv)
{
    apr_bucket *e;
    const char *data;
    apr_size_t n;
    int rc;

    for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb);
         e = APR_BUCKET_NEXT(e)) {
        if (APR_BUCKET_IS_EOS(e)) {
            *eos = 1;
            break;
        }
        if (APR_BUCKET_IS_METADATA(e)) {
            continue;
        }
        if ((*rv = apr_bucket_read(e, &data, &n, APR_BLOCK_READ))
            != APR_SUCCESS) {
            return PYW_SPOOL_CLIENT;
        }
        if ((apr_off_t)n > limit - s->size) {
            return PYW_SPOOL_TOO_LARGE;
        }
        if ((rc = pyw_spool_append(s, data, n)) < 0) {
            *rv = APR_FROM_OS_ERROR(-rc);
            return PYW_SPOOL_FILE;
        }
    }
    return PYW_SPOOL_OK;
}

static pyw_spool_result_e pyw_spool_fill(pyw_spool_t *s, apr_off_t limit,
                                         apr_status_t *rv)
{
    request_rec *r = s->r;
    apr_bucket_brigade *bb = apr_brigade_create(r->pool,
                                                r->connection->bucket_alloc);
    pyw_spool_result_e res = PYW_SPOOL_OK;
    pyw_body_in_t in;
    int eos = 0;

    pyw_body_in_init(&in, r);
    while (!eos && res == PYW_SPOOL_OK) {
        *rv = pyw_body_in_read(&in, bb, PYW_SPOOL_MEM);
        res = *rv != APR_SUCCESS ? PYW_SPOOL_CLIENT
              : pyw_spool_take(s, bb, limit, &eos, rv);
        apr_brigade_cleanup(bb);
    }
    apr_brigade_destroy(bb);
    apr_brigade_cleanup(in.rest);
    return res;
}

pyw_spool_result_e pyw_spool_read(request_rec *r, apr_off_t limit,
                                  pyw_spool_t **out, apr_status_t *rv)
{
    pyw_spool_t *s = apr_pcalloc(r->pool, sizeof(*s));
    pyw_spool_result_e res;
    int rc;

    s->r = r;
    s->fd = -1;
    *out = NULL;
    *rv = APR_SUCCESS;
    res = pyw_spool_fill(s, limit, rv);
    if (res == PYW_SPOOL_OK && s->fd >= 0 && s->buf_len > 0
        && (rc = pyw_spool_flush(s)) < 0) {
        *rv = APR_FROM_OS_ERROR(-rc);
        res = PYW_SPOOL_FILE;
    }
    if (s->fd >= 0) {
        /* The read window starts empty; a failed spool frees its disk
         * space now, not when the error response has been sent. */
        s->buf_len = 0;
        if (res != PYW_SPOOL_OK) {
            apr_pool_cleanup_run(r->pool, (void *)(intptr_t)s->fd,
                                 pyw_spool_close);
        }
    }
    if (res != PYW_SPOOL_OK) {
        return res;
    }
    s->done = apr_time_now();
    *out = s;
    return PYW_SPOOL_OK;
}

apr_off_t pyw_spool_size(const pyw_spool_t *s)
{
    return s->size;
}

int pyw_spool_on_disk(const pyw_spool_t *s)
{
    return s->fd >= 0;
}

apr_time_t pyw_spool_done_time(const pyw_spool_t *s)
{
    return s->done;
}

/* Fill the read window from the file at off: 0 or -errno. */
static int pyw_spool_load(pyw_spool_t *s, apr_off_t off)
{
    apr_size_t want = PYW_SPOOL_MEM, got = 0;
    ssize_t n;

    if (s->size - off < (apr_off_t)want) {
        want = (apr_size_t)(s->size - off);
    }
    s->buf_off = off;
    s->buf_len = 0;
    while (got < want) {
        n = pread(s->fd, s->buf + got, want - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n < 0 ? -errno : -EIO;   /* shorter than written */
        }
        got += (apr_size_t)n;
    }
    s->buf_len = got;
    return 0;
}

long pyw_spool_peek(pyw_spool_t *s, apr_off_t off, apr_size_t len,
                    const char **data)
{
    apr_size_t avail;
    int rc;

    if (off < 0 || off >= s->size || len == 0) {
        return 0;
    }
    /* In memory: buf_off is 0 and buf_len the size, so no load. */
    if (s->fd >= 0
        && (off < s->buf_off || off >= s->buf_off + (apr_off_t)s->buf_len)
        && (rc = pyw_spool_load(s, off)) < 0) {
        return rc;
    }
    avail = (apr_size_t)(s->buf_off + (apr_off_t)s->buf_len - off);
    *data = s->buf + (off - s->buf_off);
    return (long)(len < avail ? len : avail);
}

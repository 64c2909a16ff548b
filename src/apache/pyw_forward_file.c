/*
 * pyw_forward_file.c - FILE frames: body bytes from a descriptor the
 * daemon passed (SCM_RIGHTS, wsgi.file_wrapper), checked and sent by the
 * core output filter as a file bucket, like a static file.
 */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apr_file_io.h"
#include "apr_portable.h"
#include "httpd.h"
#include "http_core.h"
#include "util_filter.h"

#include "../common/pyw_io.h"
#include "../common/pyw_proto.h"
#include "pyw_forward_int.h"
#include "pyw_log.h"

/* Closes the descriptor itself, not the apr_file_t: when the core output
 * filter sets a file bucket aside, apr_file_setaside() moves the
 * descriptor to a copy and leaves -1 in the original (an os_file_put file
 * has no cleanup to move).  r->pool outlives the bucket: it is destroyed
 * with the EOR bucket, after everything before it was written. */
static apr_status_t pyw_forward_file_cleanup(void *fd)
{
    close((int)(intptr_t)fd);
    return APR_SUCCESS;
}

/* The FILE payload and its descriptor (owned by the caller from here,
 * -1 if none came); an error reason, or NULL.  The descriptor must be a
 * regular file holding the whole range: anything else (a pipe or socket
 * would block the core output filter) is refused. */
static const char *pyw_forward_file_take(pyw_fwd_t *fw, const pyw_frame_t *f,
                                         int *fd, uint64_t *offset,
                                         uint64_t *length, int *rc)
{
    pyw_stream_t *s = &fw->b->stream;
    const unsigned char *p;
    const char *err = NULL;
    struct stat st;

    *rc = pyw_stream_payload(s, &p, pyw_forward_deadline(fw));
    *fd = *rc < 0 ? -1 : pyw_stream_take_fd(s);
    if (*rc < 0) {
        return NULL;
    }
    if (pyw_file_decode(p, f->length, offset, length, &err) < 0) {
        return err;
    }
    if (*fd < 0) {
        return "FILE frame without a file descriptor";
    }
    if (!fw->have_headers) {
        return "FILE before HEADERS";
    }
    if (fw->discard || *length == 0) {
        return NULL;
    }
    if (fstat(*fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        return "FILE descriptor is not a regular file";
    }
    if ((uint64_t)st.st_size < *offset + *length) {
        return "FILE range is past the end of the file";
    }
    return NULL;
}

/* The descriptor becomes a file bucket (r->pool closes it), so the core
 * output filter sends it like a static file: sendfile() with
 * EnableSendfile On, else mmap (EnableMMAP) or read.  Held in obb when
 * more frames are already here (END): file and EOS pass as one brigade,
 * which lets Apache set Content-Length. */
int pyw_forward_on_file(pyw_fwd_t *fw, const pyw_frame_t *f)
{
    request_rec *r = fw->r;
    core_dir_config *d = ap_get_core_module_config(r->per_dir_config);
    uint64_t offset = 0, length = 0;
    apr_bucket *before, *e;
    apr_os_file_t osfd;
    apr_file_t *file;
    const char *why;
    int fd, rc;

    why = pyw_forward_file_take(fw, f, &fd, &offset, &length, &rc);
    if (rc < 0 || why != NULL || fw->discard || length == 0) {
        if (fd >= 0) {
            close(fd);
        }
        return rc < 0 ? pyw_forward_daemon_failed(fw, rc, NULL)
               : why != NULL ? pyw_forward_protocol_error(fw, why)
               : PYW_FWD_CONTINUE;
    }
    if (pyw_forward_count(fw, (apr_off_t)length, 0) != PYW_FWD_CONTINUE) {
        close(fd);
        return PYW_FWD_STOP;
    }
    osfd = fd;
    apr_os_file_put(&file, &osfd, APR_FOPEN_READ
                    | AP_SENDFILE_ENABLED(d->enable_sendfile), r->pool);
    apr_pool_cleanup_register(r->pool, (void *)(intptr_t)fd,
                              pyw_forward_file_cleanup,
                              apr_pool_cleanup_null);
    before = APR_BRIGADE_LAST(fw->obb);
    apr_brigade_insert_file(fw->obb, file, (apr_off_t)offset,
                            (apr_off_t)length, r->pool);
    fw->file_body = 1;
    /* Never mapped, whatever EnableMMAP says: the file is the tenant's,
     * which may truncate it while a filter (mod_deflate) reads the
     * mapping, and the SIGBUS would kill this Apache child with every
     * other site's requests in it.  read() just comes up short. */
    for (e = APR_BUCKET_NEXT(before); e != APR_BRIGADE_SENTINEL(fw->obb);
         e = APR_BUCKET_NEXT(e)) {
        apr_bucket_file_enable_mmap(e, 0);
    }
    PYW_RLOG(APLOG_DEBUG, 0, r, 180, fw->b->group ? fw->b->group->name
             : NULL, fw->b->daemon_pid, "response body from a file "
             "descriptor: offset %" APR_UINT64_T_FMT ", %" APR_UINT64_T_FMT
             " bytes (sendfile %s)", offset, length,
             d->enable_sendfile == ENABLE_SENDFILE_ON ? "on" : "off");
    if (pyw_stream_buffered(&fw->b->stream) > 0) {
        return PYW_FWD_CONTINUE;
    }
    if (pyw_forward_pass(fw) != PYW_FWD_CONTINUE) {
        return PYW_FWD_STOP;
    }
    return pyw_forward_head_sent(fw) ? pyw_forward_head_end(fw)
                                     : PYW_FWD_CONTINUE;
}

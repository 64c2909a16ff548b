/*
 * pyw_forward.c - one request over one daemon connection: send REQUEST,
 * wait for the first frame, hand each frame to its handler.  The
 * handlers have files of their own (listed in pyw_forward_int.h).
 *
 *   REQUEST ->, then frames <- until END or ERROR:
 *     READ n   read up to n client body bytes, or take them from the
 *              spooled body (pyw_spool.h); answer BODY / BODY_ABORT
 *     HEADERS  remember status and headers; they reach r only when the
 *              first brigade is passed ("commit"), so until then a
 *              failure can still be answered with an error status
 *     DATA     pass the bytes on (FLUSH when nothing more is buffered);
 *              a HEAD passes EOS after its first pass and stops reading
 *              (the connection is closed, pyw_forward_head_end)
 *     FILE     a file descriptor came with it (SCM_RIGHTS): pass a file
 *              bucket, so core sends the bytes (sendfile, mmap or read)
 *     END      pass EOS: done, connection clean
 *              (an error status claimed by opts->error_override, or a
 *              local redirect, passes nothing: its body is drained,
 *              pyw_forward_override.c)
 *     ERROR    the app failed: error status, or abort a started response
 *
 * Failures are described in the outcome, never logged here: the caller
 * maps them to one status and one log line.  Every daemon read or write
 * gets its own deadline: socket-timeout (default Apache's Timeout), cut
 * short by the request's overall deadline when request-timeout is set.
 *
 * Before the first response frame the daemon can still turn the request
 * down without running it: a GOODBYE frame (it is closing that idle
 * connection), or a reset.  On Linux a Unix socket closed with unread
 * bytes in its receive queue makes the peer's next read fail with
 * ECONNRESET *after* any bytes it sent first, while a socket closed with
 * an empty queue gives a plain EOF.  Our REQUEST is the only thing we
 * send before the first response frame, so ECONNRESET then proves the
 * daemon never consumed all of it (it was queued or the daemon was
 * stopping), and EOF means it read it and died (a crash: 502).  When no
 * frame comes within socket-timeout, SIOCOUTQ tells whether the daemon
 * ever read the REQUEST (out->request_unread: a stopped daemon did not),
 * which the proxy scheme turns into a fail-over.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>      /* SIOCOUTQ */

#include "apr_buckets.h"
#include "apr_strings.h"
#include "httpd.h"

#include "../common/pyw_io.h"
#include "../common/pyw_proto.h"
#include "pyw_forward.h"
#include "pyw_forward_int.h"

#define PYW_FWD_IOV_INIT  16

/* On a Unix socket SIOCOUTQ counts the bytes we sent that the daemon has
 * not read yet: any left and it never took the REQUEST. */
static int pyw_forward_request_unread(int fd)
{
    int queued = 0;

    return ioctl(fd, SIOCOUTQ, &queued) == 0 && queued > 0;
}

/*
 * Wait for the first response frame and look at how the connection ends
 * if it does (see the top of this file): a reset means the REQUEST was
 * not consumed, end of stream that the daemon read it and died.  The
 * first read is made here, right after poll(), so telling the two apart
 * costs no extra syscall.
 */
static int pyw_forward_first_wait(pyw_fwd_t *fw)
{
    ssize_t n;
    int rc;

    if (pyw_stream_buffered(&fw->b->stream) > 0) {
        return PYW_FWD_CONTINUE;
    }
    for (;;) {
        rc = pyw_io_wait(fw->b->fd, POLLIN, pyw_forward_deadline(fw));
        if (rc < 0) {
            fw->out->request_unread = rc == -ETIMEDOUT
                && pyw_forward_request_unread(fw->b->fd);
            return pyw_forward_daemon_failed(fw, rc, NULL);
        }
        n = pyw_stream_recv_ready(&fw->b->stream);
        if (n > 0) {
            return PYW_FWD_CONTINUE;
        }
        if (n == 0) {
            return pyw_forward_daemon_failed(fw, -ECONNRESET, NULL);
        }
        if (n == -ECONNRESET) {
            return pyw_forward_not_run(fw, -ECONNRESET, "the daemon closed "
                                       "the connection with the request "
                                       "unread");
        }
        if (n != -EAGAIN) {
            return pyw_forward_daemon_failed(fw, (int)n, NULL);
        }
    }
}

static int pyw_forward_frame(pyw_fwd_t *fw, const pyw_frame_t *f)
{
    switch (f->type) {
    case PYW_FRAME_READ:
        return pyw_forward_on_read(fw, f);
    case PYW_FRAME_HEADERS:
        return pyw_forward_on_headers(fw);
    case PYW_FRAME_DATA:
        return pyw_forward_on_data(fw);
    case PYW_FRAME_END:
        return pyw_forward_on_end(fw);
    case PYW_FRAME_ERROR:
        return pyw_forward_on_error(fw, f);
    case PYW_FRAME_FILE:
        return pyw_forward_on_file(fw, f);
    case PYW_FRAME_GOODBYE:
        return pyw_forward_on_goodbye(fw, f);
    default:
        return pyw_forward_protocol_error(fw,
            apr_psprintf(fw->r->pool, "unexpected %s frame",
                         pyw_frame_type_name(f->type)));
    }
}

void pyw_forward_request(request_rec *r, pyw_backend_t *b,
                         const pyw_forward_opts_t *opts,
                         pyw_forward_outcome_t *out)
{
    apr_bucket_alloc_t *ba = r->connection->bucket_alloc;
    pyw_fwd_t fw;
    pyw_frame_t f;
    int rc;

    memset(out, 0, sizeof(*out));
    memset(&fw, 0, sizeof(fw));
    fw.r = r;
    fw.b = b;
    fw.out = out;
    fw.timeout_ms = opts->socket_timeout_ms > 0 ? opts->socket_timeout_ms
                    : apr_time_as_msec(r->server->timeout);
    fw.request_deadline = opts->deadline_ms;
    fw.spool = opts->body;
    fw.error_override = opts->error_override;
    fw.local_redirect = opts->local_redirect;
    fw.length = -1;
    fw.ibb = apr_brigade_create(r->pool, ba);
    fw.obb = apr_brigade_create(r->pool, ba);
    fw.iov_cap = PYW_FWD_IOV_INIT;
    fw.iov = apr_palloc(r->pool, fw.iov_cap * sizeof(*fw.iov));

    rc = pyw_forward_send_request(&fw, opts);
    if (rc == PYW_FWD_CONTINUE) {
        rc = pyw_forward_first_wait(&fw);
    }
    while (rc == PYW_FWD_CONTINUE) {
        /* A daemon that keeps sending must not outrun request-timeout. */
        if (pyw_io_now_ms() >= fw.request_deadline) {
            rc = pyw_forward_daemon_failed(&fw, -ETIMEDOUT, NULL);
            break;
        }
        rc = pyw_stream_next(&b->stream, &f, pyw_forward_deadline(&fw));
        fw.frames++;
        rc = rc < 0 ? pyw_forward_daemon_failed(&fw, rc, NULL)
                    : pyw_forward_frame(&fw, &f);
    }
    apr_brigade_cleanup(fw.ibb);
    apr_brigade_cleanup(fw.obb);
    if (fw.body_in.r != NULL) {
        apr_brigade_cleanup(fw.body_in.rest);   /* body the app left */
    }
    if (pyw_stream_fds_waiting(&b->stream) > 0) {
        /* A descriptor without its FILE frame: never let a later request
         * take it for its own; closing the connection closes it. */
        out->backend_clean = 0;
    }
}

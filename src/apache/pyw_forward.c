/*
 * pyw_forward.c - one request over one daemon connection.
 *
 *   REQUEST ->, then frames <- until END or ERROR:
 *     READ n   read up to n client body bytes, or take them from the
 *              spooled body (pyw_spool.h); answer BODY / BODY_ABORT
 *     HEADERS  remember status and headers; they reach r only when the
 *              first brigade is passed ("commit"), so until then a
 *              failure can still be answered with an error status
 *     DATA     pass the bytes on (FLUSH when nothing more is buffered)
 *     FILE     a file descriptor came with it (SCM_RIGHTS): pass a file
 *              bucket, so core sends the bytes (sendfile, mmap or read)
 *     END      pass EOS: done, connection clean
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
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/sockios.h>      /* SIOCOUTQ */
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "apr_strings.h"
#include "httpd.h"
#include "http_core.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_filter.h"
#include "util_script.h"

#include "../common/pyw_io.h"
#include "../common/pyw_proto.h"
#include "pyw_forward.h"
#include "pyw_log.h"

#define PYW_FWD_CONTINUE  0
#define PYW_FWD_STOP      1
#define PYW_FWD_IOV_INIT  16
#define PYW_FWD_EMPTY_MAX 16     /* empty client reads tolerated per READ */
#define PYW_FWD_HOLD_MAX  (64 * 1024) /* response bytes held for END     */
#define PYW_FWD_EXTRA_MAX 10     /* environ pairs added to Apache's      */
#define PYW_FWD_ENV_NOTE  "pyworker-env-added"

typedef struct {
    request_rec           *r;
    pyw_backend_t         *b;
    pyw_forward_outcome_t *out;
    int64_t                timeout_ms;  /* socket-timeout                */
    int64_t                request_deadline; /* request-timeout, or none */
    int                    frames;      /* response frames read so far   */
    apr_bucket_brigade    *ibb;         /* client body, reused per READ  */
    apr_bucket_brigade    *obb;         /* response, reused per pass     */
    struct iovec          *iov;         /* BODY frame pieces, reused     */
    int                    iov_cap;
    int                    iov_len;
    int                    body_done;   /* the client body's EOS was seen */
    int                    body_status; /* non-zero: the body failed     */
    apr_status_t           body_rv;
    pyw_spool_t           *spool;       /* the body read whole, or NULL  */
    apr_off_t              spool_off;   /* next spooled byte to send     */
    int                    discard;     /* drain frames, pass nothing    */
    int                    aborted;     /* client response aborted       */
    int                    have_headers;
    int                    file_body;   /* body bytes from a FILE frame  */
    apr_size_t             held;        /* DATA bytes copied, not passed */
    /* The response head, applied to r at commit. */
    int                    status;
    const char            *status_line;
    const char            *content_type;
    apr_table_t           *headers;
} pyw_fwd_t;

typedef struct {
    const char *name;
    const char *value;
} pyw_env_extra_t;

/* One environ pair in wire order, lengths measured once. */
typedef struct {
    const char *name;
    const char *value;
    size_t      name_len;
    size_t      value_len;
} pyw_env_pair_t;

static int64_t pyw_forward_deadline(const pyw_fwd_t *fw)
{
    int64_t d = pyw_io_deadline(fw->timeout_ms);

    return d < fw->request_deadline ? d : fw->request_deadline;
}

/* ---- the client side ---- */

/* A started response cannot get an error status any more: end it so the
 * client sees it is broken (no last-chunk, short Content-Length body). */
static void pyw_forward_abort_client(pyw_fwd_t *fw)
{
    request_rec *r = fw->r;
    conn_rec *c = r->connection;

    fw->discard = 1;
    if (fw->aborted || !fw->out->committed) {
        return;
    }
    fw->aborted = 1;
    apr_brigade_cleanup(fw->obb);
    APR_BRIGADE_INSERT_TAIL(fw->obb,
                            ap_bucket_error_create(HTTP_BAD_GATEWAY, NULL,
                                                   r->pool,
                                                   c->bucket_alloc));
    APR_BRIGADE_INSERT_TAIL(fw->obb, apr_bucket_eos_create(c->bucket_alloc));
    c->keepalive = AP_CONN_CLOSE;
    ap_pass_brigade(r->output_filters, fw->obb);
    apr_brigade_cleanup(fw->obb);
}

static void pyw_forward_commit(pyw_fwd_t *fw)
{
    request_rec *r = fw->r;

    r->status = fw->status;
    r->status_line = fw->status_line;
    /* Only the app decides the type: not mod_mime from the script name. */
    if (fw->content_type == NULL) {
        r->content_type = NULL;
    }
    else {
#if AP_MODULE_MAGIC_AT_LEAST(20120211, 132)
        ap_set_content_type_ex(r, fw->content_type, 0);
#else
        ap_set_content_type(r, fw->content_type);
#endif
    }
    r->headers_out = apr_table_overlay(r->pool, r->headers_out, fw->headers);
    fw->out->committed = 1;
}

static int pyw_forward_pass(pyw_fwd_t *fw)
{
    apr_status_t rv;

    if (!fw->out->committed) {
        pyw_forward_commit(fw);
    }
    rv = ap_pass_brigade(fw->r->output_filters, fw->obb);
    apr_brigade_cleanup(fw->obb);
    if (rv == APR_SUCCESS) {
        return PYW_FWD_CONTINUE;
    }
    /* AP_FILTER_ERROR: a filter already answered (e.g. bad headers). */
    fw->out->result = PYW_FWD_CLIENT_GONE;
    fw->out->status = rv == AP_FILTER_ERROR ? AP_FILTER_ERROR : 0;
    fw->discard = 1;
    return PYW_FWD_STOP;
}

/* ---- failures ---- */

static int pyw_forward_daemon_failed(pyw_fwd_t *fw, int rc,
                                     const char *reason)
{
    pyw_forward_outcome_t *out = fw->out;

    out->result = rc != -ETIMEDOUT ? PYW_FWD_DAEMON_GONE
                  : pyw_io_now_ms() >= fw->request_deadline
                  ? PYW_FWD_REQUEST_TIMEOUT : PYW_FWD_TIMEOUT;
    out->err = rc;
    out->reason = reason ? reason
                  : rc == -EPROTO ? fw->b->stream.err : NULL;
    out->backend_clean = 0;
    pyw_forward_abort_client(fw);
    return PYW_FWD_STOP;
}

static int pyw_forward_protocol_error(pyw_fwd_t *fw, const char *reason)
{
    return pyw_forward_daemon_failed(fw, -EPROTO, reason);
}

/* The daemon let go of the connection without taking the REQUEST: nothing
 * ran, no body was read, nothing reached the client. */
static int pyw_forward_not_run(pyw_fwd_t *fw, int rc, const char *reason)
{
    fw->out->result = PYW_FWD_NOT_RUN;
    fw->out->err = rc;
    fw->out->reason = reason;
    fw->out->backend_clean = 0;
    return PYW_FWD_STOP;
}

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

/* Why the client body could not be read, in plain words. */
static const char *pyw_forward_body_reason(pyw_fwd_t *fw)
{
    apr_status_t rv = fw->body_rv;
    const char *what = "";

    if (rv == AP_FILTER_ERROR) {
        return "Apache's input filters rejected it and answered the client";
    }
    if (rv == APR_INCOMPLETE || APR_STATUS_IS_EOF(rv)
        || APR_STATUS_IS_ECONNRESET(rv) || APR_STATUS_IS_ECONNABORTED(rv)) {
        what = "the client closed the connection before sending all of "
               "it: ";
    }
    else if (APR_STATUS_IS_TIMEUP(rv)) {
        what = "the client sent none of the rest within Timeout: ";
    }
    return apr_psprintf(fw->r->pool, "%s%pm", what, &rv);
}

/* The exchange ended cleanly but the client body had failed earlier. */
static int pyw_forward_body_result(pyw_fwd_t *fw)
{
    fw->out->result = PYW_FWD_BODY_ERROR;
    fw->out->status = fw->body_status;
    fw->out->reason = pyw_forward_body_reason(fw);
    return PYW_FWD_STOP;
}

/* ---- REQUEST ---- */

/* The pairs Apache's own table lacks.  The first is the request start
 * (for queue-timeout: when Apache read the request line, or finished
 * spooling a chunked body, microseconds since the epoch), which goes on
 * the wire first; the second the application group, which goes after
 * REQUEST_URI. */
static int pyw_forward_extras(request_rec *r, const pyw_forward_opts_t *o,
                              pyw_env_extra_t *x)
{
    const char *auth;
    int n = 0;

    x[n].name = PYW_ENV_REQUEST_START;
    x[n++].value = apr_off_t_toa(r->pool, (apr_off_t)(o->body
                                 ? pyw_spool_done_time(o->body)
                                 : r->request_time));
    x[n].name = PYW_ENV_APP_GROUP;
    x[n++].value = o->application_group ? o->application_group : "";
    /* Apache never exports Authorization itself; a RewriteRule or SetEnv
     * that already did wins over ours. */
    if (o->pass_authorization
        && (auth = apr_table_get(r->headers_in, "Authorization")) != NULL
        && apr_table_get(r->subprocess_env, "HTTP_AUTHORIZATION") == NULL) {
        x[n].name = "HTTP_AUTHORIZATION";
        x[n++].value = auth;
    }
    /* CGI omits an empty PATH_INFO; WSGI frameworks expect the key. */
    if (apr_table_get(r->subprocess_env, "PATH_INFO") == NULL) {
        x[n].name = "PATH_INFO";
        x[n++].value = "";
    }
    x[n].name = "mod_pyworker.process_group";
    x[n++].value = o->process_group ? o->process_group : "";
    x[n].name = "mod_pyworker.callable_object";
    x[n++].value = o->callable_object ? o->callable_object : "application";
    x[n].name = "mod_pyworker.script_reloading";
    x[n++].value = o->script_reloading ? "1" : "0";
    if (o->paste_app != NULL) {
        x[n].name = "mod_pyworker.paste_app";
        x[n++].value = o->paste_app;
    }
    return n;
}

/* Append a pair unless its name is empty.  0, or -1 if the name is too
 * long for the wire. */
static int pyw_env_add(pyw_env_pair_t *p, int *n, const char *name,
                       const char *value)
{
    size_t len = name ? strlen(name) : 0;

    if (len == 0) {
        return 0;
    }
    if (len > PYW_MAX_NAME_LEN) {
        return -1;
    }
    value = value ? value : "";
    p[*n].name = name;
    p[*n].name_len = len;
    p[*n].value = value;
    p[*n].value_len = strlen(value);
    (*n)++;
    return 0;
}

/*
 * The environ in wire order.  The request start, REQUEST_URI and the
 * application group come first: the daemon's worker reads only those
 * before it runs the request (its scans stop there), then Apache's table
 * without that REQUEST_URI, then the other extras.  The pair count, or
 * -1 if a name is too long.
 */
static int pyw_forward_env_pairs(request_rec *r, const pyw_env_extra_t *x,
                                 int nx, pyw_env_pair_t **out)
{
    const apr_array_header_t *arr = apr_table_elts(r->subprocess_env);
    const apr_table_entry_t *e = (const apr_table_entry_t *)arr->elts;
    const char *uri = apr_table_get(r->subprocess_env, "REQUEST_URI");
    /* + 1: room for REQUEST_URI even if its entry were not found below */
    pyw_env_pair_t *p = apr_palloc(r->pool,
                                   (arr->nelts + nx + 1) * sizeof(*p));
    int i, n = 0, rc = 0;

    rc |= pyw_env_add(p, &n, x[0].name, x[0].value);
    if (uri != NULL) {
        rc |= pyw_env_add(p, &n, "REQUEST_URI", uri);
    }
    rc |= pyw_env_add(p, &n, x[1].name, x[1].value);
    for (i = 0; i < arr->nelts; i++) {
        if (uri != NULL && e[i].val == uri
            && strcasecmp(e[i].key, "REQUEST_URI") == 0) {
            uri = NULL;         /* sent first already */
            continue;
        }
        rc |= pyw_env_add(p, &n, e[i].key, e[i].val);
    }
    for (i = 2; i < nx; i++) {
        rc |= pyw_env_add(p, &n, x[i].name, x[i].value);
    }
    *out = p;
    return rc < 0 ? -1 : n;
}

static size_t pyw_forward_env_size(const pyw_env_pair_t *p, int n)
{
    size_t size = 0;
    int i;

    for (i = 0; i < n; i++) {
        size += pyw_pair_size(p[i].name_len, p[i].value_len);
    }
    return size;
}

static size_t pyw_forward_env_put(unsigned char *buf, size_t cap,
                                  const pyw_env_pair_t *p, int n)
{
    size_t pos = 0;
    int i;

    for (i = 0; i < n; i++) {
        pos += pyw_pair_put(buf + pos, cap - pos, p[i].name, p[i].name_len,
                            p[i].value, p[i].value_len);
    }
    return pos;
}

/* A request that came through mod_proxy: the group's application, the
 * ProxyPass prefix as SCRIPT_NAME, the rest as PATH_INFO. */
static void pyw_forward_set_target(request_rec *r,
                                   const pyw_forward_opts_t *o)
{
    apr_table_t *e = r->subprocess_env;

    if (o->script_filename != NULL) {
        apr_table_setn(e, "SCRIPT_FILENAME", o->script_filename);
    }
    if (o->script_name != NULL) {
        apr_table_setn(e, "SCRIPT_NAME", o->script_name);
    }
    if (o->path_info != NULL) {
        apr_table_setn(e, "PATH_INFO", o->path_info);
        apr_table_unset(e, "PATH_TRANSLATED");
    }
}

/* Build the environ and send it as one REQUEST frame with one write. */
static int pyw_forward_send_request(pyw_fwd_t *fw,
                                    const pyw_forward_opts_t *opts)
{
    request_rec *r = fw->r;
    pyw_env_extra_t extra[PYW_FWD_EXTRA_MAX];
    pyw_env_pair_t *pairs;
    unsigned char *buf;
    size_t size = SIZE_MAX, pos;
    int nx, np, rc;

    /* Once per request: a REQUEST sent again after NOT_RUN reuses it
     * (ap_add_cgi_vars may run a subrequest for PATH_TRANSLATED). */
    if (apr_table_get(r->notes, PYW_FWD_ENV_NOTE) == NULL) {
        ap_add_common_vars(r);
        ap_add_cgi_vars(r);
        if (opts->body != NULL) {
            /* To the app the spooled body is a plain one of known size. */
            apr_table_setn(r->subprocess_env, "CONTENT_LENGTH",
                           apr_off_t_toa(r->pool,
                                         pyw_spool_size(opts->body)));
            apr_table_unset(r->subprocess_env, "HTTP_TRANSFER_ENCODING");
        }
        apr_table_setn(r->notes, PYW_FWD_ENV_NOTE, "1");
    }
    /* Each time: a balancer may fail over to another group's script. */
    pyw_forward_set_target(r, opts);
    nx = pyw_forward_extras(r, opts, extra);
    if ((np = pyw_forward_env_pairs(r, extra, nx, &pairs)) >= 0) {
        size = pyw_forward_env_size(pairs, np);
    }
    if (size > PYW_MAX_META_PAYLOAD) {
        fw->out->result = PYW_FWD_ENV_TOO_LARGE;
        fw->out->backend_clean = 1;
        return PYW_FWD_STOP;
    }
    buf = apr_palloc(r->pool, PYW_FRAME_HEADER_SIZE + size);
    pos = pyw_frame_header_put(buf, PYW_FRAME_HEADER_SIZE,
                               PYW_FRAME_REQUEST, (uint32_t)size);
    pos += pyw_forward_env_put(buf + pos, size, pairs, np);
    if (pos != PYW_FRAME_HEADER_SIZE + size) {
        fw->out->result = PYW_FWD_ENV_TOO_LARGE;    /* cannot happen */
        fw->out->backend_clean = 1;
        return PYW_FWD_STOP;
    }
    rc = pyw_io_write_full(fw->b->fd, buf, pos, pyw_forward_deadline(fw));
    if (rc == -EPIPE || rc == -ECONNRESET) {
        /* The daemon closed first: it cannot have a whole REQUEST. */
        return pyw_forward_not_run(fw, rc, "the daemon closed the "
                                   "connection before the request was "
                                   "written");
    }
    if (rc == -ETIMEDOUT) {
        return pyw_forward_daemon_failed(fw, rc, NULL);
    }
    if (rc < 0) {
        fw->out->result = PYW_FWD_SEND_FAILED;
        fw->out->err = rc;
        return PYW_FWD_STOP;
    }
    return PYW_FWD_CONTINUE;
}

/* ---- READ: the client body ---- */

static int pyw_forward_send_empty(pyw_fwd_t *fw, pyw_frame_type_e type)
{
    unsigned char hdr[PYW_FRAME_HEADER_SIZE];
    int rc;

    pyw_frame_header_put(hdr, sizeof(hdr), type, 0);
    rc = pyw_io_write_full(fw->b->fd, hdr, sizeof(hdr),
                           pyw_forward_deadline(fw));
    return rc < 0 ? pyw_forward_daemon_failed(fw, rc, NULL)
                  : PYW_FWD_CONTINUE;
}

static void pyw_forward_iov_add(pyw_fwd_t *fw, const void *p, size_t len)
{
    struct iovec *n;

    if (fw->iov_len == fw->iov_cap) {
        n = apr_palloc(fw->r->pool, 2 * fw->iov_cap * sizeof(*n));
        memcpy(n, fw->iov, fw->iov_len * sizeof(*n));
        fw->iov = n;
        fw->iov_cap *= 2;
    }
    fw->iov[fw->iov_len].iov_base = (void *)p;
    fw->iov[fw->iov_len++].iov_len = len;
}

/* Collect the data buckets of fw->ibb as iovecs (slot 0 is left for the
 * frame header) and note EOS.  *len: data bytes. */
static apr_status_t pyw_forward_collect(pyw_fwd_t *fw, apr_size_t *len)
{
    apr_bucket *e;
    const char *data;
    apr_size_t n;
    apr_status_t rv;

    for (e = APR_BRIGADE_FIRST(fw->ibb); e != APR_BRIGADE_SENTINEL(fw->ibb);
         e = APR_BUCKET_NEXT(e)) {
        if (APR_BUCKET_IS_EOS(e)) {
            fw->body_done = 1;
        }
        if (APR_BUCKET_IS_METADATA(e)) {
            continue;
        }
        rv = apr_bucket_read(e, &data, &n, APR_BLOCK_READ);
        if (rv != APR_SUCCESS) {
            return rv;
        }
        if (n > 0) {
            pyw_forward_iov_add(fw, data, n);
            *len += n;
        }
    }
    return APR_SUCCESS;
}

/* Read up to want body bytes (at least one, or EOS).  Apache's HTTP_IN
 * filter sends "100 Continue" here if the client expects it. */
static apr_status_t pyw_forward_read_client(pyw_fwd_t *fw, apr_size_t want,
                                            apr_size_t *len)
{
    apr_status_t rv;
    int tries;

    fw->iov_len = 1;
    *len = 0;
    for (tries = 0; tries < PYW_FWD_EMPTY_MAX; tries++) {
        apr_brigade_cleanup(fw->ibb);
        rv = ap_get_brigade(fw->r->input_filters, fw->ibb,
                            AP_MODE_READBYTES, APR_BLOCK_READ, want);
        if (rv == APR_SUCCESS) {
            rv = pyw_forward_collect(fw, len);
        }
        if (rv != APR_SUCCESS || *len > 0 || fw->body_done) {
            return rv;
        }
    }
    return APR_EGENERAL;
}

static int pyw_forward_send_body(pyw_fwd_t *fw, apr_size_t len)
{
    unsigned char hdr[PYW_FRAME_HEADER_SIZE];
    int rc;

    pyw_frame_header_put(hdr, sizeof(hdr), PYW_FRAME_BODY, (uint32_t)len);
    fw->iov[0].iov_base = hdr;
    fw->iov[0].iov_len = sizeof(hdr);
    rc = pyw_io_writev_full(fw->b->fd, fw->iov, fw->iov_len,
                            pyw_forward_deadline(fw));
    apr_brigade_cleanup(fw->ibb);
    return rc < 0 ? pyw_forward_daemon_failed(fw, rc, NULL)
                  : PYW_FWD_CONTINUE;
}

/* A READ answered from the spooled body.  Its file failing to read is a
 * body failure like a client's (500): the app gets BODY_ABORT. */
static int pyw_forward_read_spool(pyw_fwd_t *fw, uint32_t want)
{
    const char *data;
    long n;

    fw->iov_len = 1;
    n = pyw_spool_peek(fw->spool, fw->spool_off, want, &data);
    if (n < 0) {
        fw->body_rv = APR_FROM_OS_ERROR(-n);
        fw->body_status = HTTP_INTERNAL_SERVER_ERROR;
        return pyw_forward_send_empty(fw, PYW_FRAME_BODY_ABORT);
    }
    if (n > 0) {
        pyw_forward_iov_add(fw, data, (size_t)n);
        fw->spool_off += n;
    }
    return pyw_forward_send_body(fw, (apr_size_t)n);
}

static int pyw_forward_on_read(pyw_fwd_t *fw, const pyw_frame_t *f)
{
    const unsigned char *p;
    const char *err = NULL;
    apr_size_t len;
    apr_status_t rv;
    uint32_t want;
    int rc;

    rc = pyw_stream_payload(&fw->b->stream, &p, pyw_forward_deadline(fw));
    if (rc < 0) {
        return pyw_forward_daemon_failed(fw, rc, NULL);
    }
    if (pyw_read_decode(p, f->length, &want, &err) < 0) {
        return pyw_forward_protocol_error(fw, err);
    }
    if (fw->body_status) {
        return pyw_forward_send_empty(fw, PYW_FRAME_BODY_ABORT);
    }
    if (fw->body_done) {
        return pyw_forward_send_empty(fw, PYW_FRAME_BODY);
    }
    want = want == 0 ? 1 : want > PYW_MAX_DATA_PAYLOAD
                           ? PYW_MAX_DATA_PAYLOAD : want;
    if (fw->spool != NULL) {
        return pyw_forward_read_spool(fw, want);
    }
    rv = pyw_forward_read_client(fw, want, &len);
    if (rv == APR_SUCCESS && len > want) {
        rv = APR_EGENERAL;      /* a filter ignored readbytes */
    }
    if (rv != APR_SUCCESS) {
        /* 413 over LimitRequestBody, 400 bad chunk or client gone, 408
         * timeout; AP_FILTER_ERROR if HTTP_IN already answered. */
        apr_brigade_cleanup(fw->ibb);
        fw->body_rv = rv;
        fw->body_status = ap_map_http_request_error(rv, HTTP_BAD_REQUEST);
        pyw_forward_abort_client(fw);
        return pyw_forward_send_empty(fw, PYW_FRAME_BODY_ABORT);
    }
    return pyw_forward_send_body(fw, len);
}

/* ---- the response ---- */

static int pyw_forward_skip(pyw_fwd_t *fw)
{
    int rc = pyw_stream_skip_payload(&fw->b->stream,
                                     pyw_forward_deadline(fw));

    return rc < 0 ? pyw_forward_daemon_failed(fw, rc, NULL)
                  : PYW_FWD_CONTINUE;
}

/* "200 OK" from the application: Apache's own constant when the reason
 * is the standard one (most responses), else a copy; NULL: no reason. */
static const char *pyw_forward_status_line(apr_pool_t *pool, int status,
                                           pyw_slice_t reason)
{
    const char *std = ap_get_status_line(status);

    if (reason.len == 0) {
        return NULL;
    }
    if (atoi(std) == status && strlen(std) == reason.len + 4
        && memcmp(std + 4, reason.data, reason.len) == 0) {
        return std;
    }
    return apr_psprintf(pool, "%03d %.*s", status, (int)reason.len,
                        reason.data);
}

static int pyw_forward_headers_decode(pyw_fwd_t *fw, const unsigned char *p,
                                      size_t len)
{
    apr_pool_t *pool = fw->r->pool;
    const unsigned char *rest;
    const char *err = NULL, *name, *value;
    pyw_slice_t reason, n, v;
    pyw_pair_iter_t it;
    size_t rest_len;
    uint16_t status;
    int rc;

    if (pyw_status_decode(p, len, &status, &reason, &rest, &rest_len,
                          &err) < 0) {
        return pyw_forward_protocol_error(fw, err);
    }
    if (status < 200 || status > 599) {
        return pyw_forward_protocol_error(fw, "HEADERS status out of range");
    }
    fw->status = status;
    fw->status_line = pyw_forward_status_line(pool, status, reason);
    fw->headers = apr_table_make(pool, 8);
    pyw_pair_iter_init(&it, rest, rest_len);
    while ((rc = pyw_pair_next(&it, &n, &v, &err)) == 1) {
        name = apr_pstrmemdup(pool, n.data, n.len);
        value = apr_pstrmemdup(pool, v.data, v.len);
        if (strcasecmp(name, "Content-Type") == 0) {
            fw->content_type = value;
        }
        else {
            /* addn: repeated headers (Set-Cookie) stay separate. */
            apr_table_addn(fw->headers, name, value);
        }
    }
    return rc < 0 ? pyw_forward_protocol_error(fw, err) : PYW_FWD_CONTINUE;
}

static int pyw_forward_on_headers(pyw_fwd_t *fw)
{
    const unsigned char *p;
    size_t len = fw->b->stream.payload_left;
    int rc;

    if (fw->have_headers) {
        return pyw_forward_protocol_error(fw, "a second HEADERS frame");
    }
    fw->have_headers = 1;
    if (fw->discard) {
        return pyw_forward_skip(fw);
    }
    rc = pyw_stream_payload(&fw->b->stream, &p, pyw_forward_deadline(fw));
    if (rc < 0) {
        return pyw_forward_daemon_failed(fw, rc, NULL);
    }
    return pyw_forward_headers_decode(fw, p, len);
}

/* Pass DATA piece by piece as transient buckets (filters that keep them
 * set them aside); flush when the daemon has sent nothing more yet, so
 * streamed chunks reach the client promptly. */
static int pyw_forward_on_data(pyw_fwd_t *fw)
{
    pyw_stream_t *s = &fw->b->stream;
    apr_bucket_alloc_t *ba = fw->r->connection->bucket_alloc;
    const unsigned char *p;
    long n;

    if (!fw->have_headers) {
        return pyw_forward_protocol_error(fw, "DATA before HEADERS");
    }
    if (fw->discard) {
        return pyw_forward_skip(fw);
    }
    while ((n = pyw_stream_peek_payload(s, &p, PYW_MAX_DATA_PAYLOAD,
                                        pyw_forward_deadline(fw))) > 0) {
        APR_BRIGADE_INSERT_TAIL(fw->obb,
            apr_bucket_transient_create((const char *)p, (apr_size_t)n,
                                        ba));
        if (s->payload_left == 0 && pyw_stream_buffered(s) > 0
            && fw->held + (apr_size_t)n <= PYW_FWD_HOLD_MAX) {
            /* More frames are already here (usually END): keep a copy so
             * the body and EOS pass as one brigade, which lets Apache set
             * Content-Length instead of chunking a small response. */
            apr_bucket_setaside(APR_BRIGADE_LAST(fw->obb), fw->r->pool);
            fw->held += (apr_size_t)n;
            continue;
        }
        fw->held = 0;
        if (s->payload_left == 0 && pyw_stream_buffered(s) == 0) {
            APR_BRIGADE_INSERT_TAIL(fw->obb, apr_bucket_flush_create(ba));
        }
        if (pyw_forward_pass(fw) != PYW_FWD_CONTINUE) {
            return PYW_FWD_STOP;
        }
    }
    return n < 0 ? pyw_forward_daemon_failed(fw, (int)n, NULL)
                 : PYW_FWD_CONTINUE;
}

static int pyw_forward_on_end(pyw_fwd_t *fw)
{
    if (pyw_forward_skip(fw) != PYW_FWD_CONTINUE) {
        return PYW_FWD_STOP;
    }
    if (!fw->have_headers) {
        return pyw_forward_protocol_error(fw, "END before HEADERS");
    }
    fw->out->backend_clean = 1;
    if (fw->body_status) {
        return pyw_forward_body_result(fw);
    }
    /* Nothing passed yet: a file body and EOS go down as one brigade, so
     * the byterange filter can answer a Range as for a static file; say
     * so as the default handler does, unless the application did. */
    if (fw->file_body && !fw->out->committed && fw->status == HTTP_OK
        && apr_table_get(fw->headers, "Accept-Ranges") == NULL) {
        ap_set_accept_ranges(fw->r);
    }
    APR_BRIGADE_INSERT_TAIL(fw->obb,
        apr_bucket_eos_create(fw->r->connection->bucket_alloc));
    if (pyw_forward_pass(fw) == PYW_FWD_CONTINUE) {
        fw->out->result = PYW_FWD_OK;
    }
    return PYW_FWD_STOP;
}

/* ---- FILE: body bytes from a descriptor the daemon passed ---- */

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
static int pyw_forward_on_file(pyw_fwd_t *fw, const pyw_frame_t *f)
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
    for (e = APR_BUCKET_NEXT(before); d->enable_mmap == ENABLE_MMAP_OFF
         && e != APR_BRIGADE_SENTINEL(fw->obb); e = APR_BUCKET_NEXT(e)) {
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
    return pyw_forward_pass(fw);
}

static int pyw_forward_on_error(pyw_fwd_t *fw, const pyw_frame_t *f)
{
    pyw_forward_outcome_t *out = fw->out;
    const unsigned char *p;
    const char *err = NULL;
    pyw_slice_t reason;
    uint16_t status;
    int rc;

    rc = pyw_stream_payload(&fw->b->stream, &p, pyw_forward_deadline(fw));
    if (rc < 0) {
        return pyw_forward_daemon_failed(fw, rc, NULL);
    }
    if (pyw_error_decode(p, f->length, &status, &reason, &err) < 0) {
        return pyw_forward_protocol_error(fw, err);
    }
    out->backend_clean = 1;
    if (fw->body_status) {
        return pyw_forward_body_result(fw);
    }
    out->result = PYW_FWD_APP_ERROR;
    out->status = status >= 400 && status <= 599
                  ? status : HTTP_INTERNAL_SERVER_ERROR;
    out->reason = apr_pstrmemdup(fw->r->pool, reason.data, reason.len);
    pyw_forward_abort_client(fw);
    return PYW_FWD_STOP;
}

/* GOODBYE is only valid instead of the first response frame. */
static int pyw_forward_on_goodbye(pyw_fwd_t *fw)
{
    if (fw->frames > 1) {
        return pyw_forward_protocol_error(fw, "GOODBYE in the middle of "
                                          "a request");
    }
    return pyw_forward_not_run(fw, 0, "the daemon said GOODBYE (it is "
                               "closing this connection)");
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
        return pyw_forward_on_goodbye(fw);
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
    if (pyw_stream_fds_waiting(&b->stream) > 0) {
        /* A descriptor without its FILE frame: never let a later request
         * take it for its own; closing the connection closes it. */
        out->backend_clean = 0;
    }
}

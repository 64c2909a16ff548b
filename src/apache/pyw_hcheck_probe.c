/*
 * pyw_hcheck_probe.c - one health probe of a daemon group, over the
 * group's own connections and wire protocol (pyw_hcheck.c decides whom
 * to probe and when).
 *
 *   no method  a connection and the daemon's HELLO (hcmethod=TCP)
 *   a method   that request for the URI to the group's script= or paste=
 *              application, in its main interpreter, as a request through
 *              mod_proxy with an empty ProxyPass prefix would be: the
 *              answer's status, headers and the start of its body are
 *              kept (for hcexpr=), the rest thrown away
 *
 * Nothing here touches mod_proxy: the caller turns the status into a
 * pass or a fail.  A request the daemon turned down unread (GOODBYE: it
 * was closing that connection) is sent once more on a new connection,
 * as the handler does.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "apr_strings.h"
#include "httpd.h"

#include "../common/pyw_io.h"
#include "../common/pyw_proto.h"
#include "pyw_conn.h"
#include "pyw_hcheck.h"

#define PYW_HC_PAIRS_MAX 20
#define PYW_HC_SENDS     2          /* a GOODBYE'd probe goes once more */

typedef struct {
    const char *name;
    const char *value;
} pyw_hc_pair_t;

/* The environ of the probe, in the wire order the daemon's worker reads
 * (request start, REQUEST_URI, application group first). */
static int pyw_hc_environ(const pyw_hc_probe_t *pr, apr_pool_t *p,
                          pyw_hc_pair_t *e)
{
    const pyw_group_t *g = pr->group;
    int star = strcmp(pr->method, "OPTIONS") == 0;
    const char *uri = star ? "*" : pr->uri;
    const char *q = strchr(uri, '?');
    char *path = apr_pstrmemdup(p, uri, q ? (size_t)(q - uri) : strlen(uri));
    int n = 0;

    ap_unescape_url_keep2f(path, 1);
    e[n++] = (pyw_hc_pair_t){ PYW_ENV_REQUEST_START,
                              apr_off_t_toa(p, (apr_off_t)apr_time_now()) };
    e[n++] = (pyw_hc_pair_t){ "REQUEST_URI", uri };
    e[n++] = (pyw_hc_pair_t){ PYW_ENV_APP_GROUP, g->app_group_name };
    e[n++] = (pyw_hc_pair_t){ "REQUEST_METHOD", pr->method };
    e[n++] = (pyw_hc_pair_t){ "SERVER_PROTOCOL", pr->protocol };
    e[n++] = (pyw_hc_pair_t){ "GATEWAY_INTERFACE", "CGI/1.1" };
    e[n++] = (pyw_hc_pair_t){ "SCRIPT_NAME", "" };
    e[n++] = (pyw_hc_pair_t){ "PATH_INFO", star ? "" : path };
    e[n++] = (pyw_hc_pair_t){ "QUERY_STRING", q ? q + 1 : "" };
    e[n++] = (pyw_hc_pair_t){ "SCRIPT_FILENAME", g->app_file };
    e[n++] = (pyw_hc_pair_t){ "SERVER_NAME", pr->server_name };
    e[n++] = (pyw_hc_pair_t){ "SERVER_PORT",
                              apr_itoa(p, pr->server_port) };
    e[n++] = (pyw_hc_pair_t){ "HTTP_HOST", pr->server_name };
    e[n++] = (pyw_hc_pair_t){ "HTTP_USER_AGENT", PYW_HC_USER_AGENT };
    e[n++] = (pyw_hc_pair_t){ "REMOTE_ADDR", "127.0.0.1" };
    e[n++] = (pyw_hc_pair_t){ "mod_pyworker.process_group", g->name };
    e[n++] = (pyw_hc_pair_t){ "mod_pyworker.callable_object",
                              g->callable_object ? g->callable_object
                                                 : PYW_CALLABLE_DEFAULT };
    /* A probe is no visitor: a changed script restarts the group when a
     * request notices it, as without health checks. */
    e[n++] = (pyw_hc_pair_t){ "mod_pyworker.script_reloading", "0" };
    if (g->app_paste_name != NULL) {
        e[n++] = (pyw_hc_pair_t){ "mod_pyworker.paste_app",
                                  g->app_paste_name };
    }
    return n;
}

/* The REQUEST frame, written with one write.  0 or -errno. */
static int pyw_hc_send(const pyw_hc_probe_t *pr, pyw_backend_t *b,
                       apr_pool_t *p, int64_t deadline)
{
    pyw_hc_pair_t e[PYW_HC_PAIRS_MAX];
    int i, n = pyw_hc_environ(pr, p, e);
    size_t size = 0, pos;
    unsigned char *buf;

    for (i = 0; i < n; i++) {
        size += pyw_pair_size(strlen(e[i].name), strlen(e[i].value));
    }
    buf = apr_palloc(p, PYW_FRAME_HEADER_SIZE + size);
    pos = pyw_request_header_put(buf, PYW_FRAME_HEADER_SIZE,
                                 PYW_REQUEST_PROBE, 0, (uint32_t)size);
    for (i = 0; i < n; i++) {
        pos += pyw_pair_put(buf + pos, PYW_FRAME_HEADER_SIZE + size - pos,
                            e[i].name, strlen(e[i].name),
                            e[i].value, strlen(e[i].value));
    }
    return pyw_io_write_full(b->fd, buf, pos, deadline);
}

/* The application asked for a body: it has none. */
static int pyw_hc_no_body(pyw_backend_t *b, int64_t deadline)
{
    unsigned char hdr[PYW_FRAME_HEADER_SIZE];
    int rc = pyw_stream_skip_payload(&b->stream, deadline);

    if (rc < 0) {
        return rc;
    }
    pyw_frame_header_put(hdr, sizeof(hdr), PYW_FRAME_BODY, 0);
    return pyw_io_write_full(b->fd, hdr, sizeof(hdr), deadline);
}

static void pyw_hc_headers(const unsigned char *pairs, size_t len,
                           pyw_hc_result_t *res, apr_pool_t *p)
{
    pyw_pair_iter_t it;
    pyw_slice_t name, value;
    const char *err;

    res->headers = apr_table_make(p, 8);
    pyw_pair_iter_init(&it, pairs, len);
    while (pyw_pair_next(&it, &name, &value, &err) > 0) {
        apr_table_addn(res->headers,
                       apr_pstrmemdup(p, name.data, name.len),
                       apr_pstrmemdup(p, value.data, value.len));
    }
}

/* Room left for body bytes (PYW_HC_BODY_MAX kept, for hcexpr). */
static apr_size_t pyw_hc_room(pyw_hc_result_t *res, apr_pool_t *p)
{
    if (res->body == NULL) {
        res->body = apr_palloc(p, PYW_HC_BODY_MAX);
    }
    return PYW_HC_BODY_MAX - res->body_len;
}

/* A DATA frame's bytes, as far as there is room; the rest skipped. */
static int pyw_hc_body_data(pyw_backend_t *b, int64_t deadline,
                            pyw_hc_result_t *res, apr_pool_t *p)
{
    long got;

    while (pyw_hc_room(res, p) > 0) {
        got = pyw_stream_read_payload(&b->stream, res->body + res->body_len,
                                      pyw_hc_room(res, p), deadline);
        if (got <= 0) {
            return (int)got;
        }
        res->body_len += (apr_size_t)got;
    }
    return pyw_stream_skip_payload(&b->stream, deadline);
}

/* A FILE frame's bytes, read from its descriptor, which is closed. */
static int pyw_hc_body_file(pyw_backend_t *b, const pyw_frame_t *f,
                            int64_t deadline, pyw_hc_result_t *res,
                            apr_pool_t *p)
{
    const unsigned char *payload;
    uint64_t offset, length;
    const char *err;
    ssize_t n;
    int rc = pyw_stream_payload(&b->stream, &payload, deadline);
    int fd = pyw_stream_take_fd(&b->stream);

    if (rc == 0 && fd >= 0
        && pyw_file_decode(payload, f->length, &offset, &length, &err) == 0) {
        if (length > pyw_hc_room(res, p)) {
            length = pyw_hc_room(res, p);
        }
        n = pread(fd, res->body + res->body_len, (size_t)length,
                  (off_t)offset);
        res->body_len += n > 0 ? (apr_size_t)n : 0;
    }
    if (fd >= 0) {
        close(fd);
    }
    return rc;
}

/* The status of a HEADERS or ERROR frame.  0 or -errno. */
static int pyw_hc_status(pyw_backend_t *b, const pyw_frame_t *f,
                         int64_t deadline, pyw_hc_result_t *res,
                         apr_pool_t *p)
{
    const unsigned char *payload, *rest;
    const char *err = NULL;
    pyw_slice_t reason;
    uint16_t status;
    size_t rest_len;
    int rc = pyw_stream_payload(&b->stream, &payload, deadline);

    if (rc < 0) {
        return rc;
    }
    rc = f->type == PYW_FRAME_HEADERS
         ? pyw_status_decode(payload, f->length, &status, &reason, &rest,
                             &rest_len, &err)
         : pyw_error_decode(payload, f->length, &status, &reason, &err);
    if (rc < 0) {
        res->why = apr_pstrcat(p, "the daemon's answer is malformed: ",
                               err, NULL);
        return -EPROTO;
    }
    res->status = status;
    if (f->type == PYW_FRAME_HEADERS) {
        pyw_hc_headers(rest, rest_len, res, p);
    }
    if (f->type == PYW_FRAME_ERROR) {
        res->why = apr_psprintf(p, "the application failed (%u %.*s)",
                                status, (int)reason.len, reason.data);
    }
    return 0;
}

/* Frames up to END or ERROR.  1: done; 0: GOODBYE, not run; -errno. */
static int pyw_hc_answer(pyw_backend_t *b, int64_t deadline,
                         pyw_hc_result_t *res, apr_pool_t *p)
{
    pyw_frame_t f;
    int rc;

    for (;;) {
        if ((rc = pyw_stream_next(&b->stream, &f, deadline)) < 0) {
            return rc;
        }
        switch (f.type) {
        case PYW_FRAME_GOODBYE:
            return res->status == 0 ? 0 : -EPROTO;
        case PYW_FRAME_READ:
            rc = pyw_hc_no_body(b, deadline);
            break;
        case PYW_FRAME_HEADERS:
            rc = pyw_hc_status(b, &f, deadline, res, p);
            break;
        case PYW_FRAME_ERROR:
            rc = pyw_hc_status(b, &f, deadline, res, p);
            return rc < 0 ? rc : 1;
        case PYW_FRAME_END:
            return 1;
        case PYW_FRAME_DATA:
            rc = pyw_hc_body_data(b, deadline, res, p);
            break;
        case PYW_FRAME_FILE:
            rc = pyw_hc_body_file(b, &f, deadline, res, p);
            break;
        default:
            res->why = apr_psprintf(p, "unexpected %s frame",
                                    pyw_frame_type_name(f.type));
            return -EPROTO;
        }
        if (rc < 0) {
            return rc;
        }
    }
}

static const char *pyw_hc_io_why(int rc, apr_pool_t *p)
{
    if (rc == -ETIMEDOUT) {
        return "no answer in time";
    }
    if (rc == -ECONNRESET) {
        return "the daemon closed the connection";
    }
    return apr_psprintf(p, "%s", strerror(-rc));
}

void pyw_hc_probe(const pyw_hc_probe_t *pr, apr_pool_t *p,
                  pyw_hc_result_t *res)
{
    int64_t deadline = pyw_io_deadline(apr_time_as_msec(pr->timeout));
    pyw_backend_t *b = NULL;
    int rc = 0, sends;

    memset(res, 0, sizeof(*res));
    if (pr->method != NULL && pr->group->app_file == NULL) {
        /* configtest refuses such a member; balancer-manager does not */
        res->why = "the group has no script= or paste= to ask";
        return;
    }
    for (sends = 0; sends < PYW_HC_SENDS && rc == 0; sends++) {
        res->status = 0;
        res->headers = NULL;
        res->body_len = 0;
        rc = pyw_conn_acquire(pr->group, pr->connect_timeout, 0,
                              pr->method != NULL && sends == 0, p, &b,
                              &res->why);
        if (rc < 0) {
            return;                     /* res->why says why */
        }
        res->pid = b->daemon_pid;
        if (pr->method == NULL) {
            res->passed = 1;            /* TCP: connected, HELLO read */
            pyw_conn_close(b);
            return;
        }
        rc = pyw_hc_send(pr, b, p, deadline);
        rc = rc < 0 ? rc : pyw_hc_answer(b, deadline, res, p);
        if (rc <= 0) {
            pyw_conn_close(b);
            b = NULL;
        }
    }
    if (rc == 0) {
        res->why = "every daemon turned the probe down unread";
    }
    else if (rc < 0 && res->why == NULL) {
        res->why = pyw_hc_io_why(rc, p);
    }
    else if (rc > 0) {
        res->passed = res->why == NULL
                      && res->status >= 200 && res->status < 400;
        if (!res->passed && res->why == NULL) {
            res->why = apr_psprintf(p, "answered %d", res->status);
        }
        pyw_conn_release(b);
    }
}

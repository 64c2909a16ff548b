/*
 * pyw_forward_env.c - the REQUEST frame: the CGI/WSGI environ Apache
 * builds for r, the pairs it lacks (request start, application group,
 * HTTP_AUTHORIZATION, mod_pyworker.*), in the wire order the daemon's
 * worker reads, written as one frame with one write.
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "apr_strings.h"
#include "httpd.h"
#include "http_log.h"
#include "util_script.h"

#include "../common/pyw_io.h"
#include "../common/pyw_proto.h"
#include "pyw_claim.h"
#include "pyw_forward_int.h"

#define PYW_FWD_EXTRA_MAX 10     /* environ pairs added to Apache's      */
#define PYW_FWD_ENV_NOTE  "pyworker-env-added"

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

/* Apache's log id of the main request, made now if nothing was logged
 * for it yet, as Apache makes one on its first error line: the daemon's
 * lines then carry the %L that Apache's own lines and the access log's
 * %L show for this request. */
static const char *pyw_forward_log_id(request_rec *r)
{
    request_rec *rmain = r->main ? r->main : r;

    if (rmain->log_id == NULL) {
        ap_run_generate_log_id(r->connection, rmain, &rmain->log_id);
    }
    return rmain->log_id;
}

/* The pairs Apache's own table lacks.  The first is the request start
 * (for queue-timeout: when Apache read the request line, or finished
 * spooling a chunked body, microseconds since the epoch), which goes on
 * the wire first; then REQUEST_URI, then the *lead others: the
 * application group and, in a subrequest or internal redirect, the URI
 * served, which the daemon's log lines name. */
static int pyw_forward_extras(request_rec *r, const pyw_forward_opts_t *o,
                              pyw_env_extra_t *x, int *lead)
{
    const char *auth;
    int n = 0;

    x[n].name = PYW_ENV_REQUEST_START;
    x[n++].value = apr_off_t_toa(r->pool, (apr_off_t)(o->body
                                 ? pyw_spool_done_time(o->body)
                                 : r->request_time));
    x[n].name = PYW_ENV_APP_GROUP;
    x[n++].value = o->application_group ? o->application_group : "";
    if (r->main != NULL || r->prev != NULL) {
        x[n].name = PYW_ENV_SUBREQUEST_URI;
        x[n++].value = r->unparsed_uri ? r->unparsed_uri : r->uri;
    }
    *lead = n;
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
    if (o->log_id && (x[n].value = pyw_forward_log_id(r)) != NULL) {
        x[n++].name = "mod_pyworker.log_id";
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

/* mod_pyworker.* keys are Apache's to set (the extras): a SetEnv or
 * RewriteRule [E=] of the same name, which a tenant's .htaccess may
 * write, must not reach the daemon (mod_pyworker.paste_app turned a
 * script URL into a PasteDeploy load). */
static int pyw_env_reserved(const char *key)
{
    return (key[0] == 'm' || key[0] == 'M')
           && strncasecmp(key, "mod_pyworker.", 13) == 0;
}

/*
 * The environ in wire order.  The request start, REQUEST_URI and the
 * application group come first: the daemon's worker reads only those
 * before it runs the request (its scans stop there), then Apache's table
 * without that REQUEST_URI, then the other extras.  The pair count, or
 * -1 if a name is too long.
 */
static int pyw_forward_env_pairs(request_rec *r, const pyw_env_extra_t *x,
                                 int nx, int lead, pyw_env_pair_t **out)
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
    for (i = 1; i < lead; i++) {
        rc |= pyw_env_add(p, &n, x[i].name, x[i].value);
    }
    for (i = 0; i < arr->nelts; i++) {
        if (uri != NULL && e[i].val == uri
            && strcasecmp(e[i].key, "REQUEST_URI") == 0) {
            uri = NULL;         /* sent first already */
            continue;
        }
        if (pyw_env_reserved(e[i].key)) {
            continue;
        }
        rc |= pyw_env_add(p, &n, e[i].key, e[i].val);
    }
    for (i = lead; i < nx; i++) {
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
int pyw_forward_send_request(pyw_fwd_t *fw,
                             const pyw_forward_opts_t *opts)
{
    request_rec *r = fw->r;
    pyw_env_extra_t extra[PYW_FWD_EXTRA_MAX];
    pyw_env_pair_t *pairs;
    unsigned char *buf;
    size_t size = SIZE_MAX, pos;
    int nx, np, rc, lead;

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
        else if (opts->length_unknown) {
            apr_table_unset(r->subprocess_env, "CONTENT_LENGTH");
        }
        if (opts->head_as_get) {
            /* Apache still drops the body: only the app sees a GET. */
            apr_table_setn(r->subprocess_env, "REQUEST_METHOD", "GET");
        }
        apr_table_setn(r->notes, PYW_FWD_ENV_NOTE, "1");
    }
    /* Each time: a balancer may fail over to another group's script. */
    pyw_forward_set_target(r, opts);
    nx = pyw_forward_extras(r, opts, extra, &lead);
    if ((np = pyw_forward_env_pairs(r, extra, nx, lead, &pairs)) >= 0) {
        size = pyw_forward_env_size(pairs, np);
    }
    if (size > PYW_MAX_REQUEST_PAYLOAD) {
        fw->out->result = PYW_FWD_ENV_TOO_LARGE;
        fw->out->backend_clean = 1;
        return PYW_FWD_STOP;
    }
    buf = apr_palloc(r->pool, PYW_FRAME_HEADER_SIZE + size);
    pos = pyw_request_header_put(buf, PYW_FRAME_HEADER_SIZE,
                                 opts->resent ? PYW_REQUEST_RESENT : 0,
                                 pyw_claim_id(r, fw->b->group),
                                 (uint32_t)size);
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

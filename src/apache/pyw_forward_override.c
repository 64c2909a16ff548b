/*
 * pyw_forward_override.c - error override (PyWorkerErrorOverride, and
 * ProxyErrorOverride for pyworker:// requests): when the application
 * answers a status that opts->error_override claims, nothing of its
 * response reaches r.  The caller returns the status and Apache answers
 * with its own error document (ErrorDocument), as for a static file.
 *
 * The rest of the response is read and thrown away up to END, so the
 * connection goes back to the cache clean, never with half a response in
 * it.  A body longer than PYW_FWD_DRAIN_MAX is not worth reading: the
 * connection is closed instead, and the daemon stops that response at its
 * next write, as when a client goes away.  Descriptors of FILE frames are
 * closed unread (fw->discard).
 *
 * Only statuses Apache has an error page for are replaced: another
 * (418, 499...) would become a 500, so it passes through as sent.
 *
 * The application's headers are dropped with its body, as Apache drops a
 * handler's headers for an error document, except those that belong to
 * the status rather than to the page (pyw_forward_keep): they go to
 * err_headers_out, which Apache keeps for error responses; a 405's Allow
 * becomes the method list Apache writes its own Allow from.
 *
 * A local redirect is drained the same way: under opts->local_redirect
 * (the handler, not pyworker:// URLs), a 200 whose Location is a local
 * path is CGI's "local redirect response" (RFC 3875 6.2.2), which
 * mod_cgid and mod_wsgi's daemon mode honour: the caller serves that URL
 * instead (pyw_handler.c), and nothing of the application's response,
 * headers included, reaches the client.
 */
#include <stdlib.h>

#include "apr_strings.h"
#include "apr_tables.h"
#include "httpd.h"
#include "http_protocol.h"

#include "../common/pyw_proto.h"
#include "pyw_forward_int.h"

#define PYW_FWD_DRAIN_MAX  ((apr_off_t)1 << 20)   /* then close instead */

/* Headers kept with the status: the challenge of a 401 (mod_proxy_http
 * keeps it too), and when to come back after a 503 or 429.  (A 407's
 * Proxy-Authenticate is hop-by-hop: start_response refuses it.) */
static const struct {
    int         status;
    const char *name;
} pyw_forward_keep[] = {
    { HTTP_UNAUTHORIZED,                  "WWW-Authenticate" },
    { HTTP_SERVICE_UNAVAILABLE,           "Retry-After" },
    { HTTP_TOO_MANY_REQUESTS,             "Retry-After" },
};

/* Apache has error pages only for the statuses it knows: it would turn
 * any other (418, 499...) into a 500, so those pass through as sent. */
static int pyw_forward_apache_knows(int status)
{
    return atoi(ap_get_status_line(status)) == status;
}

/* A 200 with a Location that is a local path: "/x", as mod_cgid tests it
 * (Apache's URI parser takes "//x" as the path "/x" too). */
static const char *pyw_forward_local_location(const pyw_fwd_t *fw)
{
    const char *location;

    if (!fw->local_redirect || fw->status != HTTP_OK) {
        return NULL;
    }
    location = apr_table_get(fw->headers, "Location");
    return location != NULL && location[0] == '/' ? location : NULL;
}

void pyw_forward_override_begin(pyw_fwd_t *fw)
{
    if ((fw->out->location = pyw_forward_local_location(fw)) != NULL) {
        fw->overriding = 1;
        fw->discard = 1;
        return;
    }
    if (fw->error_override != NULL && pyw_forward_apache_knows(fw->status)
        && fw->error_override(fw->r, fw->status)) {
        fw->overriding = 1;
        fw->discard = 1;
    }
}

static int pyw_forward_keep_one(void *rec, const char *key,
                                const char *value)
{
    request_rec *r = rec;

    apr_table_addn(r->err_headers_out, key, value);  /* repeats stay */
    return 1;
}

static int pyw_forward_allow_one(void *rec, const char *key,
                                 const char *value)
{
    request_rec *r = rec;
    char *list = apr_pstrdup(r->pool, value), *last, *m;

    for (m = apr_strtok(list, ", \t", &last); m != NULL;
         m = apr_strtok(NULL, ", \t", &last)) {
        ap_method_list_add(r->allowed_methods, m);
    }
    return 1;
}

/* Apache writes the Allow of its 405 page itself, from r->allowed_methods
 * (plus TRACE when TraceEnable is on): make that the application's list. */
static void pyw_forward_keep_allow(pyw_fwd_t *fw)
{
    request_rec *r = fw->r;

    if (fw->status == HTTP_METHOD_NOT_ALLOWED
        && apr_table_get(fw->headers, "Allow") != NULL) {
        ap_clear_method_list(r->allowed_methods);
        apr_table_do(pyw_forward_allow_one, r, fw->headers, "Allow", NULL);
    }
}

/* clean: the response was read to its END. */
static int pyw_forward_override_done(pyw_fwd_t *fw, int clean)
{
    request_rec *r = fw->r;
    size_t i;

    fw->out->backend_clean = clean;
    if (fw->out->location != NULL) {
        fw->out->result = PYW_FWD_REDIRECT;
        return PYW_FWD_STOP;
    }
    for (i = 0; i < sizeof(pyw_forward_keep) / sizeof(*pyw_forward_keep);
         i++) {
        if (pyw_forward_keep[i].status == fw->status) {
            apr_table_unset(r->err_headers_out, pyw_forward_keep[i].name);
            apr_table_do(pyw_forward_keep_one, r, fw->headers,
                         pyw_forward_keep[i].name, NULL);
        }
    }
    pyw_forward_keep_allow(fw);
    fw->out->result = PYW_FWD_OVERRIDDEN;
    fw->out->status = fw->status;
    return PYW_FWD_STOP;
}

int pyw_forward_override_data(pyw_fwd_t *fw)
{
    fw->drained += (apr_off_t)fw->b->stream.payload_left;
    if (fw->drained > PYW_FWD_DRAIN_MAX) {
        return pyw_forward_override_done(fw, 0);
    }
    return pyw_forward_skip(fw);
}

int pyw_forward_override_end(pyw_fwd_t *fw)
{
    return pyw_forward_override_done(fw, 1);
}

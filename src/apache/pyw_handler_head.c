/*
 * pyw_handler_head.c - PyWorkerMapHEADToGET: whether a HEAD request
 * reaches the application as GET.
 *
 * Apache answers HEAD by running the whole request and dropping the body
 * at the end, so that filters that look at the body (mod_deflate,
 * mod_include, mod_filter's chains, mod_cache...) give HEAD the headers
 * GET would get.  An application that skips the body for HEAD breaks
 * that: mapped to GET, it produces the body and Apache drops it.
 *
 * Auto maps when the request has such a filter: any output filter above
 * the protocol ones (r->output_filters up to r->proto_output_filters)
 * whose type is below AP_FTYPE_PROTOCOL (resource or content-set),
 * except mod_headers' FIXUP_HEADERS_OUT, which edits headers only.
 * Apache's own filters (byterange, content-length, headers) are protocol
 * filters and do not count.
 */
#include <strings.h>

#include "httpd.h"
#include "util_filter.h"

#include "pyw_config.h"
#include "pyw_handler_int.h"
#include "pyw_log.h"

/* Output filters that never change the headers a body would give. */
static const char *const pyw_head_harmless[] = {
    "FIXUP_HEADERS_OUT",
    NULL
};

static int pyw_head_harmless_filter(const ap_filter_t *f)
{
    const char *const *n;

    for (n = pyw_head_harmless; *n != NULL; n++) {
        if (strcasecmp(f->frec->name, *n) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The first output filter of r that needs the body, or NULL. */
static const ap_filter_t *pyw_head_body_filter(request_rec *r)
{
    const ap_filter_t *f;

    for (f = r->output_filters; f != NULL && f != r->proto_output_filters;
         f = f->next) {
        if (f->frec->ftype < AP_FTYPE_PROTOCOL
            && !pyw_head_harmless_filter(f)) {
            return f;
        }
    }
    return NULL;
}

int pyw_handler_head_as_get(request_rec *r, const pyw_group_t *g)
{
    int mode;
    const ap_filter_t *f = NULL;

    if (!r->header_only || r->method_number != M_GET) {
        return 0;               /* not a HEAD */
    }
    mode = pyw_config_map_head(r);
    if (mode == PYW_MAP_HEAD_OFF
        || (mode == PYW_MAP_HEAD_AUTO
            && (f = pyw_head_body_filter(r)) == NULL)) {
        return 0;
    }
    PYW_RLOG(APLOG_DEBUG, 0, r, 121, g->name, 0L, "HEAD reaches the "
             "application as GET (PyWorkerMapHEADToGET %s%s%s)",
             f ? "Auto: output filter " : "On", f ? f->frec->name : "",
             f ? " needs the body" : "");
    return 1;
}

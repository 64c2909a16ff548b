/*
 * pyw_body_in.c - the client's request body through the input filters
 * (see pyw_body_in.h).
 */
#include "http_protocol.h"
#include "util_filter.h"

#include "pyw_body_in.h"

/* Just above the protocol's filters: below every filter of the request. */
#define PYW_BODY_IN_FTYPE  (AP_FTYPE_PROTOCOL - 1)

static ap_filter_rec_t *pyw_body_in_counter;

/* Count the reads that bring the filters above data bytes. */
static apr_status_t pyw_body_in_count(ap_filter_t *f, apr_bucket_brigade *bb,
                                      ap_input_mode_t mode,
                                      apr_read_type_e block,
                                      apr_off_t readbytes)
{
    apr_bucket *e = APR_BRIGADE_LAST(bb);   /* the sentinel if empty */
    apr_status_t rv = ap_get_brigade(f->next, bb, mode, block, readbytes);

    if (rv != APR_SUCCESS) {
        return rv;
    }
    for (e = APR_BUCKET_NEXT(e); e != APR_BRIGADE_SENTINEL(bb);
         e = APR_BUCKET_NEXT(e)) {
        if (!APR_BUCKET_IS_METADATA(e) && e->length != 0) {
            ++*(apr_uint64_t *)f->ctx;
            break;
        }
    }
    return APR_SUCCESS;
}

void pyw_body_in_register_hooks(apr_pool_t *p)
{
    (void)p;
    pyw_body_in_counter = ap_register_input_filter(
        "PYWORKER_BODY_FED", pyw_body_in_count, NULL, PYW_BODY_IN_FTYPE);
}

void pyw_body_in_init(pyw_body_in_t *in, request_rec *r)
{
    in->r = r;
    in->rest = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    in->fed = NULL;
    if (r->input_filters != r->proto_input_filters) {
        in->fed = apr_pcalloc(r->pool, sizeof(*in->fed));
        ap_add_input_filter_handle(pyw_body_in_counter, in->fed, r,
                                   r->connection);
    }
}

/* Whether bb holds a data byte or EOS.  A bucket of unknown length is
 * read (which makes its length known). */
static apr_status_t pyw_body_in_has(apr_bucket_brigade *bb, int *has)
{
    apr_bucket *e;
    const char *data;
    apr_size_t n;
    apr_status_t rv;

    *has = 0;
    for (e = APR_BRIGADE_FIRST(bb); e != APR_BRIGADE_SENTINEL(bb);
         e = APR_BUCKET_NEXT(e)) {
        if (APR_BUCKET_IS_EOS(e)) {
            *has = 1;
            break;
        }
        if (APR_BUCKET_IS_METADATA(e)) {
            continue;
        }
        if (e->length == (apr_size_t)-1
            && (rv = apr_bucket_read(e, &data, &n, APR_BLOCK_READ))
               != APR_SUCCESS) {
            return rv;
        }
        if (e->length > 0) {
            *has = 1;
            break;
        }
    }
    return APR_SUCCESS;
}

/* Read from the filters into in->rest (emptied first: what is left there
 * is metadata) until it holds data or EOS.  The buckets are set aside:
 * they may wait there beyond the filters' call. */
static apr_status_t pyw_body_in_fill(pyw_body_in_t *in, apr_size_t want)
{
    apr_off_t ask = (apr_off_t)(want > PYW_BODY_IN_BLOCK ? want
                                : PYW_BODY_IN_BLOCK);
    apr_uint64_t fed = 0;
    apr_bucket *e;
    apr_status_t rv;
    int has = 0, empty = 0;

    while (!has) {
        if (in->fed != NULL) {
            fed = *in->fed;
        }
        apr_brigade_cleanup(in->rest);
        rv = ap_get_brigade(in->r->input_filters, in->rest,
                            AP_MODE_READBYTES, APR_BLOCK_READ, ask);
        if (rv == APR_SUCCESS) {
            rv = pyw_body_in_has(in->rest, &has);
        }
        if (rv != APR_SUCCESS) {
            return rv;
        }
        /* An empty answer that fed the filters above is progress. */
        empty = has || (in->fed != NULL && *in->fed != fed) ? 0 : empty + 1;
        if (empty >= PYW_BODY_IN_EMPTY_MAX) {
            return APR_EGENERAL;
        }
    }
    for (e = APR_BRIGADE_FIRST(in->rest); e != APR_BRIGADE_SENTINEL(in->rest);
         e = APR_BUCKET_NEXT(e)) {
        if ((rv = apr_bucket_setaside(e, in->r->pool)) != APR_SUCCESS
            && rv != APR_ENOTIMPL) {
            return rv;
        }
    }
    return APR_SUCCESS;
}

apr_status_t pyw_body_in_read(pyw_body_in_t *in, apr_bucket_brigade *bb,
                              apr_size_t want)
{
    apr_bucket *e, *after;
    apr_status_t rv;
    int has;

    rv = pyw_body_in_has(in->rest, &has);
    if (rv == APR_SUCCESS && !has) {
        rv = pyw_body_in_fill(in, want);
    }
    if (rv != APR_SUCCESS) {
        apr_brigade_cleanup(in->rest);
        return rv;
    }
    rv = apr_brigade_partition(in->rest, (apr_off_t)want, &after);
    if (rv != APR_SUCCESS && rv != APR_INCOMPLETE) {
        return rv;
    }
    /* [first, after) goes, and the EOS too if it comes next. */
    if (after != APR_BRIGADE_SENTINEL(in->rest) && APR_BUCKET_IS_EOS(after)) {
        after = APR_BUCKET_NEXT(after);
    }
    while ((e = APR_BRIGADE_FIRST(in->rest)) != after) {
        APR_BUCKET_REMOVE(e);
        APR_BRIGADE_INSERT_TAIL(bb, e);
    }
    return APR_SUCCESS;
}

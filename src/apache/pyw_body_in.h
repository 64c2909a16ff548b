/*
 * pyw_body_in.h - the client's request body as Apache's input filters
 * give it, for the spool (pyw_spool.c) and READ frames
 * (pyw_forward_body.c).
 *
 * A blocking read may come back empty: mod_deflate answers nothing while
 * it reads a gzip header or a block's Huffman tables, which inflate to no
 * bytes, however slowly the client sends them.  That is progress as long
 * as the filters below it were fed; a filter that answers empty without
 * taking anything would spin.  So when the request has input filters of
 * its own (r->input_filters above r->proto_input_filters), a small filter
 * just above the protocol's (HTTP_IN) counts the reads that brought body
 * bytes up to them, and only empty reads that did not move that count
 * are held against PYW_BODY_IN_EMPTY_MAX.  A stalled client is Apache's
 * Timeout's business, as for any read.
 *
 * The filters are asked for at least PYW_BODY_IN_BLOCK bytes whatever
 * the caller wants, so an app reading 1 byte at a time does not make
 * mod_deflate inflate one compressed byte per call; what is over waits
 * here for the next call.
 *
 * Used from the request's own thread only.  Nothing here logs.
 */
#ifndef PYW_BODY_IN_H
#define PYW_BODY_IN_H

#include "apr_buckets.h"
#include "httpd.h"

#define PYW_BODY_IN_BLOCK      (8 * 1024) /* least asked of the filters  */
#define PYW_BODY_IN_EMPTY_MAX  16   /* empty reads in a row that fed no
                                       filter: the filters are broken    */

typedef struct {
    request_rec        *r;
    apr_bucket_brigade *rest;   /* read from the filters, not handed out */
    apr_uint64_t       *fed;    /* reads that brought the request's own
                                   filters body bytes; NULL: none here   */
} pyw_body_in_t;

/* Registers the counting filter (see above). */
void pyw_body_in_register_hooks(apr_pool_t *p);

/* Before the first read of r's body: the brigade, and the counting filter
 * if r has input filters of its own. */
void pyw_body_in_init(pyw_body_in_t *in, request_rec *r);

/*
 * Append up to `want` (> 0) body bytes to bb, at least one, or the EOS
 * bucket at the end of the body.  APR_SUCCESS, or what the filters
 * returned (for ap_map_http_request_error(): LimitRequestBody, a bad
 * chunk, the client gone or timed out), or APR_EGENERAL for filters that
 * keep answering nothing without being fed.
 */
apr_status_t pyw_body_in_read(pyw_body_in_t *in, apr_bucket_brigade *bb,
                              apr_size_t want);

#endif /* PYW_BODY_IN_H */

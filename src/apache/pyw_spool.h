/*
 * pyw_spool.h - a chunked request body, read whole before the request is
 * forwarded, so the application gets CONTENT_LENGTH.
 *
 * Many frameworks (Django among them) read CONTENT_LENGTH bytes and
 * ignore wsgi.input_terminated, so a chunked body sent as it comes looks
 * empty to them.  PyWorkerChunkedRequest On (the default) therefore reads
 * the body first: up to PYW_SPOOL_MEM bytes stay in memory; a longer body
 * goes to an anonymous temporary file (O_TMPFILE, or a file unlinked at
 * once) in pyw_spool_dir().  Both belong to r->pool: the buffer
 * is freed and the file closed (and so gone) when the request ends,
 * however it ends.  Memory per request never exceeds PYW_SPOOL_MEM.
 *
 * Read only from the request's own thread.  Nothing here logs: the caller
 * maps a result to a status and one log line.
 */
#ifndef PYW_SPOOL_H
#define PYW_SPOOL_H

#include "apr_time.h"
#include "httpd.h"

#define PYW_SPOOL_MEM   (64 * 1024)  /* bodies up to this stay in memory */

typedef struct pyw_spool pyw_spool_t;

typedef enum {
    PYW_SPOOL_OK = 0,
    PYW_SPOOL_TOO_LARGE,    /* more than `limit` bytes; reading stopped   */
    PYW_SPOOL_CLIENT,       /* the input filters failed (rv): client gone,
                               bad chunk, timeout, LimitRequestBody
                               (APR_ENOSPC), or AP_FILTER_ERROR when Apache
                               already answered                          */
    PYW_SPOOL_FILE          /* the temporary file failed (rv)             */
} pyw_spool_result_e;

/*
 * Read r's whole request body (through r->input_filters, so Apache sends
 * "100 Continue" and applies LimitRequestBody) into a new spool, at most
 * `limit` bytes.  PYW_SPOOL_OK and *out, or another result with *rv
 * saying why (*out is then NULL and nothing is left behind).
 */
pyw_spool_result_e pyw_spool_read(request_rec *r, apr_off_t limit,
                                  pyw_spool_t **out, apr_status_t *rv);

/* Where the files go: $TMPDIR (an absolute path), else /tmp. */
const char *pyw_spool_dir(void);

/* The body's length. */
apr_off_t pyw_spool_size(const pyw_spool_t *s);

/* 1 if the body went to a temporary file, 0 if it is in memory. */
int pyw_spool_on_disk(const pyw_spool_t *s);

/* When the body was complete (for the daemon's queue-timeout). */
apr_time_t pyw_spool_done_time(const pyw_spool_t *s);

/*
 * Up to len body bytes from offset off: *data points at them, valid until
 * the next call.  The count (fewer than len near the end, or when the
 * next bytes must come from the file; 0 at or past the end), or -errno
 * if the file cannot be read.
 */
long pyw_spool_peek(pyw_spool_t *s, apr_off_t off, apr_size_t len,
                    const char **data);

#endif /* PYW_SPOOL_H */

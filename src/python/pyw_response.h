/*
 * pyw_response.h - the response side of one WSGI request: the
 * start_response callable and its write(), header and status validation
 * (PEP 3333), Content-Length accounting, and the HEADERS/DATA/END/ERROR
 * frames through pyw_dconn.
 *
 * GIL: every function here is called with the GIL held.  Writes to
 * Apache are tried holding it and give it up only to wait for room in
 * the socket (pyw_response_init sets the connection's waiter,
 * pyw_response_clear takes it away), so a response costs no GIL
 * hand-over unless Apache falls behind.
 */
#ifndef PYW_RESPONSE_H
#define PYW_RESPONSE_H

#include "pyw_python.h"
#include "../daemon/pyw_dconn.h"

/* pyw_response_send() results besides 0 (sent). */
#define PYW_RESPONSE_EXC   (-1)  /* a Python exception is set           */
#define PYW_RESPONSE_STOP  (-2)  /* cannot go on: Apache connection lost
                                    or Content-Length exceeded; logged,
                                    no exception set                    */
#define PYW_RESPONSE_DECLINED (-3) /* pyw_response_send_file: not sent,
                                    nothing changed; iterate instead    */

typedef struct {
    pyw_dconn_t *c;
    const char  *uri;            /* for log lines; may be NULL          */
    const char  *script;         /* for log lines                       */
    int          head;           /* HEAD: Apache drops the body, so the
                                    length is not enforced              */

    /* Set by start_response; replaced by a call with exc_info. */
    PyObject    *status;         /* validated str, or NULL              */
    PyObject    *headers;        /* validated copy of the header list   */
    int          code;
    long long    content_length; /* -1: the app did not set one         */

    long long    sent;           /* body bytes written                  */
    PyObject    *held;           /* the end of a list or tuple body,
                                    sent with END (send_known)          */
    int          headers_sent;   /* HEADERS written (with first data)   */
    int          overflow;       /* app produced more than declared     */
    int          io_error;       /* -errno: Apache connection lost      */
    int          ended;          /* END (with a file body) or ERROR out */
} pyw_response_t;

typedef struct pyw_interp pyw_interp_t;

/* Make ip's start_response type; once per interpreter.  0 / -1
 * (exception set). */
int pyw_response_init_type(pyw_interp_t *ip);

/* header-buffer-size: the largest "Name: value" start_response accepts;
 * 0 = only the frame limit.  Set once, before any request. */
void pyw_response_set_header_limit(int64_t bytes);

/* Start a response on c; uri and script must outlive it. */
void pyw_response_init(pyw_response_t *r, pyw_dconn_t *c, const char *uri,
                       const char *script, int head);

/* Drop the references r holds. */
void pyw_response_clear(pyw_response_t *r);

/* A new start_response callable of interpreter ip bound to r.  New
 * reference. */
PyObject *pyw_response_start_response(const pyw_interp_t *ip,
                                      pyw_response_t *r);

/* The request is over: start_response and write() raise from now on. */
void pyw_response_detach(PyObject *start_response);

/* Send one body chunk (bytes, kept alive by the caller) at once; the
 * headers go first, in the same write, if they have not been sent.  An
 * empty chunk sends just the headers.  start_response must have been
 * called.  With a Content-Length, a chunk that would exceed it is never
 * sent, not even in part (the response is aborted); the chunk that
 * completes it is sent at once like any other (PEP 3333: no block waits
 * for what the application does next), so a streamed body that goes on
 * past its Content-Length may have reached the client complete by then.
 * 0, PYW_RESPONSE_EXC or PYW_RESPONSE_STOP. */
int pyw_response_send(pyw_response_t *r, PyObject *chunk);

/* The same for a chunk of a body known whole (a list or tuple: its items
 * are at hand, no application code runs between them): its last chunk,
 * or the one that completes the Content-Length, is held, to go out with
 * END in one write.  So Apache gets body and end together and frames a
 * small response with Content-Length every time, not chunked when END
 * happens to arrive a moment later; and an item past the Content-Length
 * aborts the response before the client has a body that looks complete.
 * `last`: chunk is the body's last item. */
int pyw_response_send_known(pyw_response_t *r, PyObject *chunk, int last);

/*
 * The rest of the body is the file fd from `offset`, where `avail` bytes
 * remain: headers (if not sent), FILE with the descriptor, and END in one
 * write; Apache sends the bytes.  The app's Content-Length bounds what is
 * sent (PEP 3333); an empty range sends just END.  The caller still owns
 * fd.  Afterwards the response is complete: pyw_response_finish() and
 * _fail() do nothing.  0, PYW_RESPONSE_EXC, PYW_RESPONSE_STOP, or
 * PYW_RESPONSE_DECLINED: no start_response yet, a held chunk, a file
 * shorter than the Content-Length still owed (streaming reports that),
 * or the kernel refused to pass one more descriptor.
 */
int pyw_response_send_file(pyw_response_t *r, int fd, long long offset,
                           long long avail);

/* Successful end: pending headers and END, or ERROR if the body fell
 * short of its Content-Length.  0 if the connection is clean, -1 if
 * writing to Apache failed. */
int pyw_response_finish(pyw_response_t *r);

/* Failed request: ERROR(status, reason) (Apache answers `status` before
 * the headers went out, aborts the client connection after).  0 / -1 as
 * pyw_response_finish(). */
int pyw_response_fail(pyw_response_t *r, int status, const char *reason);

#endif /* PYW_RESPONSE_H */

/*
 * pyw_dconn.h - one persistent Apache connection, as seen by the daemon.
 *
 * The worker thread that runs a request owns the connection for that
 * request; the WSGI adapter talks to Apache only through these calls.
 *
 * GIL rule: the GIL is never held while a thread waits on the socket.
 * pyw_dconn_read_body must be called without it (a body read nearly
 * always waits for Apache).  The send calls may be called with it, once
 * the adapter has set a waiter: each write is tried at once, and only a
 * write that has to wait for room gives the GIL up (waiter->release)
 * until it is done.  So a response chunk costs one sendmsg() and no GIL
 * hand-over, and a request takes the GIL once.  Without a waiter the
 * send calls must be called without the GIL.
 *
 * Output is buffered: send_headers only encodes; the next send_data,
 * send_end or send_error writes headers and data with one writev().
 */
#ifndef PYW_DCONN_H
#define PYW_DCONN_H

#include <stddef.h>
#include <stdint.h>
#include "../common/pyw_proto.h"
#include "../common/pyw_stream.h"

typedef struct pyw_dconn pyw_dconn_t;

/* How the calling thread lets go of a lock it must not hold while it
 * waits (the GIL), and takes it back: release() returns what reacquire()
 * needs. */
typedef struct {
    void *(*release)(void);
    void  (*reacquire)(void *token);
} pyw_dconn_waiter_t;

/*
 * One request's writes may come from several threads of the application
 * (write() from a thread of its own, wsgi.input read in one thread while
 * another writes).  Each frame, with the pending HEADERS it carries, is
 * written under the connection's write lock, so frames never interleave
 * on the socket.  trylock: 0 when taken.  lock blocks: call it without
 * the GIL (its holder may need the GIL back to finish).
 */
int pyw_dconn_trylock_writes(pyw_dconn_t *c);
void pyw_dconn_lock_writes(pyw_dconn_t *c);
void pyw_dconn_unlock_writes(pyw_dconn_t *c);

/* How long one response write to Apache may wait for room (Apache reads
 * as fast as its client takes the bytes); past it the request is
 * aborted.  0: PYW_DCONN_IO_TIMEOUT_MS.  Set once, before any request. */
void pyw_dconn_set_write_timeout(int64_t ms);

/* From now on the send calls are made holding what w releases; NULL: they
 * are made holding nothing.  Cleared by pyw_dconn_reset(). */
void pyw_dconn_set_waiter(pyw_dconn_t *c, const pyw_dconn_waiter_t *w);

typedef struct {
    pyw_slice_t name;
    pyw_slice_t value;
} pyw_header_t;

/*
 * Read request body: sends READ(len) and returns what the next BODY frame
 * carries.  >0 bytes, 0 at the end of the body (and on every later call),
 * -ECANCELED when Apache could not read the client's body (too large,
 * client gone), -ECONNRESET / -ETIMEDOUT / -EPROTO / -errno otherwise.
 */
long pyw_dconn_read_body(pyw_dconn_t *c, void *buf, size_t len);

/* Encode the HEADERS frame into the output buffer (no syscall). 0/-errno */
int pyw_dconn_send_headers(pyw_dconn_t *c, int status,
                           const char *reason, size_t reason_len,
                           const pyw_header_t *headers, size_t n);

/* Write pending output plus len bytes of body (DATA frames). 0 / -errno
 * (-EPIPE / -ECONNRESET: Apache closed, i.e. the client went away). */
int pyw_dconn_send_data(pyw_dconn_t *c, const void *data, size_t len);

/* The last len (> 0) bytes of body and END, in the same write as any
 * pending output.  0 / -errno */
int pyw_dconn_send_last(pyw_dconn_t *c, const void *data, size_t len);

/* Finish the response: pending output + END.  0 / -errno */
int pyw_dconn_send_end(pyw_dconn_t *c);

/*
 * Body bytes from a file: pending output, then a FILE frame (offset,
 * length > 0), in one sendmsg() that carries fd (SCM_RIGHTS) on its
 * first byte.  Apache reads or sendfile()s the bytes itself.  The kernel
 * passes a copy: the caller still owns fd and may close it on return.
 * 0 / -errno; -ETOOMANYREFS (the kernel's limit of descriptors in
 * flight) leaves the connection and the pending output as they were.
 */
int pyw_dconn_send_file(pyw_dconn_t *c, int fd, uint64_t offset,
                        uint64_t length);

/* The same with END in that one write: the response is finished. */
int pyw_dconn_send_file_last(pyw_dconn_t *c, int fd, uint64_t offset,
                             uint64_t length);

/* Fail the request: pending output is dropped if headers were not yet
 * written; sends ERROR(status, reason).  0 / -errno */
int pyw_dconn_send_error(pyw_dconn_t *c, int status, const char *reason);

/* 1 once HEADERS has reached the socket. */
int pyw_dconn_headers_sent(const pyw_dconn_t *c);

/* 1 if Apache answered a body read of this request with BODY_ABORT: the
 * client body could not be read (the client went away, or sent too
 * much); Apache logged why (PYW0117). */
int pyw_dconn_body_aborted(const pyw_dconn_t *c);

#endif /* PYW_DCONN_H */

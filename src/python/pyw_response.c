/*
 * pyw_response.c - the response frames of one WSGI request: HEADERS,
 * DATA, FILE, END and ERROR through pyw_dconn, with Content-Length
 * accounting.
 *
 * The status and headers stored by start_response (pyw_response_start.c)
 * go to Apache with the first non-empty body chunk (or write() call, or
 * the end of the response), in the same writev() as that chunk.  Writes
 * hold the GIL and give it up only to wait for room in the socket (the
 * connection's waiter, set by pyw_response_init()).
 */
#include "pyw_python.h"

#include <errno.h>
#include <string.h>

#include "../daemon/pyw_dlog.h"
#include "pyw_response.h"
#include "pyw_script.h"

/* Log codes of this file (README.md lists them all). */
#define RESPONSE_LOG_OVERFLOW   323  /* body longer than Content-Length  */
#define RESPONSE_LOG_SHORT      324  /* body shorter than Content-Length */
#define RESPONSE_LOG_CONN_LOST  326  /* info: writing to Apache failed   */
#define RESPONSE_LOG_HEADERS    327  /* headers do not fit a frame      */

/* Header vectors up to this size live on the stack. */
#define RESPONSE_SMALL_HEADERS  32

/* The response's sends are made holding the GIL (see pyw_dconn.h): only
 * a send that must wait for room in the socket lets go of it. */
static void *response_gil_release(void)
{
    return PyEval_SaveThread();
}

static void response_gil_reacquire(void *tstate)
{
    PyEval_RestoreThread((PyThreadState *)tstate);
}

static const pyw_dconn_waiter_t response_gil_waiter = {
    response_gil_release, response_gil_reacquire
};

void pyw_response_init(pyw_response_t *r, pyw_dconn_t *c, const char *uri,
                       const char *script, int head)
{
    memset(r, 0, sizeof(*r));
    r->c = c;
    pyw_dconn_set_waiter(c, &response_gil_waiter);
    r->uri = uri;
    r->script = script;
    r->head = head;
    r->content_length = -1;
}

void pyw_response_clear(pyw_response_t *r)
{
    if (r->c != NULL) {
        pyw_dconn_set_waiter(r->c, NULL);   /* the worker sends without it */
    }
    Py_CLEAR(r->status);
    Py_CLEAR(r->headers);
    Py_CLEAR(r->held);
}

/* The connection's write lock, waited for without the GIL: the thread
 * holding it may be in a write that released the GIL to wait for room,
 * and needs it back to finish. */
static void response_lock(pyw_response_t *r)
{
    if (pyw_dconn_trylock_writes(r->c) != 0) {
        Py_BEGIN_ALLOW_THREADS
        pyw_dconn_lock_writes(r->c);
        Py_END_ALLOW_THREADS
    }
}

/* ---- frames ---- */

/* Header slices pointing into r->headers' str objects (latin-1, one byte
 * per character, checked by start_response); they stay valid while r
 * holds the list.  *hv is `small` or PyMem_Malloc'd; NULL on ENOMEM. */
static pyw_header_t *response_header_vector(pyw_response_t *r,
                                            pyw_header_t *small,
                                            size_t *n)
{
    Py_ssize_t i, count = PyList_GET_SIZE(r->headers);
    pyw_header_t *hv = small;

    if (count > RESPONSE_SMALL_HEADERS
        && (hv = PyMem_New(pyw_header_t, count)) == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    for (i = 0; i < count; i++) {
        PyObject *item = PyList_GET_ITEM(r->headers, i);
        PyObject *name = PyTuple_GET_ITEM(item, 0);
        PyObject *value = PyTuple_GET_ITEM(item, 1);

        hv[i].name.data = (const char *)PyUnicode_1BYTE_DATA(name);
        hv[i].name.len = (size_t)PyUnicode_GET_LENGTH(name);
        hv[i].value.data = (const char *)PyUnicode_1BYTE_DATA(value);
        hv[i].value.len = (size_t)PyUnicode_GET_LENGTH(value);
    }
    *n = (size_t)count;
    return hv;
}

static void response_conn_lost(pyw_response_t *r, int rv)
{
    r->io_error = rv;
    pyw_dlog(PYW_LOG_INFO, RESPONSE_LOG_CONN_LOST, r->uri,
             "connection to Apache lost while sending the response of %s: "
             "%s", r->script, strerror(-rv));
}

/* The rest of the body as a file descriptor (pyw_response_send_file). */
typedef struct {
    int       fd;
    long long offset;
    long long length;           /* > 0 */
} response_file_t;

/* The dconn calls of response_emit(): headers (if hv),
 * then the file and END, or data and maybe END.  *hrv: the headers'
 * result.  Returns the body's result. */
static int response_write(pyw_response_t *r, const pyw_header_t *hv,
                          size_t hn, const char *reason, size_t rlen,
                          const char *data, size_t len,
                          const response_file_t *file, int end, int *hrv)
{
    int rv;

    *hrv = hv ? pyw_dconn_send_headers(r->c, r->code, reason, rlen, hv, hn)
              : 0;
    if (*hrv < 0) {
        return 0;
    }
    if (file != NULL) {
        return pyw_dconn_send_file_last(r->c, file->fd,
                                        (uint64_t)file->offset,
                                        (uint64_t)file->length);
    }
    if (len > 0 && end) {
        return pyw_dconn_send_last(r->c, data, len);
    }
    rv = len > 0 || !end ? pyw_dconn_send_data(r->c, data, len) : 0;
    return rv == 0 && end ? pyw_dconn_send_end(r->c) : rv;
}

/*
 * Encode the HEADERS frame if it has not been written yet, then write it
 * with len bytes of data (len may be 0: headers only), or with `file`,
 * and END if `end` (always with a file); one write when the dconn can.
 * The GIL stays held unless a write must wait (pyw_dconn.h).  0, PYW_RESPONSE_EXC,
 * PYW_RESPONSE_STOP, or (a file only) PYW_RESPONSE_DECLINED.
 */
static int response_emit_locked(pyw_response_t *r, const char *data,
                                size_t len, const response_file_t *file,
                                int end)
{
    pyw_header_t small[RESPONSE_SMALL_HEADERS], *hv = NULL;
    const char *reason = NULL;
    size_t hn = 0, rlen = 0;
    int hrv = 0, rv = 0;

    if (!r->headers_sent) {
        if ((hv = response_header_vector(r, small, &hn)) == NULL) {
            return PYW_RESPONSE_EXC;
        }
        reason = (const char *)PyUnicode_1BYTE_DATA(r->status) + 4;
        rlen = (size_t)PyUnicode_GET_LENGTH(r->status) - 4;
    }
    rv = response_write(r, hv, hn, reason, rlen, data, len, file, end, &hrv);
    if (hv != NULL && hv != small) {
        PyMem_Free(hv);
    }
    if (hrv < 0) {
        /* Nothing written: the status and headers did not fit a frame. */
        PyErr_Format(PyExc_ValueError, "response status and headers cannot "
                     "be sent: %s", strerror(-hrv));
        return PYW_RESPONSE_EXC;
    }
    if (rv == -ETOOMANYREFS && file != NULL) {
        return PYW_RESPONSE_DECLINED;  /* nothing sent: stream it */
    }
    if (rv < 0) {
        response_conn_lost(r, rv);
        return PYW_RESPONSE_STOP;
    }
    r->headers_sent = 1;
    r->sent += file ? file->length : (long long)len;
    r->ended = end;
    return 0;
}

/* response_emit_locked() under the write lock: the application's own
 * threads may write() while the request's thread sends.  What another
 * thread did meanwhile (the response ended, the connection lost) is
 * looked at once the lock is held. */
static int response_emit(pyw_response_t *r, const char *data, size_t len,
                         const response_file_t *file, int end)
{
    int rc;

    response_lock(r);
    if (r->ended) {
        PyErr_SetString(PyExc_RuntimeError, "the response has ended "
                        "(write() from another thread after it?)");
        rc = PYW_RESPONSE_EXC;
    }
    else if (r->io_error) {
        rc = PYW_RESPONSE_STOP;
    }
    else {
        rc = response_emit_locked(r, data, len, file, end);
    }
    pyw_dconn_unlock_writes(r->c);
    return rc;
}

/* 1 if the body length is checked against Content-Length: not for HEAD
 * (Apache drops the body) nor responses that never have a body. */
static int response_length_checked(const pyw_response_t *r)
{
    return r->content_length >= 0 && !r->head && r->code >= 200
           && r->code != 204 && r->code != 304;
}

/* Content-Length bookkeeping for one chunk of len bytes: 0 it fits,
 * 1 it completes the body, -1 it exceeds the body. */
static int response_fit(pyw_response_t *r, size_t len)
{
    if (!response_length_checked(r) || len == 0) {
        return 0;
    }
    if (r->held != NULL || (long long)len > r->content_length - r->sent) {
        return -1;
    }
    return (long long)len == r->content_length - r->sent;
}

int pyw_response_send(pyw_response_t *r, PyObject *chunk)
{
    size_t len = (size_t)PyBytes_GET_SIZE(chunk);
    int fit = response_fit(r, len);

    if (fit < 0) {
        /* Nothing of it goes out (PEP 3333: no more than the
         * Content-Length).  The ERROR that follows aborts the response;
         * of a list body, before anything that looks complete went out
         * (pyw_response_send_known). */
        r->overflow = 1;
        Py_CLEAR(r->held);
        pyw_dlog(PYW_LOG_ERR, RESPONSE_LOG_OVERFLOW, r->uri,
                 "WSGI application %s produced more than its "
                 "Content-Length of %lld bytes; response aborted",
                 r->script, r->content_length);
        return PYW_RESPONSE_STOP;
    }
    /* The chunk that completes the body goes out now too, as DATA: what
     * the application does before its iterator ends (or its write()
     * caller returns, or close() is done) must not delay it (PEP 3333).
     * END follows from pyw_response_finish(). */
    if (len > 0 || !r->headers_sent) {
        return response_emit(r, PyBytes_AS_STRING(chunk), len, NULL, 0);
    }
    return 0;
}

int pyw_response_send_known(pyw_response_t *r, PyObject *chunk, int last)
{
    int fit;

    if (r->held != NULL || PyBytes_GET_SIZE(chunk) == 0
        || (fit = response_fit(r, (size_t)PyBytes_GET_SIZE(chunk))) < 0
        || (fit == 0 && !last)) {
        return pyw_response_send(r, chunk);     /* its checks and lines */
    }
    Py_INCREF(chunk);
    r->held = chunk;
    return 0;
}

int pyw_response_send_file(pyw_response_t *r, int fd, long long offset,
                           long long avail)
{
    response_file_t file;
    long long bound;

    if (r->status == NULL || r->held != NULL || r->io_error || r->overflow
        || r->ended || fd < 0 || offset < 0 || avail < 0) {
        return PYW_RESPONSE_DECLINED;
    }
    file.fd = fd;
    file.offset = offset;
    file.length = avail;
    if (r->content_length >= 0) {
        /* PEP 3333: transmission stops after Content-Length bytes.  A
         * file too short for it is streamed instead, so it fails the way
         * any short body does (ERROR, the client sees a cut response). */
        bound = r->content_length > r->sent ? r->content_length - r->sent
                                             : 0;
        if (bound > avail && response_length_checked(r)) {
            return PYW_RESPONSE_DECLINED;
        }
        file.length = bound < avail ? bound : avail;
    }
    if (file.length == 0) {
        return response_emit(r, NULL, 0, NULL, 1);     /* just END */
    }
    return response_emit(r, NULL, 0, &file, 1);
}

int pyw_response_finish(pyw_response_t *r)
{
    long long held;
    int rc;

    if (r->io_error) {
        return -1;
    }
    if (r->ended) {
        return 0;               /* END went out with the file */
    }
    if (r->status == NULL) {
        return pyw_response_fail(r, 500, "no response");
    }
    held = r->held != NULL ? (long long)PyBytes_GET_SIZE(r->held) : 0;
    if (response_length_checked(r)
        && r->sent + held < r->content_length) {
        pyw_dlog(PYW_LOG_ERR, RESPONSE_LOG_SHORT, r->uri,
                 "WSGI application %s sent %lld of its Content-Length of "
                 "%lld bytes", r->script, r->sent + held,
                 r->content_length);
        return pyw_response_fail(r, 500, "response shorter than its "
                                 "Content-Length");
    }
    /* The held chunk, if any, goes out with END in the same call. */
    rc = r->held ? response_emit(r, PyBytes_AS_STRING(r->held),
                                 (size_t)PyBytes_GET_SIZE(r->held), NULL, 1)
                 : response_emit(r, NULL, 0, NULL, 1);
    Py_CLEAR(r->held);
    if (rc == PYW_RESPONSE_EXC) {
        pyw_script_log_exception(PYW_LOG_ERR, RESPONSE_LOG_HEADERS,
                                 r->uri, "response of WSGI application %s "
                                 "cannot be sent", r->script);
        return pyw_response_fail(r, 500, "response headers too large");
    }
    return rc == 0 ? 0 : -1;
}

int pyw_response_fail(pyw_response_t *r, int status, const char *reason)
{
    int rv;

    Py_CLEAR(r->held);
    response_lock(r);
    if (r->io_error) {
        rv = -1;
    }
    else if (r->ended) {
        rv = 0;                 /* complete already: nothing to fail */
    }
    else if ((rv = pyw_dconn_send_error(r->c, status, reason)) < 0) {
        response_conn_lost(r, rv);
        rv = -1;
    }
    else {
        r->ended = 1;           /* a later write() must not follow ERROR */
    }
    pyw_dconn_unlock_writes(r->c);
    return rv;
}

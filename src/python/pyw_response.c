/*
 * pyw_response.c - start_response, write() and the response frames of one
 * WSGI request (PEP 3333).
 *
 * start_response only validates and stores status and headers; they go
 * to Apache with the first non-empty body chunk (or write() call, or the
 * end of the response), in the same writev() as that chunk.  Validation
 * errors are raised inside start_response, so the traceback points at the
 * application line that produced them.
 *
 * A start_response object points at the pyw_response_t on the worker's
 * stack; pyw_response_detach() cuts that link before the request
 * returns, so an application that keeps start_response or write() around
 * gets an exception instead of touching a dead request.
 */
#include "pyw_python.h"

#include <errno.h>
#include <string.h>
#include <strings.h>
#include <structmember.h>

#include "../daemon/pyw_dlog.h"
#include "pyw_interp_private.h"
#include "pyw_response.h"
#include "pyw_script.h"

/* Log codes of this file (README.md lists them all). */
#define RESPONSE_LOG_OVERFLOW   323  /* body longer than Content-Length  */
#define RESPONSE_LOG_SHORT      324  /* body shorter than Content-Length */
#define RESPONSE_LOG_CONN_LOST  326  /* info: writing to Apache failed   */
#define RESPONSE_LOG_HEADERS    327  /* headers do not fit a frame      */

/* Header vectors up to this size live on the stack. */
#define RESPONSE_SMALL_HEADERS  32

typedef struct {
    PyObject_HEAD
    vectorcallfunc  vectorcall; /* called without an argument tuple     */
    pyw_response_t *r;          /* NULL once the request is over        */
    PyObject       *write;      /* bound write(), made on first use     */
} response_sr_t;

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

/* ---- validation ---- */

/* RFC 9110 tchar. */
static int response_is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
           || (ch >= '0' && ch <= '9')
           || (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* A str whose characters all fit latin-1 is stored one byte each. */
static const unsigned char *response_latin1(PyObject *s, Py_ssize_t *len)
{
    if (PyUnicode_READY(s) < 0 || PyUnicode_KIND(s) != PyUnicode_1BYTE_KIND) {
        PyErr_Clear();
        return NULL;
    }
    *len = PyUnicode_GET_LENGTH(s);
    return PyUnicode_1BYTE_DATA(s);
}

/* "NNN reason": a str, latin-1, 3 digits (100-599), a space, a reason
 * without control characters.  The code, or -1 with ValueError/TypeError. */
static int response_check_status(PyObject *status)
{
    const unsigned char *s;
    Py_ssize_t len, i;

    if (!PyUnicode_Check(status)) {
        PyErr_Format(PyExc_TypeError, "start_response: status must be str, "
                     "not %.100s", Py_TYPE(status)->tp_name);
        return -1;
    }
    s = response_latin1(status, &len);
    if (s == NULL || len < 4 || s[3] != ' ' || s[0] < '1' || s[0] > '5'
        || s[1] < '0' || s[1] > '9' || s[2] < '0' || s[2] > '9') {
        PyErr_Format(PyExc_ValueError, "start_response: status must be "
                     "'<3 digits> <reason>' in latin-1, got %R", status);
        return -1;
    }
    for (i = 4; i < len; i++) {
        if ((s[i] < 0x20 && s[i] != '\t') || s[i] == 0x7f) {
            PyErr_Format(PyExc_ValueError, "start_response: control "
                         "character in status %R", status);
            return -1;
        }
    }
    return (s[0] - '0') * 100 + (s[1] - '0') * 10 + (s[2] - '0');
}

static int response_is_hop_by_hop(const unsigned char *n, Py_ssize_t len)
{
#define HOP(s) { s, sizeof(s) - 1 }
    static const struct { const char *name; size_t len; } hop[] = {
        HOP("connection"), HOP("keep-alive"), HOP("proxy-authenticate"),
        HOP("proxy-authorization"), HOP("te"), HOP("trailer"),
        HOP("trailers"), HOP("transfer-encoding"), HOP("upgrade"),
    };
#undef HOP
    size_t i;

    for (i = 0; i < sizeof(hop) / sizeof(hop[0]); i++) {
        if ((size_t)len == hop[i].len
            && strncasecmp((const char *)n, hop[i].name, hop[i].len) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Content-Length value: 1-18 digits.  The value, or -1. */
static long long response_parse_length(const unsigned char *v,
                                       Py_ssize_t len)
{
    long long n = 0;
    Py_ssize_t i;

    if (len < 1 || len > 18) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') {
            return -1;
        }
        n = n * 10 + (v[i] - '0');
    }
    return n;
}

static int64_t response_header_limit;   /* 0: none of our own */

void pyw_response_set_header_limit(int64_t bytes)
{
    response_header_limit = bytes > 0 ? bytes : 0;
}

/* One (name, value) item.  Updates *cl for Content-Length.  0 / -1. */
static int response_check_header(PyObject *item, long long *cl)
{
    const unsigned char *n, *v;
    Py_ssize_t nlen, vlen, i;
    PyObject *name, *value;

    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2
        || !PyUnicode_Check(PyTuple_GET_ITEM(item, 0))
        || !PyUnicode_Check(PyTuple_GET_ITEM(item, 1))) {
        PyErr_Format(PyExc_TypeError, "start_response: each header must be "
                     "a (str, str) tuple, got %R", item);
        return -1;
    }
    name = PyTuple_GET_ITEM(item, 0);
    value = PyTuple_GET_ITEM(item, 1);
    n = response_latin1(name, &nlen);
    for (i = 0; n != NULL && i < nlen && response_is_tchar(n[i]); i++) {
    }
    if (n == NULL || nlen == 0 || i < nlen) {
        PyErr_Format(PyExc_ValueError, "start_response: invalid header "
                     "name %R", name);
        return -1;
    }
    if (response_is_hop_by_hop(n, nlen)) {
        PyErr_Format(PyExc_ValueError, "start_response: hop-by-hop header "
                     "%R is not allowed (PEP 3333)", name);
        return -1;
    }
    v = response_latin1(value, &vlen);
    for (i = 0; v != NULL && i < vlen; i++) {
        if (v[i] == '\r' || v[i] == '\n' || v[i] == '\0') {
            break;
        }
    }
    if (v == NULL || i < vlen) {
        PyErr_Format(PyExc_ValueError, "start_response: value of header %R "
                     "is not latin-1 or contains CR, LF or NUL: %R",
                     name, value);
        return -1;
    }
    if (response_header_limit > 0
        && (int64_t)(nlen + 2 + vlen) > response_header_limit) {
        PyErr_Format(PyExc_ValueError, "start_response: header %R is %zd "
                     "bytes, more than header-buffer-size (%lld)", name,
                     nlen + 2 + vlen, (long long)response_header_limit);
        return -1;
    }
    if (nlen == 14
        && strncasecmp((const char *)n, "content-length", 14) == 0) {
        long long len = response_parse_length(v, vlen);

        if (len < 0 || (*cl >= 0 && *cl != len)) {
            PyErr_Format(PyExc_ValueError, "start_response: invalid or "
                         "conflicting Content-Length %R", value);
            return -1;
        }
        *cl = len;
    }
    return 0;
}

/* A validated private copy of the header list, or NULL. */
static PyObject *response_check_headers(PyObject *headers, long long *cl)
{
    Py_ssize_t i;

    if (!PyList_Check(headers)) {
        PyErr_Format(PyExc_TypeError, "start_response: headers must be a "
                     "list, not %.100s", Py_TYPE(headers)->tp_name);
        return NULL;
    }
    *cl = -1;
    /* Copy first: tuples and str are immutable, so the copy cannot change
     * under us once checked. */
    headers = PyList_GetSlice(headers, 0, PyList_GET_SIZE(headers));
    if (headers == NULL) {
        return NULL;
    }
    for (i = 0; i < PyList_GET_SIZE(headers); i++) {
        if (response_check_header(PyList_GET_ITEM(headers, i), cl) < 0) {
            Py_DECREF(headers);
            return NULL;
        }
    }
    return headers;
}

/* ---- the start_response object ---- */

/* Re-raise exc_info (a 3-tuple), as PEP 3333 asks once headers are out. */
static PyObject *response_reraise(PyObject *exc_info)
{
    PyObject *type, *value, *tb;

    if (!PyTuple_Check(exc_info) || PyTuple_GET_SIZE(exc_info) != 3) {
        PyErr_SetString(PyExc_TypeError, "start_response: exc_info must be "
                        "a (type, value, traceback) tuple");
        return NULL;
    }
    type = PyTuple_GET_ITEM(exc_info, 0);
    value = PyTuple_GET_ITEM(exc_info, 1);
    tb = PyTuple_GET_ITEM(exc_info, 2);
    if (type == Py_None) {
        PyErr_SetString(PyExc_RuntimeError, "start_response: headers "
                        "already sent (exc_info holds no exception)");
        return NULL;
    }
    Py_INCREF(type);
    Py_INCREF(value);
    Py_XINCREF(tb == Py_None ? NULL : tb);
    PyErr_Restore(type, value, tb == Py_None ? NULL : tb);
    return NULL;
}

static PyMethodDef response_sr_methods[2];  /* write(), sentinel */

/* The bound write(): the same object attribute lookup would make,
 * without the lookup (a tenth of start_response's cost: callgrind). */
static PyObject *response_sr_write_callable(response_sr_t *self)
{
    if (self->write == NULL) {
        self->write = PyCFunction_NewEx(&response_sr_methods[0],
                                        (PyObject *)self, NULL);
    }
    Py_XINCREF(self->write);
    return self->write;
}

static PyObject *response_sr_start(response_sr_t *self, PyObject *status,
                                   PyObject *headers, PyObject *exc_info)
{
    PyObject *copy;
    pyw_response_t *r = self->r;
    long long cl;
    int code;

    if (r == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "start_response() called after "
                        "the request finished");
        return NULL;
    }
    if (exc_info != Py_None && r->headers_sent) {
        return response_reraise(exc_info);
    }
    if (exc_info == Py_None && r->status != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "start_response() called a "
                        "second time without exc_info");
        return NULL;
    }
    if ((code = response_check_status(status)) < 0
        || (copy = response_check_headers(headers, &cl)) == NULL) {
        return NULL;
    }
    /* Headers not sent yet, so no body either: a held chunk belonged to
     * the response being replaced. */
    Py_CLEAR(r->held);
    Py_INCREF(status);
    Py_XSETREF(r->status, status);
    Py_XSETREF(r->headers, copy);
    r->code = code;
    r->content_length = cl;
    return response_sr_write_callable(self);
}

/* start_response(status, response_headers, exc_info=None), by position
 * or keyword, without the tuple and dict a tp_call needs. */
static PyObject *response_sr_vectorcall(PyObject *obj, PyObject *const *args,
                                        size_t nargsf, PyObject *kwnames)
{
    static const char *const names[] = { "status", "response_headers",
                                         "exc_info" };
    PyObject *a[3] = { NULL, NULL, Py_None };
    Py_ssize_t n = PyVectorcall_NARGS(nargsf), i, k;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;

    if (n > 3) {
        PyErr_Format(PyExc_TypeError, "start_response() takes at most 3 "
                     "arguments (%zd given)", n + nkw);
        return NULL;
    }
    for (i = 0; i < n; i++) {
        a[i] = args[i];
    }
    for (i = 0; i < nkw; i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i);

        for (k = 0; k < 3; k++) {
            if (PyUnicode_CompareWithASCIIString(name, names[k]) == 0) {
                break;
            }
        }
        if (k == 3 || k < n) {
            PyErr_Format(PyExc_TypeError, k == 3
                         ? "start_response() got an unexpected keyword "
                           "argument %R"
                         : "start_response() got multiple values for "
                           "argument %R", name);
            return NULL;
        }
        a[k] = args[n + i];
    }
    for (k = 0; k < 2; k++) {
        if (a[k] == NULL) {
            PyErr_Format(PyExc_TypeError, "start_response() missing "
                         "required argument '%s'", names[k]);
            return NULL;
        }
    }
    return response_sr_start((response_sr_t *)obj, a[0], a[1], a[2]);
}

/* OSError(err, msg): Python picks the subclass (BrokenPipeError...). */
static void response_raise_oserror(int err, const char *msg)
{
    PyObject *exc = PyObject_CallFunction(PyExc_OSError, "is", err, msg);

    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
}

static PyObject *response_sr_write(PyObject *obj, PyObject *data)
{
    pyw_response_t *r = ((response_sr_t *)obj)->r;
    int rc;

    if (r == NULL || r->status == NULL) {
        PyErr_SetString(PyExc_RuntimeError, r ? "write() called before "
                        "start_response()" : "write() called after the "
                        "request finished");
        return NULL;
    }
    if (!PyBytes_Check(data)) {
        PyErr_Format(PyExc_TypeError, "write() argument must be bytes, "
                     "not %.100s", Py_TYPE(data)->tp_name);
        return NULL;
    }
    if (r->io_error || r->overflow) {
        rc = PYW_RESPONSE_STOP;
    }
    else if ((rc = pyw_response_send(r, data)) == PYW_RESPONSE_EXC) {
        return NULL;
    }
    if (rc == PYW_RESPONSE_STOP) {
        response_raise_oserror(r->io_error ? -r->io_error : EFBIG,
                               r->io_error
                               ? "write(): the connection to Apache was lost"
                               : "write(): response body exceeds its "
                                 "Content-Length");
        return NULL;
    }
    Py_RETURN_NONE;
}

static void response_sr_dealloc(PyObject *obj)
{
    response_sr_t *self = (response_sr_t *)obj;
    PyTypeObject *type = Py_TYPE(obj);

    Py_CLEAR(self->write);
    type->tp_free(obj);
    Py_DECREF(type);            /* a heap type: its objects hold it */
}

static PyMethodDef response_sr_methods[] = {
    { "write", response_sr_write, METH_O,
      "write(data): send bytes at once (PEP 3333 write callable)" },
    { NULL, NULL, 0, NULL }
};

static PyMemberDef response_sr_members[] = {
    { "__vectorcalloffset__", T_PYSSIZET,
      offsetof(response_sr_t, vectorcall), READONLY, NULL },
    { NULL, 0, 0, 0, NULL }
};

static PyType_Slot response_sr_slots[] = {
    { Py_tp_doc, (void *)"start_response(status, response_headers, "
                         "exc_info=None)" },
    { Py_tp_call, (void *)PyVectorcall_Call },
    { Py_tp_dealloc, (void *)response_sr_dealloc },
    { Py_tp_methods, response_sr_methods },
    { Py_tp_members, response_sr_members },
    { 0, NULL }
};

static PyType_Spec response_sr_spec = {
    .name = "mod_pyworker.StartResponse",
    .basicsize = sizeof(response_sr_t),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL
             | PYW_TPFLAGS_NO_NEW,
    .slots = response_sr_slots,
};

int pyw_response_init_type(pyw_interp_t *ip)
{
    ip->start_response_type = pyw_type_from_spec(&response_sr_spec, 0);
    return ip->start_response_type ? 0 : -1;
}

PyObject *pyw_response_start_response(const pyw_interp_t *ip,
                                      pyw_response_t *r)
{
    response_sr_t *self = PyObject_New(response_sr_t,
                                       ip->start_response_type);

    if (self != NULL) {
        self->vectorcall = response_sr_vectorcall;
        self->r = r;
        self->write = NULL;
    }
    return (PyObject *)self;
}

void pyw_response_detach(PyObject *start_response)
{
    response_sr_t *self = (response_sr_t *)start_response;

    self->r = NULL;
    /* The bound method refers back to self: break the cycle. */
    Py_CLEAR(self->write);
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
static int response_emit(pyw_response_t *r, const char *data, size_t len,
                         const response_file_t *file, int end)
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

/* 1 if the body length is checked against Content-Length: not for HEAD
 * (Apache drops the body) nor responses that never have a body. */
static int response_length_checked(const pyw_response_t *r)
{
    return r->content_length >= 0 && !r->head && r->code >= 200
           && r->code != 204 && r->code != 304;
}

/* Content-Length bookkeeping for one chunk of len bytes: 0 send it,
 * 1 hold it (it completes the body), -1 it exceeds the body. */
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
        /* Nothing of it goes out: the client must not get a body that
         * looks complete.  The ERROR that follows aborts the response. */
        r->overflow = 1;
        Py_CLEAR(r->held);
        pyw_dlog(PYW_LOG_ERR, RESPONSE_LOG_OVERFLOW, r->uri,
                 "WSGI application %s produced more than its "
                 "Content-Length of %lld bytes; response aborted",
                 r->script, r->content_length);
        return PYW_RESPONSE_STOP;
    }
    if (fit > 0) {
        Py_INCREF(chunk);
        r->held = chunk;
        return 0;
    }
    if (len > 0 || !r->headers_sent) {
        return response_emit(r, PyBytes_AS_STRING(chunk), len, NULL, 0);
    }
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
    if (response_length_checked(r) && r->held == NULL
        && r->sent < r->content_length) {
        pyw_dlog(PYW_LOG_ERR, RESPONSE_LOG_SHORT, r->uri,
                 "WSGI application %s sent %lld of its Content-Length of "
                 "%lld bytes", r->script, r->sent, r->content_length);
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
    if (r->io_error) {
        return -1;
    }
    if (r->ended) {
        return 0;               /* complete already: nothing to fail */
    }
    rv = pyw_dconn_send_error(r->c, status, reason);
    if (rv < 0) {
        response_conn_lost(r, rv);
        return -1;
    }
    return 0;
}

/*
 * pyw_wsgi.c - run one WSGI request (PEP 3333) on a worker thread:
 * environ, the application call, iteration with a flush per chunk,
 * close(), and the one place that decides between END and ERROR.
 *
 * Interpreter: the request's application group (the third REQUEST pair)
 * picks it before the GIL is taken: "" is the main interpreter (one
 * length check), any other name goes through pyw_subinterp_enter().
 *
 * GIL: taken once on entry (the thread's own PyThreadState in that
 * interpreter), released on return; in between it is dropped only
 * around socket I/O (pyw_dconn_* calls in pyw_response.c and
 * pyw_input.c).
 *
 * Allocation: environ keys are interned str objects made once per
 * interpreter and cached by name (KEY_*); each cached key also keeps its
 * last value, reused while the bytes repeat.  So a request allocates
 * only the (presized) dict, the values that changed and its few
 * per-request objects.  The caches are the interpreter's own
 * (pyw_wsgi_cache_t in its pyw_interp_t), protected by its GIL.
 */
#include "pyw_python.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../daemon/pyw_dlog.h"
#include "pyw_errors.h"
#include "pyw_filewrapper.h"
#include "pyw_input.h"
#include "pyw_interp_private.h"
#include "pyw_response.h"
#include "pyw_paste.h"
#include "pyw_script.h"
#include "pyw_wsgi.h"

/* Log codes of this file (README.md lists them all). */
#define WSGI_LOG_APP_EXCEPTION  320  /* exception before headers: 500   */
#define WSGI_LOG_APP_ABORTED    321  /* exception after headers: abort  */
#define WSGI_LOG_NO_START       322  /* start_response never called     */
#define WSGI_LOG_CLOSE_FAILED   325  /* close() of the iterable raised  */
#define WSGI_LOG_BAD_REQUEST    328  /* REQUEST unusable / no objects   */
#define WSGI_LOG_BODY_ABORTED   329  /* info: body aborted, app failed  */
#define WSGI_LOG_AFTER_LOST     330  /* info: exception after conn lost */
#define WSGI_LOG_FILE_SENT      346  /* debug: file_wrapper body as a fd */
#define WSGI_LOG_FILE_STREAMED  347  /* debug: file_wrapper streamed: why */

/* wsgi_send_file(): not a file Apache can send; iterate instead. */
#define WSGI_STREAM  1

/* Environ key cache: open addressing, never evicted.  Names come from
 * clients (HTTP_*), so it is capped and long names are not cached. */
#define KEY_SLOTS     1024              /* power of two                 */
#define KEY_MAX       512               /* cached names at most         */
#define KEY_MAX_LEN   128
/* A cached key remembers its last value up to this length: most CGI
 * variables and headers repeat from one request to the next. */
#define VALUE_MAX_LEN 256

/* Entries an environ is created for (grows past it as usual). */
#define WSGI_ENVIRON_PRESIZE  40

/* Lists/tuples up to this size are sent as one joined chunk. */
#define WSGI_JOIN_MAX_ITEMS   64
#define WSGI_JOIN_MAX_BYTES   (64 * 1024)

typedef struct {
    uint32_t  hash;
    int       fixed;                    /* in the environ template: Apache
                                           cannot override it           */
    PyObject *str;                      /* interned; owned by the cache */
    PyObject *last;                     /* last value seen (GIL), or NULL */
} wsgi_key_t;

/* The key found at each position of the previous REQUEST.  Apache sends
 * the same names in the same order every time, so one memcmp usually
 * replaces the hash and the probe (GIL). */
#define KEY_ORDER_MAX 64

/* One interpreter's objects, made once (interned / immutable, shared by
 * its requests; GIL of that interpreter). */
struct pyw_wsgi_cache {
    wsgi_key_t  keys[KEY_SLOTS];
    int         key_count;
    wsgi_key_t *key_order[KEY_ORDER_MAX];
    /* The wsgi.* entries that never change, copied into each new environ
     * (one memcpy instead of six inserts); made on first use. */
    PyObject   *template;
    PyObject   *k_script_filename, *k_request_uri, *k_content_length,
               *k_https, *k_request_method, *k_url_scheme, *k_input,
               *k_errors, *k_close, *k_reloading, *k_callable,
               *k_paste_app;
    PyObject   *v_version, *v_http, *v_https;
    PyObject   *t_text_io;              /* io.TextIOBase                */
};

typedef struct {
    pyw_response_t resp;
    pyw_interp_t  *ip;              /* the interpreter it runs in       */
    pyw_wsgi_cache_t *w;            /* ip->wsgi                         */
    pyw_dconn_t   *c;
    PyObject      *environ;
    PyObject      *input;
    PyObject      *start_response;
    char          *script;          /* SCRIPT_FILENAME                  */
    char          *uri;             /* REQUEST_URI without the query    */
    long long      content_length;  /* -1: absent (chunked or none)     */
    int            https;
    int            head;
    int            has_scheme;      /* Apache sent wsgi.url_scheme      */
    int            reloading;       /* PyWorkerScriptReloading; -1: not
                                       sent (the group's setting)       */
    int            failed;          /* ERROR instead of END             */
    int            fail_status;
    const char    *fail_reason;
} wsgi_req_t;

/* ---- environ ---- */

static uint32_t wsgi_hash(const char *s, size_t len)
{
    uint32_t h = 2166136261u;
    size_t i;

    for (i = 0; i < len; i++) {
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    }
    return h;
}

/* The environ key for name, as a str decoded latin-1.  New reference.
 * *slot: its cache entry, or NULL when the name is not cached. */
static PyObject *wsgi_key(pyw_wsgi_cache_t *w, const char *name,
                          size_t len, wsgi_key_t **slot)
{
    uint32_t h = wsgi_hash(name, len);
    size_t i = h & (KEY_SLOTS - 1);
    PyObject *s;

    for (; w->keys[i].str != NULL; i = (i + 1) & (KEY_SLOTS - 1)) {
        s = w->keys[i].str;
        if (w->keys[i].hash == h && (size_t)PyUnicode_GET_LENGTH(s) == len
            && memcmp(PyUnicode_1BYTE_DATA(s), name, len) == 0) {
            Py_INCREF(s);
            *slot = &w->keys[i];
            return s;
        }
    }
    *slot = NULL;
    if ((s = PyUnicode_DecodeLatin1(name, (Py_ssize_t)len, NULL)) == NULL) {
        return NULL;
    }
    if (len <= KEY_MAX_LEN && w->key_count < KEY_MAX) {
        PyUnicode_InternInPlace(&s);
        Py_INCREF(s);
        w->keys[i].hash = h;
        w->keys[i].str = s;
        w->key_count++;
        *slot = &w->keys[i];
    }
    return s;
}

static PyObject *wsgi_key_str(pyw_wsgi_cache_t *w, const char *name)
{
    wsgi_key_t *slot;

    return wsgi_key(w, name, strlen(name), &slot);
}

/* wsgi_key() for the pos'th pair of a REQUEST, trying first the key
 * that had this position last time. */
static PyObject *wsgi_key_at(pyw_wsgi_cache_t *w, size_t pos,
                             const char *name, size_t len,
                             wsgi_key_t **slot)
{
    wsgi_key_t *k = pos < KEY_ORDER_MAX ? w->key_order[pos] : NULL;
    PyObject *s;

    if (k != NULL && (size_t)PyUnicode_GET_LENGTH(k->str) == len
        && memcmp(PyUnicode_1BYTE_DATA(k->str), name, len) == 0) {
        Py_INCREF(k->str);
        *slot = k;
        return k->str;
    }
    s = wsgi_key(w, name, len, slot);
    if (pos < KEY_ORDER_MAX) {
        w->key_order[pos] = *slot;
    }
    return s;
}

/* The str for a value: the key's previous value when the bytes are the
 * same (str is immutable, so sharing it is invisible), else a new one,
 * remembered for the next request.  Decoding was an eighth of the
 * daemon's instructions for hello (callgrind).  New reference. */
static PyObject *wsgi_value(wsgi_key_t *slot, pyw_slice_t v)
{
    PyObject *s = slot ? slot->last : NULL;

    /* latin-1 strs are always one byte per character. */
    if (s != NULL && (size_t)PyUnicode_GET_LENGTH(s) == v.len
        && memcmp(PyUnicode_1BYTE_DATA(s), v.data, v.len) == 0) {
        Py_INCREF(s);
        return s;
    }
    s = PyUnicode_DecodeLatin1(v.data, (Py_ssize_t)v.len, NULL);
    if (s != NULL && slot != NULL && v.len <= VALUE_MAX_LEN) {
        Py_XDECREF(slot->last);
        Py_INCREF(s);
        slot->last = s;
    }
    return s;
}

/* io.TextIOBase: a text file's tell() is an opaque cookie and its read()
 * gives str, so it is never sent as bytes from its descriptor. */
static PyObject *wsgi_text_io_type(void)
{
    PyObject *io = PyImport_ImportModule("io"), *t;

    if (io == NULL) {
        return NULL;
    }
    t = PyObject_GetAttrString(io, "TextIOBase");
    Py_DECREF(io);
    return t;
}

int pyw_wsgi_init(pyw_interp_t *ip)
{
    pyw_wsgi_cache_t *w;

    if (pyw_response_init_type(ip) < 0) {
        return -1;
    }
    /* Lives as long as the interpreter, which is the process's life. */
    if ((w = ip->wsgi = PyMem_RawCalloc(1, sizeof(*w))) == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    w->k_script_filename = wsgi_key_str(w, "SCRIPT_FILENAME");
    w->k_request_uri = wsgi_key_str(w, "REQUEST_URI");
    w->k_content_length = wsgi_key_str(w, "CONTENT_LENGTH");
    w->k_https = wsgi_key_str(w, "HTTPS");
    w->k_request_method = wsgi_key_str(w, "REQUEST_METHOD");
    w->k_url_scheme = wsgi_key_str(w, "wsgi.url_scheme");
    w->k_input = wsgi_key_str(w, "wsgi.input");
    w->k_errors = wsgi_key_str(w, "wsgi.errors");
    w->k_reloading = wsgi_key_str(w, "mod_pyworker.script_reloading");
    w->k_callable = wsgi_key_str(w, "mod_pyworker.callable_object");
    w->k_paste_app = wsgi_key_str(w, "mod_pyworker.paste_app");
    w->k_close = PyUnicode_InternFromString("close");
    w->v_version = Py_BuildValue("(ii)", 1, 0);
    w->v_http = PyUnicode_InternFromString("http");
    w->v_https = PyUnicode_InternFromString("https");
    w->t_text_io = wsgi_text_io_type();
    return PyErr_Occurred() ? -1 : 0;
}

/* CONTENT_LENGTH: digits only, else -1 (Apache validated it already). */
static long long wsgi_parse_length(const char *v, size_t len)
{
    long long n = 0;
    size_t i;

    if (len == 0 || len > 18) {
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

/* Remember what the adapter itself needs from one pair.  Compared by
 * identity: the cache hands out the same key objects every time. */
static int wsgi_note_pair(wsgi_req_t *q, PyObject *key, pyw_slice_t v)
{
    const pyw_wsgi_cache_t *w = q->w;

    if (key == w->k_script_filename) {
        free(q->script);
        return (q->script = strndup(v.data, v.len)) ? 0 : -1;
    }
    if (key == w->k_request_uri) {
        const char *qm = memchr(v.data, '?', v.len);

        free(q->uri);
        q->uri = strndup(v.data, qm ? (size_t)(qm - v.data) : v.len);
        return q->uri ? 0 : -1;
    }
    if (key == w->k_content_length) {
        q->content_length = wsgi_parse_length(v.data, v.len);
    }
    else if (key == w->k_https) {
        q->https = (v.len == 2 && strncasecmp(v.data, "on", 2) == 0)
                   || (v.len == 1 && v.data[0] == '1');
    }
    else if (key == w->k_request_method) {
        q->head = v.len == 4 && memcmp(v.data, "HEAD", 4) == 0;
    }
    else if (key == w->k_url_scheme) {
        q->has_scheme = 1;
    }
    else if (key == w->k_reloading) {
        q->reloading = v.len == 1 && v.data[0] == '1';
    }
    return 0;
}

/* Copy the REQUEST pairs into q->environ (values latin-1 str).  The
 * pairs live in the connection's read buffer: done before any body read.
 * 0, or -1 with an exception set or *err naming a codec problem. */
static int wsgi_copy_pairs(wsgi_req_t *q, const unsigned char *env,
                           size_t len, const char **err)
{
    pyw_pair_iter_t it;
    pyw_slice_t n, v;
    size_t pos = 0;
    int rc;

    pyw_pair_iter_init(&it, env, len);
    while ((rc = pyw_pair_next(&it, &n, &v, err)) == 1) {
        wsgi_key_t *slot;
        PyObject *key = wsgi_key_at(q->w, pos++, n.data, n.len, &slot);
        PyObject *val;

        if (key != NULL && slot != NULL && slot->fixed) {
            Py_DECREF(key);     /* ours win: already in the environ */
            continue;
        }
        val = key ? wsgi_value(slot, v) : NULL;
        rc = val ? PyDict_SetItem(q->environ, key, val) : -1;
        if (rc == 0 && wsgi_note_pair(q, key, v) < 0) {
            rc = -1;
            PyErr_NoMemory();
        }
        Py_XDECREF(key);
        Py_XDECREF(val);
        if (rc < 0) {
            return -1;
        }
    }
    return rc;
}

/* Set one key to a new reference (stolen), 0 / -1. */
static int wsgi_set_new(PyObject *d, PyObject *key, PyObject *value)
{
    int rv = value ? PyDict_SetItem(d, key, value) : -1;

    Py_XDECREF(value);
    return rv;
}

/* The per-request wsgi.* keys; ours win over anything Apache sent with
 * those names, except wsgi.url_scheme, which Apache may know better
 * (REQUEST_SCHEME).  The constant ones come from the template. */
static int wsgi_add_wsgi_keys(wsgi_req_t *q)
{
    PyObject *d = q->environ;
    const pyw_wsgi_cache_t *w = q->w;

    q->input = pyw_input_new(q->ip, q->c, q->content_length);
    if (q->input == NULL
        || PyDict_SetItem(d, w->k_input, q->input) < 0
        || wsgi_set_new(d, w->k_errors, pyw_errors_new(q->ip, q->uri)) < 0
        || (!q->has_scheme
            && PyDict_SetItem(d, w->k_url_scheme,
                              q->https ? w->v_https : w->v_http) < 0)) {
        return -1;
    }
    return 0;
}

/* Set a constant template entry and mark its key as not overridable. */
static int wsgi_template_set(pyw_wsgi_cache_t *w, PyObject *d,
                             const char *name, PyObject *value)
{
    wsgi_key_t *slot;
    PyObject *key = wsgi_key(w, name, strlen(name), &slot);
    int rv = key ? PyDict_SetItem(d, key, value) : -1;

    if (slot != NULL) {
        slot->fixed = 1;
    }
    Py_XDECREF(key);
    return rv;
}

/* The template, sized for a typical request (about 28 CGI variables and
 * headers plus the 9 wsgi.* keys): PyDict_Copy() clones its table, so
 * the copy never resizes while it is filled (a PyDict_New() environ was
 * resized four times, a quarter of the environ's cost: callgrind). */
static PyObject *wsgi_template_new(const pyw_interp_t *ip)
{
    pyw_wsgi_cache_t *w = ip->wsgi;
#if PY_VERSION_HEX < 0x030D0000
    PyObject *d = _PyDict_NewPresized(WSGI_ENVIRON_PRESIZE);
#else
    PyObject *d = PyDict_New();
#endif
    PyObject *mt = pyw_interp_threads() > 1 ? Py_True : Py_False;
    PyObject *mp = pyw_interp_processes() > 1 ? Py_True : Py_False;

    if (d == NULL
        || wsgi_template_set(w, d, "wsgi.version", w->v_version) < 0
        || wsgi_template_set(w, d, "wsgi.multithread", mt) < 0
        || wsgi_template_set(w, d, "wsgi.multiprocess", mp) < 0
        || wsgi_template_set(w, d, "wsgi.run_once", Py_False) < 0
        || wsgi_template_set(w, d, "wsgi.file_wrapper",
                             pyw_filewrapper_type(ip)) < 0
        || wsgi_template_set(w, d, "wsgi.input_terminated", Py_True) < 0) {
        Py_XDECREF(d);
        return NULL;
    }
    return d;
}

static PyObject *wsgi_environ_new(const pyw_interp_t *ip)
{
    pyw_wsgi_cache_t *w = ip->wsgi;

    if (w->template == NULL
        && (w->template = wsgi_template_new(ip)) == NULL) {
        return NULL;
    }
    return PyDict_Copy(w->template);
}

/* Build q->environ.  0, or -1 logged. */
static int wsgi_environ(wsgi_req_t *q, const unsigned char *env, size_t len)
{
    const char *err = NULL;

    q->content_length = -1;
    q->reloading = -1;
    if ((q->environ = wsgi_environ_new(q->ip)) == NULL
        || wsgi_copy_pairs(q, env, len, &err) < 0) {
        if (err != NULL) {
            pyw_dlog(PYW_LOG_ERR, WSGI_LOG_BAD_REQUEST, q->uri,
                     "malformed REQUEST environ: %s", err);
            return -1;
        }
        goto fail;
    }
    if (q->script == NULL) {
        pyw_dlog(PYW_LOG_ERR, WSGI_LOG_BAD_REQUEST, q->uri,
                 "REQUEST without SCRIPT_FILENAME");
        return -1;
    }
    if (wsgi_add_wsgi_keys(q) == 0) {
        return 0;
    }
fail:
    pyw_script_log_exception(PYW_LOG_ERR, WSGI_LOG_BAD_REQUEST, q->uri,
                             "cannot build the WSGI environ");
    return -1;
}

/* ---- the application call ---- */

/* The application failed (an exception is set): log it once with the
 * script and the stage, and make the request end with ERROR. */
static void wsgi_app_failed(wsgi_req_t *q, const char *stage)
{
    int level = PYW_LOG_ERR, code = WSGI_LOG_APP_EXCEPTION;
    const char *what = "raised an exception";

    q->failed = 1;
    q->fail_status = 500;
    q->fail_reason = "WSGI application error";
    if (q->resp.io_error) {
        /* Typically write() raising after the client went away. */
        level = PYW_LOG_INFO;
        code = WSGI_LOG_AFTER_LOST;
        what = "failed after the connection to Apache was lost";
    }
    else if (pyw_dconn_body_aborted(q->c)) {
        /* The cause is the client, whatever the app made of the OSError
         * that wsgi.input raised: not an application error. */
        level = PYW_LOG_INFO;
        code = WSGI_LOG_BODY_ABORTED;
        what = "failed because the client's request body could not be "
               "read (Apache logs why)";
        q->fail_status = 400;
        q->fail_reason = "request body aborted";
    }
    else if (q->resp.headers_sent) {
        code = WSGI_LOG_APP_ABORTED;
        what = "raised an exception after the response started; "
               "response aborted";
    }
    pyw_script_log_exception(level, code, q->uri, "WSGI application %s %s "
                             "(%s)", q->script, what, stage);
}

/* One item of the response iterable.  0, PYW_RESPONSE_EXC/STOP. */
static int wsgi_emit(wsgi_req_t *q, PyObject *item)
{
    if (!PyBytes_Check(item)) {
        PyErr_Format(PyExc_TypeError, "response iterable must yield bytes, "
                     "not %.100s", Py_TYPE(item)->tp_name);
        return PYW_RESPONSE_EXC;
    }
    if (PyBytes_GET_SIZE(item) == 0) {
        return 0;               /* PEP 3333: headers wait for real data */
    }
    if (q->resp.status == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "response body produced before "
                        "start_response() was called");
        return PYW_RESPONSE_EXC;
    }
    return pyw_response_send(&q->resp, item);
}

/* A list or tuple of several small bytes is already complete: one
 * joined chunk means one write instead of one per item.  New reference,
 * or NULL (no exception) when that does not apply. */
static PyObject *wsgi_join_small(PyObject *seq)
{
    Py_ssize_t i, n = PySequence_Fast_GET_SIZE(seq), total = 0;
    PyObject *joined;
    char *p;

    if (n < 2 || n > WSGI_JOIN_MAX_ITEMS) {
        return NULL;
    }
    for (i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);

        if (!PyBytes_Check(item)) {
            return NULL;        /* the item loop reports it */
        }
        total += PyBytes_GET_SIZE(item);
    }
    if (total > WSGI_JOIN_MAX_BYTES
        || (joined = PyBytes_FromStringAndSize(NULL, total)) == NULL) {
        PyErr_Clear();
        return NULL;
    }
    p = PyBytes_AS_STRING(joined);
    for (i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, i);

        memcpy(p, PyBytes_AS_STRING(item), (size_t)PyBytes_GET_SIZE(item));
        p += PyBytes_GET_SIZE(item);
    }
    return joined;
}

/* Send every item, each written before the next is asked for. */
static int wsgi_iterate(wsgi_req_t *q, PyObject *result)
{
    PyObject *it, *item;
    Py_ssize_t i;
    int rc = 0;

    if (PyList_CheckExact(result) || PyTuple_CheckExact(result)) {
        if ((item = wsgi_join_small(result)) != NULL) {
            rc = wsgi_emit(q, item);
            Py_DECREF(item);
            return rc;
        }
        /* No iterator object; the size is re-read since the GIL is
         * dropped while sending. */
        for (i = 0; rc == 0 && i < PySequence_Fast_GET_SIZE(result); i++) {
            item = PySequence_Fast_GET_ITEM(result, i);
            Py_INCREF(item);
            rc = wsgi_emit(q, item);
            Py_DECREF(item);
        }
        return rc;
    }
    if ((it = PyObject_GetIter(result)) == NULL) {
        return PYW_RESPONSE_EXC;
    }
    while (rc == 0 && (item = PyIter_Next(it)) != NULL) {
        rc = wsgi_emit(q, item);
        Py_DECREF(item);
    }
    if (rc == 0 && PyErr_Occurred()) {
        rc = PYW_RESPONSE_EXC;
    }
    Py_DECREF(it);
    return rc;
}

/* ---- wsgi.file_wrapper over a real file ---- */

/* o.name() as a long long (v may be NULL: result ignored).  0 called,
 * 1 o has no such attribute, -1 it raised or gave no int.  Leaves no
 * exception set. */
static int wsgi_call_ll(PyObject *o, const char *name, long long *v)
{
    PyObject *m, *r;
    int missing;

    if ((m = PyObject_GetAttrString(o, name)) == NULL) {
        missing = PyErr_ExceptionMatches(PyExc_AttributeError);
        PyErr_Clear();
        return missing ? 1 : -1;
    }
    r = PyObject_CallNoArgs(m);
    Py_DECREF(m);
    if (r != NULL && v != NULL) {
        *v = PyLong_Check(r) ? PyLong_AsLongLong(r) : -1;
        if (!PyLong_Check(r) || (*v == -1 && PyErr_Occurred())) {
            Py_CLEAR(r);
        }
    }
    if (r == NULL) {
        PyErr_Clear();
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

/*
 * Can the file-like object's bytes be sent from its descriptor?  NULL if
 * so, with *fd, *offset (where reading would go on: tell() knows about
 * Python's read-ahead buffer, the descriptor's offset does not) and
 * *avail (bytes from there to the end); else why not.  flush() first, so
 * bytes written through a buffered writer are in the file.
 */
static const char *wsgi_file_probe(const pyw_wsgi_cache_t *w, PyObject *fl,
                                   int *fd, long long *offset,
                                   long long *avail)
{
    struct stat st;
    long long v;
    int rc;

    if ((rc = PyObject_IsInstance(fl, w->t_text_io)) != 0) {
        PyErr_Clear();
        return "text file";
    }
    if (wsgi_call_ll(fl, "fileno", &v) != 0 || v < 0 || v > INT_MAX) {
        return "no usable fileno()";
    }
    *fd = (int)v;
    if (wsgi_call_ll(fl, "flush", NULL) < 0) {
        return "flush() raised";
    }
    if (fstat(*fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        return "not a regular file";
    }
    if ((rc = wsgi_call_ll(fl, "tell", &v)) == 1) {
        v = (long long)lseek(*fd, 0, SEEK_CUR);
    }
    if (rc < 0 || v < 0) {
        return "no usable position (tell())";
    }
    *offset = v;
    *avail = (long long)st.st_size > v ? (long long)st.st_size - v : 0;
    return NULL;
}

/* What a wsgi.file_wrapper body is, for its debug line: the file its
 * descriptor is open on (what is really sent), else the object's name,
 * else its type.  Never fails; leaves no exception set. */
static void wsgi_file_name(PyObject *fl, int fd, char *buf, size_t len)
{
    char link[64];
    PyObject *name;
    ssize_t n;

    if (fd >= 0) {
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        if ((n = readlink(link, buf, len - 1)) > 0) {
            buf[n] = '\0';
            return;
        }
    }
    if (fl == NULL) {
        snprintf(buf, len, "nothing");
        return;
    }
    name = PyObject_GetAttrString(fl, "name");
    if (name != NULL && PyUnicode_Check(name)
        && PyUnicode_AsUTF8(name) != NULL) {
        snprintf(buf, len, "%s", PyUnicode_AsUTF8(name));
    }
    else {
        snprintf(buf, len, "a %s object", Py_TYPE(fl)->tp_name);
    }
    Py_XDECREF(name);
    PyErr_Clear();
}

/* A FileWrapper over a regular file: its descriptor goes to Apache, which
 * sends the bytes itself (sendfile where it would for a static file).
 * 0, PYW_RESPONSE_EXC/STOP, or WSGI_STREAM: iterate it instead. */
static int wsgi_send_file(wsgi_req_t *q, PyObject *fw)
{
    PyObject *fl = pyw_filewrapper_filelike(fw);
    long long offset = 0, avail = 0, before = q->resp.sent;
    const char *why = "no file-like object";
    int fd = -1, rc = PYW_RESPONSE_DECLINED;
    char name[512] = "";

    Py_XINCREF(fl);             /* its methods run Python code */
    if (fl != NULL
        && (why = wsgi_file_probe(q->w, fl, &fd, &offset, &avail))
           == NULL) {
        rc = pyw_response_send_file(&q->resp, fd, offset, avail);
        why = "no start_response() yet, the file is shorter than the "
              "Content-Length still owed, or too many descriptors in "
              "flight";
    }
    if ((rc == 0 || rc == PYW_RESPONSE_DECLINED)
        && pyw_dlog_enabled(PYW_LOG_DEBUG)) {
        wsgi_file_name(fl, fd, name, sizeof(name));
    }
    Py_XDECREF(fl);
    if (rc == 0) {
        pyw_dlog(PYW_LOG_DEBUG, WSGI_LOG_FILE_SENT, q->uri, "body %s "
                 "passed to Apache as a file: offset %lld, %lld of %lld "
                 "bytes", name, offset, q->resp.sent - before, avail);
    }
    if (rc != PYW_RESPONSE_DECLINED) {
        return rc;
    }
    pyw_dlog(PYW_LOG_DEBUG, WSGI_LOG_FILE_STREAMED, q->uri,
             "wsgi.file_wrapper body %s streamed: %s", name, why);
    return WSGI_STREAM;
}

/* PEP 3333: close() is called whatever happened, once.  A failing close()
 * fails the request only while nothing was sent yet. */
static void wsgi_close(wsgi_req_t *q, PyObject *result)
{
    PyObject *close, *r;

    if (PyList_CheckExact(result) || PyTuple_CheckExact(result)
        || PyBytes_CheckExact(result)) {
        return;
    }
    if ((close = PyObject_GetAttr(result, q->w->k_close)) == NULL) {
        /* No close(): nothing to call.  (A property that raises something
         * else is treated the same way: there is no close to run.) */
        PyErr_Clear();
        return;
    }
    r = PyObject_CallNoArgs(close);
    Py_DECREF(close);
    if (r != NULL) {
        Py_DECREF(r);
        return;
    }
    if (!q->failed && !q->resp.headers_sent && !q->resp.io_error) {
        q->failed = 1;
        q->fail_status = 500;
        q->fail_reason = "WSGI application error";
    }
    pyw_script_log_exception(q->resp.io_error ? PYW_LOG_INFO : PYW_LOG_ERR,
                             WSGI_LOG_CLOSE_FAILED, q->uri,
                             "close() of the response of WSGI application "
                             "%s raised an exception", q->script);
}

/* Call the application, send its response, close it.  Failures set
 * q->failed (logged); no exception is left set. */
static void wsgi_call(wsgi_req_t *q, PyObject *app)
{
    PyObject *result;
    int rc;

    q->start_response = pyw_response_start_response(q->ip, &q->resp);
    if (q->start_response == NULL) {
        wsgi_app_failed(q, "creating start_response");
        return;
    }
    result = PyObject_CallFunctionObjArgs(app, q->environ, q->start_response,
                                          NULL);
    if (result == NULL) {
        wsgi_app_failed(q, "calling the application");
        return;
    }
    rc = pyw_filewrapper_check(q->ip, result) ? wsgi_send_file(q, result)
                                              : WSGI_STREAM;
    if (rc == WSGI_STREAM) {
        rc = wsgi_iterate(q, result);
    }
    if (rc == PYW_RESPONSE_EXC) {
        wsgi_app_failed(q, "producing the response");
    }
    else if (rc == PYW_RESPONSE_STOP) {
        q->failed = 1;          /* logged by pyw_response */
        q->fail_status = 500;
        q->fail_reason = "response longer than its Content-Length";
    }
    wsgi_close(q, result);
    Py_DECREF(result);
    if (!q->failed && q->resp.status == NULL) {
        pyw_dlog(PYW_LOG_ERR, WSGI_LOG_NO_START, q->uri,
                 "WSGI application %s returned without calling "
                 "start_response()", q->script);
        q->failed = 1;
        q->fail_status = 500;
        q->fail_reason = "start_response() not called";
    }
}

/* PyWorkerCallableObject as Apache sent it (borrowed: the environ holds
 * it for the whole request), or NULL for the default. */
static PyObject *wsgi_callable_name(wsgi_req_t *q)
{
    PyObject *name = PyDict_GetItemWithError(q->environ, q->w->k_callable);

    if (name == NULL) {
        PyErr_Clear();
    }
    return name;
}

/* The application of the request: a PasteDeploy one when Apache named it
 * (PyWorkerPasteApp), else the script's callable.  New reference, or NULL
 * with the failure logged. */
static PyObject *wsgi_application(wsgi_req_t *q)
{
    PyObject *paste = PyDict_GetItemWithError(q->environ,
                                              q->w->k_paste_app);

    if (paste != NULL) {
        return pyw_paste_application(q->script, paste, q->uri, q->reloading);
    }
    PyErr_Clear();
    return pyw_script_application(q->ip, q->script, q->uri, q->reloading,
                                  wsgi_callable_name(q));
}

/* The whole request with the GIL held.  0 clean, -1 close. */
static int wsgi_request(wsgi_req_t *q, const unsigned char *env, size_t len)
{
    PyObject *app;

    pyw_response_init(&q->resp, q->c, NULL, "?", 0);
    if (wsgi_environ(q, env, len) < 0) {
        pyw_dlog_set_request(q->uri);
        q->resp.uri = q->uri;
        return pyw_response_fail(&q->resp, 500, "bad request environ");
    }
    /* print(), sys.stderr and the like on this thread name it too. */
    pyw_dlog_set_request(q->uri);
    pyw_response_init(&q->resp, q->c, q->uri, q->script, q->head);
    if ((app = wsgi_application(q)) == NULL) {
        return pyw_response_fail(&q->resp, 500, "WSGI application failed to "
                                 "load");
    }
    wsgi_call(q, app);
    Py_DECREF(app);
    if (q->resp.io_error) {
        return -1;
    }
    if (q->failed) {
        return pyw_response_fail(&q->resp, q->fail_status, q->fail_reason);
    }
    return pyw_response_finish(&q->resp);
}

/*
 * The value of the REQUEST pair `key` (empty when there is none).  For
 * the application group (""/absent: the main interpreter) Apache sends
 * it third, so this normally reads three pair headers and compares one
 * name; another order is still valid and found by reading on.
 */
static pyw_slice_t wsgi_pair(const unsigned char *env, size_t len,
                             const char *key, size_t key_len)
{
    pyw_pair_iter_t it;
    pyw_slice_t n, v = { "", 0 };
    const char *err;

    pyw_pair_iter_init(&it, env, len);
    while (pyw_pair_next(&it, &n, &v, &err) == 1) {
        if (n.len == key_len && memcmp(n.data, key, key_len) == 0) {
            return v;
        }
    }
    v.data = "";
    v.len = 0;
    return v;
}

/* A named group's interpreter with t's state in it, GIL held; NULL
 * (logged, GIL not held) when there is none to be had. */
static pyw_interp_t *wsgi_enter_group(pyw_app_thread_t *t, pyw_slice_t group,
                                      const unsigned char *env, size_t len)
{
    pyw_slice_t u = wsgi_pair(env, len, "REQUEST_URI", 11);
    const char *q = memchr(u.data, '?', u.len);
    char uri[256];
    size_t n = q ? (size_t)(q - u.data) : u.len;

    n = n < sizeof(uri) - 1 ? n : sizeof(uri) - 1;
    memcpy(uri, u.data, n);
    uri[n] = '\0';
    return pyw_subinterp_enter(t, group.data, group.len, n ? uri : NULL);
}

int pyw_wsgi_handle(pyw_app_thread_t *t, pyw_dconn_t *c,
                    const unsigned char *environ, size_t len)
{
    pyw_slice_t group = wsgi_pair(environ, len, PYW_ENV_APP_GROUP,
                                  sizeof(PYW_ENV_APP_GROUP) - 1);
    wsgi_req_t q;
    int rv;

    memset(&q, 0, sizeof(q));
    q.c = c;
    if (group.len == 0) {
        q.ip = &pyw_interp_main;
        PyEval_RestoreThread(t->ts[0]);
    }
    else if ((q.ip = wsgi_enter_group(t, group, environ, len)) == NULL) {
        return pyw_dconn_send_error(c, 500, "application group "
                                    "unavailable") < 0 ? -1 : 0;
    }
    q.w = q.ip->wsgi;
    rv = wsgi_request(&q, environ, len);
    /* The app may keep environ, wsgi.input or start_response: cut them
     * off from this connection before it serves another request. */
    if (q.input != NULL) {
        pyw_input_detach(q.ip, q.input);
    }
    if (q.start_response != NULL) {
        pyw_response_detach(q.start_response);
    }
    Py_CLEAR(q.start_response);
    Py_CLEAR(q.input);
    Py_CLEAR(q.environ);
    pyw_response_clear(&q.resp);
    PyErr_Clear();
    pyw_dlog_set_request(NULL);
    PyEval_SaveThread();
    free(q.script);
    free(q.uri);
    return rv;
}

/*
 * pyw_wsgi_environ.c - the environ dict of one WSGI request: a copy of
 * the interpreter's template (the constant wsgi.* entries, which
 * Apache's pairs cannot override), the REQUEST pairs, and the
 * per-request wsgi.* objects; and pyw_wsgi_init(), which makes the
 * interpreter's caches.
 *
 * Allocation: environ keys are interned str objects made once per
 * interpreter and cached by name (KEY_*); each cached key also keeps its
 * last value, reused while the bytes repeat.  So a request allocates
 * only the (presized) dict, the values that changed and its few
 * per-request objects.  The caches are the interpreter's own
 * (pyw_wsgi_cache_t in its pyw_interp_t), protected by its GIL.
 */
#include "pyw_python.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../daemon/pyw_dlog.h"
#include "pyw_errors.h"
#include "pyw_filewrapper.h"
#include "pyw_input.h"
#include "pyw_script.h"
#include "pyw_wsgi_int.h"

/* Log codes of this file (README.md lists them all). */
#define WSGI_LOG_BAD_REQUEST    328  /* REQUEST unusable / no objects   */

/* Names come from clients (HTTP_*), so the key cache is capped and long
 * names are not cached. */
#define KEY_MAX       512               /* cached names at most         */
#define KEY_MAX_LEN   128
/* A cached key remembers its last value up to this length: most CGI
 * variables and headers repeat from one request to the next. */
#define VALUE_MAX_LEN 256

/* Entries an environ is created for (grows past it as usual). */
#define WSGI_ENVIRON_PRESIZE  40

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
/* io.FileIO, and the buffered types that may wrap one. */
static int wsgi_io_types(pyw_wsgi_cache_t *w)
{
    PyObject *io = PyImport_ImportModule("io");

    if (io == NULL) {
        return -1;
    }
    w->t_file_io = PyObject_GetAttrString(io, "FileIO");
    w->t_buffered = Py_BuildValue("(NN)",
                                  PyObject_GetAttrString(io, "BufferedReader"),
                                  PyObject_GetAttrString(io, "BufferedRandom"));
    Py_DECREF(io);
    return w->t_file_io != NULL && w->t_buffered != NULL ? 0 : -1;
}

int pyw_wsgi_init(pyw_interp_t *ip)
{
    pyw_wsgi_cache_t *w;
    int i;

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
    w->k_subrequest_uri = wsgi_key_str(w, PYW_ENV_SUBREQUEST_URI);
    if ((w->log_fields = pyw_dlog_request_fields())) {
        w->k_remote_addr = wsgi_key_str(w, "REMOTE_ADDR");
        w->k_remote_port = wsgi_key_str(w, "REMOTE_PORT");
        w->k_log_id = wsgi_key_str(w, "mod_pyworker.log_id");
        w->log_var_count = pyw_dlog_request_var_count();
        for (i = 0; i < w->log_var_count; i++) {
            w->k_log_vars[i] = wsgi_key_str(w, pyw_dlog_request_var_key(i));
        }
    }
    w->k_close = PyUnicode_InternFromString("close");
    w->v_version = Py_BuildValue("(ii)", 1, 0);
    w->v_http = PyUnicode_InternFromString("http");
    w->v_https = PyUnicode_InternFromString("https");
    if (wsgi_io_types(w) < 0) {
        return -1;
    }
    return PyErr_Occurred() ? -1 : 0;
}

/* v into a small buffer of q, cut to fit, NUL-ended. */
static void wsgi_copy_short(char *dst, size_t cap, pyw_slice_t v)
{
    size_t n = v.len < cap - 1 ? v.len : cap - 1;

    memcpy(dst, v.data, n);
    dst[n] = '\0';
}

/* What the group's ErrorLogFormat shows of a request: its client,
 * Apache's log id for it, and the environ values of %e, %i and %V. */
static void wsgi_note_log_field(wsgi_req_t *q, PyObject *key, pyw_slice_t v)
{
    const pyw_wsgi_cache_t *w = q->w;
    int i;

    for (i = 0; i < w->log_var_count; i++) {
        if (key == w->k_log_vars[i]) {
            wsgi_copy_short(q->log.vars[i], sizeof(q->log.vars[i]), v);
            q->log.var_values[i] = q->log.vars[i];
            return;
        }
    }
    if (key == w->k_remote_addr) {
        wsgi_copy_short(q->log.remote_addr, sizeof(q->log.remote_addr), v);
    }
    else if (key == w->k_remote_port) {
        wsgi_copy_short(q->log.remote_port, sizeof(q->log.remote_port), v);
    }
    else if (key == w->k_log_id) {
        wsgi_copy_short(q->log.log_id, sizeof(q->log.log_id), v);
    }
}

/* CONTENT_LENGTH: digits only, else -1 (Apache validated it already). */
/* Remember what the adapter itself needs from one pair.  Compared by
 * identity: the cache hands out the same key objects every time. */
static int wsgi_note_pair(wsgi_req_t *q, PyObject *key, pyw_slice_t v)
{
    const pyw_wsgi_cache_t *w = q->w;

    if (key == w->k_script_filename) {
        free(q->script);
        return (q->script = strndup(v.data, v.len)) ? 0 : -1;
    }
    if (key == w->k_request_uri || key == w->k_subrequest_uri) {
        /* A subrequest's own URI comes after REQUEST_URI: it wins.  As
         * sent, query included, as every log line names a request. */
        free(q->uri);
        q->uri = strndup(v.data, v.len);
        return q->uri ? 0 : -1;
    }
    if (key == w->k_content_length) {
        q->content_length = pyw_decimal(v.data, v.len);
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
    else if (w->log_fields) {
        wsgi_note_log_field(q, key, v);
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

/* The per-request wsgi.* keys; ours win over anything Apache sent with
 * those names, except wsgi.url_scheme, which Apache may know better
 * (REQUEST_SCHEME).  The constant ones come from the template. */
static int wsgi_add_wsgi_keys(wsgi_req_t *q)
{
    PyObject *d = q->environ;
    const pyw_wsgi_cache_t *w = q->w;

    q->input = pyw_input_new(q->ip, q->c, q->content_length);
    q->errors = pyw_errors_new(q->ip, q->uri);
    if (q->input == NULL || q->errors == NULL
        || PyDict_SetItem(d, w->k_input, q->input) < 0
        || PyDict_SetItem(d, w->k_errors, q->errors) < 0
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
int pyw_wsgi_environ(wsgi_req_t *q, const unsigned char *env, size_t len)
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

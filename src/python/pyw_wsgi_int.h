/*
 * pyw_wsgi_int.h - private to the WSGI request files (pyw_wsgi*.c): the
 * request being run, the interpreter's environ caches, and what the
 * pieces call of each other.
 *
 * GIL: every function here runs with the request's interpreter's GIL.
 */
#ifndef PYW_WSGI_INT_H
#define PYW_WSGI_INT_H

#include "pyw_python.h"

#include <stdint.h>

#include "../common/pyw_logformat.h"
#include "pyw_interp_private.h"
#include "pyw_response.h"

/* pyw_wsgi_send_file(): not a file Apache can send; iterate instead. */
#define WSGI_STREAM  1

/* An environ value a log line shows (%e %i %V) is cut to this. */
#define WSGI_LOG_VAR_MAX  128

/* Environ key cache: open addressing, never evicted. */
#define KEY_SLOTS     1024              /* power of two                 */

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
               *k_paste_app, *k_subrequest_uri;
    int         log_fields;             /* pyw_dlog_request_fields()    */
    PyObject   *k_remote_addr, *k_remote_port, *k_log_id; /* if so     */
    PyObject   *k_log_vars[PYW_LOGFORMAT_MAX_VARS];   /* %e %i %V keys */
    int         log_var_count;
    PyObject   *v_version, *v_http, *v_https;
    PyObject   *t_file_io;              /* io.FileIO                    */
    PyObject   *t_buffered;             /* (BufferedReader, ...Random)  */
};

typedef struct {
    pyw_response_t resp;
    pyw_interp_t  *ip;              /* the interpreter it runs in       */
    pyw_wsgi_cache_t *w;            /* ip->wsgi                         */
    pyw_dconn_t   *c;
    PyObject      *environ;
    PyObject      *input;
    PyObject      *errors;          /* its wsgi.errors, even if replaced */
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
    /* Last: what log lines show of it (%a, %L), when the format asks
     * (pyw_dlog_request_fields); "" when not sent.  Not cleared with
     * the rest, each request clears the first bytes. */
    struct {
        char       remote_addr[48]; /* REMOTE_ADDR                      */
        char       remote_port[8];  /* REMOTE_PORT                      */
        char       client[56];      /* "addr:port", made from the two   */
        char       log_id[40];      /* mod_pyworker.log_id              */
        char       vars[PYW_LOGFORMAT_MAX_VARS][WSGI_LOG_VAR_MAX];
        const char *var_values[PYW_LOGFORMAT_MAX_VARS]; /* NULL: absent */
    } log;
} wsgi_req_t;

/* Build q->environ from the REQUEST pairs (pyw_wsgi_environ.c).  0, or
 * -1 logged. */
int pyw_wsgi_environ(wsgi_req_t *q, const unsigned char *env, size_t len);

/* Call the application, send its response, close it
 * (pyw_wsgi_call.c).  Failures set q->failed (logged); no exception is
 * left set. */
void pyw_wsgi_call(wsgi_req_t *q, PyObject *app);

/* Send a wsgi.file_wrapper body as its descriptor (pyw_wsgi_file.c).
 * 0, PYW_RESPONSE_EXC/STOP, or WSGI_STREAM: iterate it instead. */
int pyw_wsgi_send_file(wsgi_req_t *q, PyObject *fw);

#endif /* PYW_WSGI_INT_H */

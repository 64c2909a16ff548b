/*
 * pyw_wsgi.c - run one WSGI request (PEP 3333) on a worker thread:
 * enter its interpreter, find its application, run it, and decide
 * between END and ERROR.
 *
 * Interpreter: the request's application group (the third REQUEST pair)
 * picks it before the GIL is taken: "" is the main interpreter (one
 * length check), any other name goes through pyw_subinterp_enter().
 *
 * GIL: taken once on entry (the thread's own PyThreadState in that
 * interpreter), released on return; in between it is dropped only
 * around socket I/O (pyw_dconn_* calls in pyw_response.c and
 * pyw_input_body.c).
 *
 * The pieces, sharing pyw_wsgi_int.h: pyw_wsgi_environ.c (the environ
 * and the interpreter's caches), pyw_wsgi_call.c (the application call,
 * iteration, close()), pyw_wsgi_file.c (a file_wrapper body as a
 * descriptor).  This file: the interpreter, the application, and the
 * one place that decides between END and ERROR.
 */
#include "pyw_python.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "../daemon/pyw_dlog.h"
#include "pyw_errors.h"
#include "pyw_input.h"
#include "pyw_paste.h"
#include "pyw_script.h"
#include "pyw_wsgi.h"
#include "pyw_wsgi_int.h"

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

static const char *wsgi_or_null(const char *s)
{
    return s[0] != '\0' ? s : NULL;
}

/* Lines logged on this thread from now on are about q: print(),
 * sys.stderr and the like name its URI, client ("addr:port", as
 * Apache's %a) and log id too. */
static void wsgi_log_about(wsgi_req_t *q)
{
    size_t a, p;

    if (!q->w->log_fields) {
        pyw_dlog_set_request(q->uri, NULL, NULL, NULL);
        return;
    }
    a = strlen(q->log.remote_addr);
    p = strlen(q->log.remote_port);
    if (a > 0) {
        memcpy(q->log.client, q->log.remote_addr, a);
        q->log.client[a] = ':';
        memcpy(q->log.client + a + 1, q->log.remote_port, p + 1);
    }
    pyw_dlog_set_request(q->uri, wsgi_or_null(q->log.client),
                         wsgi_or_null(q->log.log_id), q->log.var_values);
}

/* The whole request with the GIL held.  0 clean, -1 close. */
static int wsgi_request(wsgi_req_t *q, const unsigned char *env, size_t len)
{
    PyObject *app;

    pyw_response_init(&q->resp, q->c, NULL, "?", 0);
    if (pyw_wsgi_environ(q, env, len) < 0) {
        wsgi_log_about(q);
        q->resp.uri = q->uri;
        return pyw_response_fail(&q->resp, 500, "bad request environ");
    }
    wsgi_log_about(q);
    pyw_response_init(&q->resp, q->c, q->uri, q->script, q->head);
    if ((app = wsgi_application(q)) == NULL) {
        return pyw_response_fail(&q->resp, 500, "WSGI application failed to "
                                 "load");
    }
    pyw_wsgi_call(q, app);
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

    memset(&q, 0, offsetof(wsgi_req_t, log));
    q.log.remote_addr[0] = q.log.remote_port[0] = '\0';
    q.log.client[0] = q.log.log_id[0] = '\0';
    memset(q.log.var_values, 0, sizeof(q.log.var_values));
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
    pyw_errors_request_done(q.ip, q.errors);
    Py_CLEAR(q.start_response);
    Py_CLEAR(q.input);
    Py_CLEAR(q.errors);
    Py_CLEAR(q.environ);
    pyw_response_clear(&q.resp);
    PyErr_Clear();
    pyw_dlog_set_request(NULL, NULL, NULL, NULL);
    PyEval_SaveThread();
    free(q.script);
    free(q.uri);
    return rv;
}

/*
 * pyw_wsgi_call.c - the application call of one WSGI request: call it,
 * send what it returns (a file_wrapper as a file, else iterated with a
 * flush per chunk), close() it always, and turn every failure into one
 * log line and the status the request ends with.
 */
#include "pyw_python.h"

#include <string.h>

#include "../daemon/pyw_dlog.h"
#include "pyw_filewrapper.h"
#include "pyw_script.h"
#include "pyw_wsgi_int.h"

/* Log codes of this file (README.md lists them all). */
#define WSGI_LOG_APP_EXCEPTION  320  /* exception before headers: 500   */
#define WSGI_LOG_APP_ABORTED    321  /* exception after headers: abort  */
#define WSGI_LOG_NO_START       322  /* start_response never called     */
#define WSGI_LOG_CLOSE_FAILED   325  /* close() of the iterable raised  */
#define WSGI_LOG_BODY_ABORTED   329  /* info: body aborted, app failed  */
#define WSGI_LOG_AFTER_LOST     330  /* info: exception after conn lost */

/* Lists/tuples up to this size are sent as one joined chunk. */
#define WSGI_JOIN_MAX_ITEMS   64
#define WSGI_JOIN_MAX_BYTES   (64 * 1024)

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

/* One item of the response iterable; `known`: of a list or tuple, and
 * `last` its last item.  0, PYW_RESPONSE_EXC/STOP. */
static int wsgi_emit(wsgi_req_t *q, PyObject *item, int known, int last)
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
    return known ? pyw_response_send_known(&q->resp, item, last)
                 : pyw_response_send(&q->resp, item);
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
            rc = wsgi_emit(q, item, 1, 1);
            Py_DECREF(item);
            return rc;
        }
        /* No iterator object; the size is re-read since the GIL is
         * dropped while sending. */
        for (i = 0; rc == 0 && i < PySequence_Fast_GET_SIZE(result); i++) {
            item = PySequence_Fast_GET_ITEM(result, i);
            Py_INCREF(item);
            rc = wsgi_emit(q, item, 1,
                           i == PySequence_Fast_GET_SIZE(result) - 1);
            Py_DECREF(item);
        }
        return rc;
    }
    if ((it = PyObject_GetIter(result)) == NULL) {
        return PYW_RESPONSE_EXC;
    }
    while (rc == 0 && (item = PyIter_Next(it)) != NULL) {
        rc = wsgi_emit(q, item, 0, 0);
        Py_DECREF(item);
    }
    if (rc == 0 && PyErr_Occurred()) {
        rc = PYW_RESPONSE_EXC;
    }
    Py_DECREF(it);
    return rc;
}

/* PEP 3333: close() is called whatever happened, once.  A failing close()
 * is logged and changes nothing: the response is whatever the iteration
 * made (a 500 only for a body Content-Length held back unsent, as
 * before, gave a different answer than one already sent). */
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
    pyw_script_log_exception(q->resp.io_error ? PYW_LOG_INFO : PYW_LOG_ERR,
                             WSGI_LOG_CLOSE_FAILED, q->uri,
                             "close() of the response of WSGI application "
                             "%s raised an exception", q->script);
}

/* Call the application, send its response, close it.  Failures set
 * q->failed (logged); no exception is left set. */
void pyw_wsgi_call(wsgi_req_t *q, PyObject *app)
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
    rc = pyw_filewrapper_check(q->ip, result)
         ? pyw_wsgi_send_file(q, result) : WSGI_STREAM;
    if (rc == WSGI_STREAM && pyw_filewrapper_check(q->ip, result)
        && q->resp.status != NULL && q->resp.content_length >= 0) {
        pyw_filewrapper_limit(result, q->resp.content_length > q->resp.sent
                                      ? q->resp.content_length - q->resp.sent
                                      : 0);
    }
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

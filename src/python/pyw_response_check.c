/*
 * pyw_response_check.c - validation of what start_response is given
 * (PEP 3333, RFC 9110): the status line and the header list, with the
 * Content-Length they declare.
 *
 * Errors are raised as Python exceptions from inside start_response, so
 * the traceback points at the application line that produced them.
 */
#include "pyw_python.h"

#include <string.h>
#include <strings.h>

#include "../common/pyw_proto.h"
#include "pyw_response.h"
#include "pyw_response_int.h"

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

/* "NNN reason": a str, latin-1, 3 digits (200-599: an informational 1xx
 * cannot be the response), a space, a reason without control
 * characters.  The code, or -1 with ValueError/TypeError. */
int pyw_response_check_status(PyObject *status)
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
    if (s[0] == '1') {
        PyErr_Format(PyExc_ValueError, "start_response: status %R is "
                     "informational (1xx): the response needs 200-599",
                     status);
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

static int64_t response_header_limit;   /* 0: none of our own */

void pyw_response_set_header_limit(int64_t bytes)
{
    response_header_limit = bytes > 0 ? bytes : 0;
}

/* RFC 9110 field-value: no control character but HTAB.  A table: one
 * load per byte of every header value of every response. */
#define CTL8(a) 1, 1, 1, 1, 1, 1, 1, 1
static const unsigned char response_ctl[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1,     /* 0x00: not \t */
    CTL8(0), CTL8(0),                                   /* 0x10-0x1f     */
    [0x7f] = 1,
};
#undef CTL8

/* One (name, value) item.  Updates *cl for Content-Length.  0, 1 for a
 * repeat of the same Content-Length (to drop: sent twice it breaks
 * HTTP/2 clients), or -1 with an exception. */
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
    if (pyw_hop_by_hop((const char *)n, (size_t)nlen)) {
        PyErr_Format(PyExc_ValueError, "start_response: hop-by-hop header "
                     "%R is not allowed (PEP 3333)", name);
        return -1;
    }
    v = response_latin1(value, &vlen);
    for (i = 0; v != NULL && i < vlen && !response_ctl[v[i]]; i++) {
    }
    if (v == NULL || i < vlen) {
        PyErr_Format(PyExc_ValueError, "start_response: value of header %R "
                     "is not latin-1 or contains a control character: %R",
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
        long long len = pyw_decimal(v, (size_t)vlen);

        if (len < 0 || (*cl >= 0 && *cl != len)) {
            PyErr_Format(PyExc_ValueError, "start_response: invalid or "
                         "conflicting Content-Length %R", value);
            return -1;
        }
        if (*cl >= 0) {
            return 1;
        }
        *cl = len;
    }
    return 0;
}

/* A validated private copy of the header list, or NULL. */
PyObject *pyw_response_check_headers(PyObject *headers, long long *cl)
{
    Py_ssize_t i;

    if (!PyList_Check(headers)) {
        PyErr_Format(PyExc_TypeError, "start_response: headers must be a "
                     "list, not %.100s", Py_TYPE(headers)->tp_name);
        return NULL;
    }
    if (PyList_GET_SIZE(headers) > PYW_MAX_RESPONSE_HEADERS) {
        PyErr_Format(PyExc_ValueError, "start_response: %zd headers, more "
                     "than %d", PyList_GET_SIZE(headers),
                     PYW_MAX_RESPONSE_HEADERS);
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
        int rc = response_check_header(PyList_GET_ITEM(headers, i), cl);

        if (rc < 0 || (rc == 1 && PyList_SetSlice(headers, i, i + 1,
                                                  NULL) < 0)) {
            Py_DECREF(headers);
            return NULL;
        }
        i -= rc;                        /* the next one moved here */
    }
    return headers;
}

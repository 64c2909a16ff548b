/*
 * pyw_wsgi_file.c - a wsgi.file_wrapper body over a regular file: its
 * descriptor goes to Apache, which sends the bytes itself (sendfile where
 * it would for a static file); anything else is streamed, with a debug
 * line saying why.
 */
#include "pyw_python.h"

#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../daemon/pyw_dlog.h"
#include "pyw_filewrapper.h"
#include "pyw_wsgi_int.h"

/* Log codes of this file (README.md lists them all). */
#define WSGI_LOG_FILE_SENT      346  /* debug: file_wrapper body as a fd */
#define WSGI_LOG_FILE_STREAMED  347  /* debug: file_wrapper streamed: why */

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

/* 1 if what fl reads is its descriptor's bytes: an io.FileIO (open(p,
 * "rb", buffering=0), ZODB's blob files, ZPublisher's filestream
 * iterator), or a buffered reader over one (open(p, "rb")).  Not a text
 * file, nor gzip/bz2/lzma files, whose fileno() is the compressed file. */
static int wsgi_file_is_raw(const pyw_wsgi_cache_t *w, PyObject *fl)
{
    PyObject *raw;
    int yes = PyObject_IsInstance(fl, w->t_file_io);

    if (yes == 0 && PyObject_IsInstance(fl, w->t_buffered) == 1
        && (raw = PyObject_GetAttrString(fl, "raw")) != NULL) {
        yes = PyObject_IsInstance(raw, w->t_file_io);
        Py_DECREF(raw);
    }
    PyErr_Clear();
    return yes == 1;
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

    if (!wsgi_file_is_raw(w, fl)) {
        return "not an io.FileIO or a buffered reader over one (a text "
               "file, a compressed file...): its reads are not its "
               "descriptor's bytes";
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
    if (st.st_size == 0) {
        return "its size is 0 (a /proc or /sys file reads more)";
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
int pyw_wsgi_send_file(wsgi_req_t *q, PyObject *fw)
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

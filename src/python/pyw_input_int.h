/*
 * pyw_input_int.h - private to the wsgi.input files (pyw_input*.c): the
 * object, its invariants, and what the pieces call of each other.
 *
 * Invariants:
 *   - Every method runs with the GIL held; the GIL is released only
 *     around pyw_dconn_read_body() and the keeping of what it returned,
 *     and around reads of a kept file, and only while 'busy' is set, so
 *     no other thread can touch the object meanwhile.
 *   - buf[pos, end) holds body bytes [off, off + end - pos): 'off' is the
 *     app's position (tell()).
 *   - got bytes came from Apache; kept.size == got unless keeping failed
 *     (kept.err), and then [kept.size, got) cannot be read again.
 *   - Once 'eof' is set Apache is never asked again: after the body ended
 *     (dconn returned 0), or once content_length bytes came.
 *   - With a known content_length, Apache is never asked for more than
 *     the bytes still due.
 *   - After pyw_input_detach() 'conn' is NULL, the kept bytes are gone
 *     (file closed), and every method except close() raises OSError.
 */
#ifndef PYW_INPUT_INT_H
#define PYW_INPUT_INT_H

#include "pyw_python.h"
#include "../common/pyw_rewind.h"
#include "../daemon/pyw_dconn.h"

#define PYW_INPUT_MAX_PULL  (1024 * 1024) /* per pyw_dconn_read_body call */

typedef struct {
    PyObject_HEAD
    pyw_dconn_t *conn;      /* NULL once detached */
    long long    remaining; /* bytes still due from Apache; -1 unknown */
    int          eof;       /* never ask Apache again */
    int          busy;      /* a method of this object is running */
    int          detaching; /* pyw_input_detach() is waiting for 'busy' */
    long         err;       /* sticky -errno of a failed read, else 0 */
    long long    got;       /* body bytes pulled from Apache */
    long long    off;       /* the app's position: body offset of buf[pos] */
    pyw_rewind_t kept;      /* body bytes [0, kept.size), for seek() */
    char        *buf;       /* read-ahead: [pos, end) unread */
    Py_ssize_t   cap;
    Py_ssize_t   pos;
    Py_ssize_t   end;
} pyw_input_t;

/* Where the bytes come from (pyw_input_body.c). */
void pyw_input_raise(long err, const char *text);
Py_ssize_t pyw_input_pull(pyw_input_t *self, char *dst, Py_ssize_t len);
Py_ssize_t pyw_input_fetch(pyw_input_t *self, long long at, char *dst,
                           Py_ssize_t len);

/* The method guard and the read-ahead buffer (pyw_input_read.c). */
int pyw_input_enter(pyw_input_t *self);
void pyw_input_leave(pyw_input_t *self);
int pyw_input_buf_reserve(pyw_input_t *self, Py_ssize_t room);

/* The methods of the type (pyw_input_read.c, pyw_input_seek.c). */
PyObject *pyw_input_read(pyw_input_t *self, PyObject *args);
PyObject *pyw_input_readline(pyw_input_t *self, PyObject *args);
PyObject *pyw_input_readlines(pyw_input_t *self, PyObject *args);
PyObject *pyw_input_next(pyw_input_t *self);
PyObject *pyw_input_seek(pyw_input_t *self, PyObject *args);

#endif /* PYW_INPUT_INT_H */

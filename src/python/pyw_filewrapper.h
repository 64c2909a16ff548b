/*
 * pyw_filewrapper.h - environ['wsgi.file_wrapper'] (PEP 3333 optional
 * platform-specific file handling): wraps a file-like object and a block
 * size into an iterable the adapter iterates like any other result.
 *
 * GIL: every function here is called with the GIL held.
 */
#ifndef PYW_FILEWRAPPER_H
#define PYW_FILEWRAPPER_H

#include "pyw_python.h"

typedef struct pyw_interp pyw_interp_t;

/* Make ip's type; once per interpreter.  0 / -1 (exception set). */
int pyw_filewrapper_init_type(pyw_interp_t *ip);

/* Borrowed reference: the callable stored as environ['wsgi.file_wrapper']
 * in interpreter ip (called as file_wrapper(filelike, block_size=8192)). */
PyObject *pyw_filewrapper_type(const pyw_interp_t *ip);

/* Added by the I/O unit, so the adapter can send a real file by other
 * means.  pyw_filewrapper_check: 1 if o is ip's FileWrapper (exact
 * type).  The other two need a FileWrapper; filelike is a borrowed
 * reference (NULL only after the cycle collector cleared the object). */
int pyw_filewrapper_check(const pyw_interp_t *ip, PyObject *o);
PyObject *pyw_filewrapper_filelike(PyObject *fw);
Py_ssize_t pyw_filewrapper_blksize(PyObject *fw);

/* Iterate no more than bytes of the file (-1: all of it): a streamed
 * file_wrapper body stops at the Content-Length still owed, as one sent
 * from its descriptor does (PEP 3333). */
void pyw_filewrapper_limit(PyObject *fw, long long bytes);

#endif /* PYW_FILEWRAPPER_H */

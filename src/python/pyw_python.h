/*
 * pyw_python.h - the one way src/python/ includes Python.h.
 *
 * Python.h must come before any system header (it sets feature macros),
 * and PY_SSIZE_T_CLEAN must be defined before it so "#" formats take
 * Py_ssize_t.  Every .c file under src/python/ includes this first.
 */
#ifndef PYW_PYTHON_H
#define PYW_PYTHON_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#if PY_VERSION_HEX < 0x03080000
#error "mod_pyworker needs Python 3.8 or later (PyConfig)"
#endif

#endif /* PYW_PYTHON_H */

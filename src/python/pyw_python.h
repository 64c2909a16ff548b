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

/* Flags of a type Python code must not instantiate (its objects are made
 * by the adapter only); before 3.10 pyw_type_from_spec does it. */
#ifdef Py_TPFLAGS_DISALLOW_INSTANTIATION
#define PYW_TPFLAGS_NO_NEW  Py_TPFLAGS_DISALLOW_INSTANTIATION
#else
#define PYW_TPFLAGS_NO_NEW  0
#endif

/*
 * A heap type of the current interpreter made from spec (GIL held).
 * Each interpreter has its own copy of every type: PEP 684 wants no
 * object shared between interpreters.  instantiable: 0 for the types
 * only the adapter makes objects of.  New reference, or NULL (exception
 * set).
 */
static inline PyTypeObject *pyw_type_from_spec(PyType_Spec *spec,
                                               int instantiable)
{
    PyTypeObject *t = (PyTypeObject *)PyType_FromSpec(spec);

#ifndef Py_TPFLAGS_DISALLOW_INSTANTIATION
    if (t != NULL && !instantiable) {
        t->tp_new = NULL;
    }
#else
    (void)instantiable;
#endif
    return t;
}

#endif /* PYW_PYTHON_H */

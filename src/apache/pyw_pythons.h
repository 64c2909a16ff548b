/*
 * pyw_pythons.h - the Pythons this build made a daemon program for
 * (`./configure --with-python=... [--with-python=...]`), and where the
 * programs are: next to mod_pyworker.so, in Apache's modules directory.
 */
#ifndef PYW_PYTHONS_H
#define PYW_PYTHONS_H

#include "apr_pools.h"

/* The daemon program for `executable` (NULL: the first one built), as
 * an absolute path; *python gets the executable as the build knows it.
 * NULL with *err set when the build has no daemon for that Python, or
 * the program is missing or not executable. */
const char *pyw_python_program(apr_pool_t *p, const char *executable,
                               const char **python, const char **err);

/* "X.Y" of the Python `executable` as the build knows it (as returned in
 * *python above), or NULL. */
const char *pyw_python_version(const char *executable);

#endif /* PYW_PYTHONS_H */

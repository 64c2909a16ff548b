/*
 * pyw_pythons.c - which daemon program runs a group's Python.
 *
 * configure writes the list into pyw_build.h (generated, not tracked):
 * one { executable, version, program file name } per --with-python.  The
 * programs are found beside this module's own file, so a build tree and
 * an installed layout both work without a setting.
 */
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "apr_strings.h"

#include "pyw_build.h"
#include "pyw_config.h"
#include "pyw_pythons.h"

typedef struct {
    const char *executable;
    const char *version;
    const char *program;
} pyw_python_t;

static const pyw_python_t pyw_pythons[] = {
    PYW_BUILD_PYTHONS
    { NULL, NULL, NULL }
};

/* The same file, whichever of its names each side used. */
static int pyw_same_python(const char *a, const char *b)
{
    char *ra, *rb;
    int same;

    if (strcmp(a, b) == 0) {
        return 1;
    }
    ra = realpath(a, NULL);
    rb = realpath(b, NULL);
    same = ra != NULL && rb != NULL && strcmp(ra, rb) == 0;
    free(ra);
    free(rb);
    return same;
}

static const char *pyw_known_pythons(apr_pool_t *p)
{
    const pyw_python_t *py;
    const char *list = NULL;

    for (py = pyw_pythons; py->executable != NULL; py++) {
        list = apr_psprintf(p, "%s%s%s (%s)", list ? list : "",
                            list ? ", " : "", py->executable, py->version);
    }
    return list ? list : "none";
}

/* The directory holding this module's file. */
static const char *pyw_module_dir(apr_pool_t *p)
{
    Dl_info info;
    const char *slash;

    if (dladdr((void *)&pyworker_module, &info) == 0
        || info.dli_fname == NULL
        || (slash = strrchr(info.dli_fname, '/')) == NULL) {
        return ".";
    }
    return apr_pstrmemdup(p, info.dli_fname, slash - info.dli_fname);
}

const char *pyw_python_program(apr_pool_t *p, const char *executable,
                               const char **python, const char **err)
{
    const pyw_python_t *py = pyw_pythons;
    const char *program;

    while (executable != NULL && py->executable != NULL
           && !pyw_same_python(executable, py->executable)) {
        py++;
    }
    if (py->executable == NULL) {
        *err = apr_psprintf(p, "PYW0005 this build has no daemon program "
                            "for Python %s; it has: %s (rebuild with "
                            "./configure --with-python=%s)",
                            executable ? executable : "(any)",
                            pyw_known_pythons(p),
                            executable ? executable : "PATH");
        return NULL;
    }
    program = apr_pstrcat(p, pyw_module_dir(p), "/", py->program, NULL);
    if (access(program, X_OK) != 0) {
        *err = apr_psprintf(p, "PYW0005 daemon program %s for Python %s "
                            "cannot be run: %s (make install puts it next "
                            "to mod_pyworker.so)", program, py->executable,
                            strerror(errno));
        return NULL;
    }
    *python = py->executable;
    return program;
}

const char *pyw_python_version(const char *executable)
{
    const pyw_python_t *py;

    for (py = pyw_pythons; executable != NULL && py->executable != NULL;
         py++) {
        if (strcmp(py->executable, executable) == 0) {
            return py->version;
        }
    }
    return NULL;
}

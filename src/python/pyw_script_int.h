/*
 * pyw_script_int.h - private to the WSGI script files (pyw_script*.c):
 * a script's registry entry and what the pieces call of each other.
 *
 *   pyw_script.c            the registry; the module and `application`
 *   pyw_script_load.c       read the file, compile and run it as a module
 *   pyw_script_reload.c     script reloading: has the file changed?
 *   pyw_script_traceback.c  log a Python exception with its traceback
 *
 * GIL: every function here is called with the GIL of the entry's
 * interpreter held; an entry's fields are read and changed only so.
 */
#ifndef PYW_SCRIPT_INT_H
#define PYW_SCRIPT_INT_H

#include "pyw_python.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/* One script path in one interpreter's registry (pyw_script.c); lives as
 * long as the process. */
typedef struct pyw_script_entry {
    struct pyw_script_entry *next;
    uint64_t             hash;      /* FNV-1a of path                   */
    size_t               len;
    pthread_mutex_t      lock;      /* held by the thread loading it    */
    PyObject            *module;    /* NULL until loaded successfully   */
    /* The file the module was loaded from, for script reloading. */
    struct timespec      mtime;
    dev_t                dev;
    ino_t                ino;
    int64_t              checked_ms;    /* last look (pyw_io clock)     */
    int                  changed;       /* reported: look no more       */
    char                 path[];    /* NUL-terminated                   */
} script_entry_t;

/* pyw_script_load.c: create, register and run the module for e (its
 * file's stat recorded for reloading).  0, or -1 with an exception set
 * and nothing left in sys.modules. */
int pyw_script_load(script_entry_t *e);

/* pyw_script_reload.c: script reloading for e, loaded, on a request
 * for uri (reloading: the request's setting, -1: the group's).  May let
 * the GIL go. */
void pyw_script_check_changed(script_entry_t *e, const char *uri,
                              int reloading);

#endif /* PYW_SCRIPT_INT_H */

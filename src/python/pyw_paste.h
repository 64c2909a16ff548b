/*
 * pyw_paste.h - PasteDeploy applications (PyWorkerPasteApp), each loaded
 * once per process.
 *
 * GIL: every function here is called with the GIL held.
 */
#ifndef PYW_PASTE_H
#define PYW_PASTE_H

#include "pyw_python.h"

/*
 * The application `name` (a str: "main", or the #name of the directive)
 * of the PasteDeploy file at path (raw bytes as Apache sent
 * SCRIPT_FILENAME), loading it first if needed: the file's logging
 * sections are applied (logging.config.fileConfig, as pserve and Zope's
 * runwsgi do), then paste.deploy.loadapp("config:" + path, name=name).
 * New reference, or NULL with the failure logged as one error line that
 * names the file and the application (its traceback at debug) and no
 * exception left set; the next request tries again.
 *
 * reloading: as pyw_script_application (a changed file asks for a
 * rolling restart of the group; -1: on).
 */
PyObject *pyw_paste_application(const char *path, PyObject *name,
                                const char *uri, int reloading);

/*
 * Preload application name of the file at path in the current
 * interpreter, at start (PyWorkerPasteApp with process-group= and
 * application-group=, or the group's paste=): 0, or -1 with the failure
 * logged (PYW0313) and nothing kept, so that its requests load it again.
 * `replacing` (pyw_spec.h) only changes what the line says will happen.
 * GIL held.
 */
int pyw_paste_preload(const char *path, const char *name, int replacing);

#endif /* PYW_PASTE_H */

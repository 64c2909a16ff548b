/*
 * pyw_python_app.h - the WSGI adapter as the application of a daemon
 * (src/daemon/pyw_app.h), for whoever calls pyw_daemon_main().
 *
 * Exposes no Python type: the caller need not include Python.h.
 */
#ifndef PYW_PYTHON_APP_H
#define PYW_PYTHON_APP_H

#include "../daemon/pyw_app.h"

extern const pyw_app_t pyw_python_app;

#endif /* PYW_PYTHON_APP_H */

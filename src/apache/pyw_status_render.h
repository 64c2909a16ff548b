/*
 * pyw_status_render.h - the three forms of the status snapshot; each
 * sets the content type and writes the body.
 */
#ifndef PYW_STATUS_RENDER_H
#define PYW_STATUS_RENDER_H

#include "httpd.h"

#include "pyw_status_data.h"

int pyw_status_html(request_rec *r, const pyw_status_t *st, int refresh);
int pyw_status_json(request_rec *r, const pyw_status_t *st);
int pyw_status_prometheus(request_rec *r, const pyw_status_t *st);

#endif /* PYW_STATUS_RENDER_H */

/*
 * pyw_backend.h - one connected daemon socket, as the request path sees it.
 *
 * pyw_conn.c creates, caches and closes these; pyw_forward.c only uses
 * one for the length of a request and does not care where it came from.
 * A backend belongs to exactly one thread while a request uses it.
 */
#ifndef PYW_BACKEND_H
#define PYW_BACKEND_H

#include "../common/pyw_stream.h"
#include "pyw_config.h"

typedef struct {
    int                fd;          /* connected AF_UNIX socket, O_NONBLOCK */
    pyw_stream_t       stream;      /* frame reader over fd                 */
    long               daemon_pid;  /* from the daemon's HELLO              */
    const pyw_group_t *group;       /* group whose socket fd is connected to */
    int                reused;      /* 1: taken from the idle cache         */
    int                board_index; /* the daemon's load board slot, a hint
                                       (-1: not looked up yet)            */
} pyw_backend_t;

#endif /* PYW_BACKEND_H */

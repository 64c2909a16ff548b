/*
 * pyw_dconn_int.h - private to the connection's files (pyw_dconn*.c):
 * the output buffer and the writes the frame senders share
 * (pyw_dconn_write.c).  The connection itself is pyw_dconn_private.h.
 */
#ifndef PYW_DCONN_INT_H
#define PYW_DCONN_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "pyw_dconn_private.h"

/* The pending-output buffer's first size; an idle connection gives back
 * a larger one (pyw_dconn_idle). */
#define DCONN_OUT_INITIAL  4096

/* pyw_dconn_set_write_timeout's value, for each wait a write may make. */
extern int64_t pyw_dconn_write_timeout_ms;

/* Make room for `need` bytes of pending output.  0 / -ENOMEM */
int pyw_dconn_out_reserve(pyw_dconn_t *c, size_t need);

/* Write iov (whose first entry may be the pending output) holding what w
 * releases (NULL: nothing), and account for it.  0 / -errno, sticky. */
int pyw_dconn_writev(pyw_dconn_t *c, const pyw_dconn_waiter_t *w,
                     struct iovec *iov, int n, int with_pending);

/* iov[0] = pending output, if any; returns the number of entries used. */
int pyw_dconn_iov_pending(pyw_dconn_t *c, struct iovec *iov);

#endif /* PYW_DCONN_INT_H */

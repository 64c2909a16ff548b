/*
 * pyw_inflight.h - how many requests of one daemon group Apache's
 * children hold at once, for the group's queue-limit=.
 *
 * A slow or flooded group would otherwise take every thread Apache has:
 * each of its requests holds one while it waits for a worker.  Counting
 * them where they are held, in Apache, covers every way a request waits
 * (a daemon's queue, the listen backlog, a connect) and no daemon can
 * forge the number: the table is an anonymous shared mapping the Apache
 * parent makes before its children fork, and daemons never get it.
 *
 * One row per Apache child: the child claims a free row when it starts
 * (its pid) and counts its requests there and in the group's total.  A
 * child that dies without giving its row back (a crash) has it freed by
 * the parent, which hears of every child that exits and takes what the
 * row held out of the total.  A request costs four atomic adds.
 */
#ifndef PYW_INFLIGHT_H
#define PYW_INFLIGHT_H

#include <sys/types.h>

typedef struct {
    int32_t pid;                /* 0: free                              */
    int32_t count;              /* requests of the group it holds       */
} pyw_inflight_row_t;

typedef struct pyw_inflight {
    struct pyw_inflight_mem *mem;   /* the shared pages (pyw_inflight.c) */
    int                 nrows;
    size_t              size;   /* bytes mapped                         */
} pyw_inflight_t;

/* A zeroed table of `rows` rows (at least one); NULL on failure. */
pyw_inflight_t *pyw_inflight_create(int rows);
void pyw_inflight_destroy(pyw_inflight_t *t);
int pyw_inflight_rows(const pyw_inflight_t *t);

/* A child claims a free row for `pid`: its index, or -1 if none is free
 * (the child's requests then go uncounted). */
int pyw_inflight_claim(pyw_inflight_t *t, pid_t pid);
/* The child gives it back as it exits. */
void pyw_inflight_release(pyw_inflight_t *t, int row, pid_t pid);

/* Count one more request in `row`, then the group's total with it: the
 * caller that finds the total over its limit calls pyw_inflight_leave
 * at once (counting first means two racing requests cannot both slip
 * under the limit).  Without a row (-1) the request is only added to
 * the total returned. */
long pyw_inflight_enter(pyw_inflight_t *t, int row);
void pyw_inflight_leave(pyw_inflight_t *t, int row);
/* The group's total. */
long pyw_inflight_total(const pyw_inflight_t *t);

/* The parent, when an Apache child exited: free the row of `pid` (its
 * count with it), which a crash left claimed; 1 if there was one. */
int pyw_inflight_forget(pyw_inflight_t *t, pid_t pid);
/* The parent, now and then: free every row whose pid `alive` says is
 * gone (a child whose exit was not reported); the number freed. */
int pyw_inflight_sweep(pyw_inflight_t *t, int (*alive)(pid_t pid));

#endif /* PYW_INFLIGHT_H */

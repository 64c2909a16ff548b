/*
 * pyw_stacks.h - every interpreter's Python stacks in the error log,
 * without any GIL (request-timeout, deadlock-timeout, the operator's
 * SIGRTMIN+6): pyw_app_t.dump_stacks.
 */
#ifndef PYW_STACKS_H
#define PYW_STACKS_H

typedef struct pyw_interp pyw_interp_t;

/* Main interpreter, at start (GIL held): faulthandler's handler on a
 * signal of our own.  A failure is logged and only costs the dumps. */
void pyw_stacks_init(void);

/* A named group's interpreter was created: the thread that dumps it.
 * Any thread, no GIL.  A failure is logged (no dumps for that group). */
void pyw_stacks_add(pyw_interp_t *ip);

/* Each interpreter's heading and stacks to the error log at level, one
 * PYW0248 line per line, main interpreter first.  Any thread whose first
 * thread state (if any) is in the main interpreter; no GIL.  Dumps never
 * overlap.  0, or -1 without faulthandler. */
int pyw_stacks_dump(int level);

#endif /* PYW_STACKS_H */

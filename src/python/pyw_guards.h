/*
 * pyw_guards.h - signal.signal and os._exit as the daemon can live with
 * (see pyw_guards.c).
 */
#ifndef PYW_GUARDS_H
#define PYW_GUARDS_H

/* In the current interpreter (GIL held), before any application code
 * runs there.  0 / -1 (exception set). */
int pyw_guards_install(void);

#endif /* PYW_GUARDS_H */

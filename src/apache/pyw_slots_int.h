/*
 * pyw_slots_int.h - private to the files of the daemon slots
 * (pyw_slots*.c): what one part of a process's life calls in another.
 * Everything runs in the Apache parent's main thread (pyw_pm.h).
 *
 *   pyw_slots.c          pyw_proc_t records; stopping a process
 *   pyw_slots_spawn.c    the spec a daemon starts from; fork
 *   pyw_slots_death.c    deaths (apr_proc_other_child) and restarts
 *   pyw_slots_replace.c  replacement with overlap; rolling restarts
 *   pyw_slots_poll.c     status bytes, deadlines, the poll entry points
 */
#ifndef PYW_SLOTS_INT_H
#define PYW_SLOTS_INT_H

#include "apr_time.h"

#include "pyw_pm.h"

/* pyw_slots.c */
void pyw_proc_unregister(pyw_proc_t *p);
void pyw_proc_close_status(pyw_proc_t *p);
/* Unregister, close its pipe and put p on the free list. */
void pyw_proc_release(pyw_proc_t *p);
void pyw_stopping_remove(pyw_proc_t *p);
/* p died: free its worker board lane, drop it from the status page. */
void pyw_proc_forget(pyw_proc_t *p);
/* The last error of p's slot (about `pid`), for the status page, beside
 * the log line with that code (`code` is its PYWnnnn number). */
void pyw_proc_note_error(const pyw_proc_t *p, pid_t pid, int code,
                         const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* pyw_slots_spawn.c: the start-up delay after so many quick failures. */
int pyw_backoff_ms(int failures);

/* pyw_slots_replace.c */
/* Start a replacement for slot->cur; 1 if started. */
int pyw_slot_replace(pyw_slot_t *slot, pyw_why_e why);
/* READY from p: the old process of its slot stops, a rolling restart
 * goes on. */
void pyw_proc_ready(pyw_proc_t *p);
/* ROLLING from p. */
void pyw_rolling_request(pyw_proc_t *p);
void pyw_rolling_step(struct pyw_group_rt *rt);

/* pyw_slots_poll.c: SIGKILL p if its deadline passed; else that
 * deadline, or 0 if none. */
apr_time_t pyw_check_kill(pyw_proc_t *p, apr_time_t now);

#endif /* PYW_SLOTS_INT_H */

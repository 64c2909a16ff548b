/*
 * pyw_status.h - the daemon's one-way channel to the Apache parent: one
 * byte per event (PYW_STATUS_* of pyw_daemon.h) on spec->status_fd.
 *
 * Each of READY, RECYCLE, SIGNAL and ROLLING is sent at most once per
 * process: the parent acts on the first, and a repeat would only make it
 * start a second replacement.  IDLE and ACTIVE alternate (idle-timeout).  After pyw_status_stop() (SIGTERM: the
 * parent is already replacing us) nothing more is sent.
 *
 * Callable from any thread, with or without the GIL: the state is a few
 * atomic flags and the write is one write() of one byte.
 */
#ifndef PYW_STATUS_H
#define PYW_STATUS_H

/* Main thread, before any other thread exists: the descriptor to write
 * to, or -1 when the parent gave none. */
void pyw_status_init(int fd);

/* Send `what` (PYW_STATUS_READY/RECYCLE/SIGNAL/ROLLING) unless it was
 * sent before or the daemon is stopping.  1 sent, 0 not sent (repeat, no
 * pipe, stopping), or -errno (logged). */
int pyw_status_send(char what);

/* idle-timeout: IDLE (idle 1) or ACTIVE (idle 0), each time the state
 * changes; the first call can only say IDLE.  Never after
 * pyw_status_stop().  1 sent, 0 not, or -errno (logged). */
int pyw_status_idle(int idle);

/* 1 if there is a pipe to the parent at all. */
int pyw_status_available(void);

/* SIGTERM arrived: send nothing from now on. */
void pyw_status_stop(void);

#endif /* PYW_STATUS_H */

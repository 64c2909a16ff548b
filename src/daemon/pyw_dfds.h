/*
 * pyw_dfds.h - the daemon's own descriptors (its connections to Apache,
 * the listening socket, the status pipe), closed in a process the
 * application forks.
 *
 * A child of os.fork() or multiprocessing that kept them would hold
 * Apache's connections open after the daemon died: Apache would see no
 * end of them, and a request sent on one would wait for socket-timeout
 * (504) instead of going to the restarted daemon.  Any thread; the close
 * is async-signal-safe (a pthread_atfork child handler).
 */
#ifndef PYW_DFDS_H
#define PYW_DFDS_H

/* Descriptors from this number up are not tracked. */
#define PYW_DFDS_MAX 65536

void pyw_dfds_add(int fd);
void pyw_dfds_remove(int fd);

/* 1 if fd is one of them (any thread). */
int pyw_dfds_has(int fd);

/* In the forked child only: close every descriptor added. */
void pyw_dfds_close_all(void);

#endif /* PYW_DFDS_H */

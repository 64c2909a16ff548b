/*
 * pyw_poller_int.h - private to the poller's files (pyw_poller*.c): the
 * poller's one shared state, pyw_pl, and what the pieces call of each
 * other.  Locking rules: pyw_poller.c.
 */
#ifndef PYW_POLLER_INT_H
#define PYW_POLLER_INT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/epoll.h>

#include "pyw_dconn_private.h"
#include "pyw_poller.h"

#define POLLER_CONN_EVENTS     (EPOLLIN | EPOLLRDHUP | EPOLLONESHOT)
/* After EMFILE and friends, accepting again at once would spin. */
#define POLLER_ACCEPT_PAUSE_MS 1000

/* The poller: its connections, descriptors and settings (pyw_poller.c). */
typedef struct {
    pthread_mutex_t  lock;
    pyw_dconn_t     *conns;          /* pyw_pl.lock: all open connections */
    int              nconns;         /* pyw_pl.lock                       */
    int              stopping;       /* pyw_pl.lock                       */
    int              goodbye_flags;  /* pyw_pl.lock: PYW_GOODBYE_*        */
    int              listen_gone;    /* poller thread: accept4() says the
                                        socket is no longer there       */
    int              epfd, wakefd, listen_fd;
    int              listening;      /* poller thread only                */
    int              started;        /* main thread only                  */
    int              joined;         /* main thread only                  */
    int64_t          accept_resume;  /* poller thread only; 0 = running   */
    int              balance;        /* processes > 1; set before start   */
    int              threads;        /* worker count; set before start    */
    int              sndbuf, rcvbuf; /* send-/receive-buffer-size; 0: OS  */
    int              fresh;          /* pyw_pl.lock: connections with a
                                        worker reserved for their first
                                        request                          */
    int              gated;          /* atomic: not accepting for lack of
                                        a free worker                    */
    int              hand_back_all;  /* pyw_pl.lock: a drain hands back
                                        even requests sent again (the
                                        workers are stuck)               */
    pthread_t        tid;
} pyw_poller_state_t;

extern pyw_poller_state_t pyw_pl;

/* The request waiting on c was handed back once already: its header,
 * peeked at, carries PYW_REQUEST_RESENT (pyw_poller_balance.c). */
int pyw_poller_request_resent(const pyw_dconn_t *c);
/* data.ptr tags for the two non-connection descriptors. */
extern char pyw_poller_tag_listen, pyw_poller_tag_wake;

/* The connection list (pyw_poller.c); pyw_pl.lock held. */
void pyw_poller_link(pyw_dconn_t *c);
void pyw_poller_destroy(pyw_dconn_t *c);
void pyw_poller_goodbye(pyw_dconn_t *c);

/* The epoll thread (pyw_poller_loop.c). */
void *pyw_poller_main(void *arg);

/* Accepting (pyw_poller_accept.c). */
int pyw_poller_listen_ctl(int on);
void pyw_poller_accept(void);
int pyw_poller_accept_timeout(void);

/* Balancing a group of several processes (pyw_poller_balance.c). */
int pyw_poller_should_hand_back(const pyw_dconn_t *c);
int pyw_poller_gate_close(void);
void pyw_poller_balance(void);
int pyw_poller_balance_timeout(void);

#endif /* PYW_POLLER_INT_H */

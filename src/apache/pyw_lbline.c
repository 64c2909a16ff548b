/*
 * pyw_lbline.c - first come, first served among this child's requests
 * waiting at a balancer (see pyw_lbline.h).
 *
 * A fixed table, one entry per balancer that ever queued in this child,
 * found by the balancer's address.  An entry is taken with a
 * compare-and-swap, since two balancers' waiters hold different locks;
 * its list is then only touched under its own balancer's lock.
 */
#include <pthread.h>
#include <time.h>

#include "pyw_lbline.h"

#define PYW_LB_LINES 64

/* The waiters behind the first sleep on `turn` until the first leaves
 * (turns counts those departures, under turn_lock). */
struct pyw_lb_line {
    const proxy_balancer *balancer;     /* NULL: a free entry */
    pyw_lb_waiter_t      *head;
    pyw_lb_waiter_t      *tail;
    pthread_mutex_t       turn_lock;
    pthread_cond_t        turn;
    unsigned              turns;
};

static pyw_lb_line_t pyw_lb_lines[PYW_LB_LINES] = {
    [0 ... PYW_LB_LINES - 1] = {
        NULL, NULL, NULL, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
        0
    }
};

pyw_lb_line_t *pyw_lb_line_of(const proxy_balancer *balancer)
{
    const proxy_balancer *seen;
    int i;

    for (i = 0; i < PYW_LB_LINES; i++) {
        seen = __atomic_load_n(&pyw_lb_lines[i].balancer, __ATOMIC_ACQUIRE);
        if (seen == balancer) {
            return &pyw_lb_lines[i];
        }
        if (seen == NULL
            && __atomic_compare_exchange_n(&pyw_lb_lines[i].balancer, &seen,
                                           balancer, 0, __ATOMIC_ACQ_REL,
                                           __ATOMIC_ACQUIRE)) {
            return &pyw_lb_lines[i];
        }
        if (seen == balancer) {
            return &pyw_lb_lines[i];    /* another thread took it for us */
        }
    }
    return NULL;
}

void pyw_lb_line_join(pyw_lb_line_t *line, pyw_lb_waiter_t *w)
{
    w->next = NULL;
    if (line == NULL) {
        return;
    }
    if (line->tail != NULL) {
        line->tail->next = w;
    }
    else {
        line->head = w;
    }
    line->tail = w;
}

void pyw_lb_line_leave(pyw_lb_line_t *line, pyw_lb_waiter_t *w)
{
    pyw_lb_waiter_t **p, *prev = NULL;

    if (line == NULL) {
        return;
    }
    for (p = &line->head; *p != NULL; prev = *p, p = &(*p)->next) {
        if (*p == w) {
            *p = w->next;
            if (line->tail == w) {
                line->tail = prev;
            }
            if (prev == NULL) {         /* the first left: next, please */
                pthread_mutex_lock(&line->turn_lock);
                line->turns++;
                pthread_cond_broadcast(&line->turn);
                pthread_mutex_unlock(&line->turn_lock);
            }
            return;
        }
    }
}

void pyw_lb_line_wait_turn(pyw_lb_line_t *line, proxy_balancer *balancer,
                           apr_time_t deadline)
{
    apr_time_t left = deadline - apr_time_now();
    struct timespec until;
    unsigned turns;

    if (line == NULL || left <= 0) {
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += apr_time_sec(left);
    until.tv_nsec += apr_time_usec(left) * 1000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&line->turn_lock);
    turns = line->turns;
    pthread_mutex_unlock(&line->turn_lock);
    PROXY_THREAD_UNLOCK(balancer);
    pthread_mutex_lock(&line->turn_lock);
    while (line->turns == turns
           && pthread_cond_clockwait(&line->turn, &line->turn_lock,
                                     CLOCK_MONOTONIC, &until) == 0) {
        /* woken for another departure, or spuriously: look again */
    }
    pthread_mutex_unlock(&line->turn_lock);
    PROXY_THREAD_LOCK(balancer);
}

int pyw_lb_line_first(const pyw_lb_line_t *line, const pyw_lb_waiter_t *w)
{
    return line == NULL || line->head == w;
}

int pyw_lb_line_busy(const pyw_lb_line_t *line)
{
    return line != NULL && line->head != NULL;
}

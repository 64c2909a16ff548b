/*
 * test_status_boards.c - what the status page reads: the metrics Apache
 * records (classes, histogram buckets, restarts, the last error, counts
 * shared with a forked child, room for the most processes a group may
 * have), and the worker board daemons write, read back as the untrusted
 * data it is (strings ended and cleaned by the reader, numbers clamped, a
 * read-only mapping for readers, a board too small for the shape
 * refused).
 */
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "pyw_metrics.h"
#include "pyw_options.h"
#include "pyw_wboard.h"

static void test_metrics_counts(void)
{
    pyw_metrics_t *m = pyw_metrics_create(2);
    pyw_metrics_group_snap_t s;
    pid_t child;
    int status;

    CHECK(m != NULL);
    pyw_metrics_request(m, 200, 4000);          /* bucket 0.005 */
    pyw_metrics_request(m, 404, 5000);          /* still 0.005 (le) */
    pyw_metrics_request(m, 503, 20000000);      /* +Inf */
    pyw_metrics_request(m, 42, -5);             /* other, 0 us */
    child = fork();
    if (child == 0) {                           /* an Apache child */
        pyw_metrics_request(m, 204, 300000);    /* bucket 0.5 */
        _exit(0);
    }
    waitpid(child, &status, 0);
    pyw_metrics_read(m, &s);
    CHECK_EQ(s.requests[0], 1);
    CHECK_EQ(s.requests[2], 2);
    CHECK_EQ(s.requests[4], 1);
    CHECK_EQ(s.requests[5], 1);
    CHECK_EQ(s.buckets[0], 3);
    CHECK_EQ(s.buckets[6], 1);
    CHECK_EQ(s.buckets[PYW_METRICS_BOUNDS], 1);
    CHECK_EQ(s.duration_us, 4000 + 5000 + 20000000 + 300000);
    CHECK_EQ(s.err.status, 0);
    pyw_metrics_destroy(m);
}

/* The upper bound of a PyWorkerDaemonProcess option, from its table. */
static int64_t option_max(const char *want)
{
#define OPTION_MAX(field, name, kind, min, max, def, defdoc, doc) \
    if (strcmp(name, want) == 0) { \
        return (int64_t)(max); \
    }
    PYW_DAEMON_OPTIONS(OPTION_MAX)
#undef OPTION_MAX
    return -1;
}

static void test_metrics_error_and_procs(void)
{
    pyw_metrics_t *m = pyw_metrics_create(1);
    pyw_metrics_group_snap_t s;
    pyw_metrics_proc_snap_t p;
    char longer[300];

    memset(longer, 'u', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    pyw_metrics_error(m, 502, 1234, longer, "daemon gone");
    pyw_metrics_read(m, &s);
    CHECK_EQ(s.err.status, 502);
    CHECK_EQ(s.err.ms, 1234);
    CHECK_EQ(strlen(s.err.uri), PYW_METRICS_TEXT - 1);
    CHECK_STR(s.err.what, "daemon gone");

    pyw_metrics_proc_start(m, 0, 300, 10);
    pyw_metrics_proc_ready(m, 0, 299);          /* not the slot's pid */
    CHECK(pyw_metrics_read_proc(m, 0, &p) == 0);
    CHECK_EQ(p.pid, 300);
    CHECK_EQ(p.ready, 0);
    pyw_metrics_proc_ready(m, 0, 300);
    pyw_metrics_restart(m, 0, PYW_CAUSE_CRASH, "killed by signal 9");
    pyw_metrics_restart(m, 5000, PYW_CAUSE_ROLLING, "no such slot");
    pyw_metrics_read_proc(m, 0, &p);
    CHECK_EQ(p.ready, 1);
    CHECK_EQ(p.restarts, 1);
    CHECK_STR(p.last_cause, "killed by signal 9");
    CHECK(pyw_metrics_read_proc(m, m->nprocs, &p) < 0);

    /* Room for processes= at its bound: a group that grows at a graceful
     * restart keeps its mapping, where the old generation still counts. */
    CHECK(m->nprocs >= PYW_METRICS_PROCS);
    CHECK(m->nprocs >= option_max("processes"));
    pyw_metrics_read(m, &s);
    CHECK_EQ(s.restarts[PYW_CAUSE_CRASH], 1);
    CHECK_EQ(s.restarts[PYW_CAUSE_ROLLING], 1);
    CHECK_EQ(s.err.status, 502);
    CHECK_STR(pyw_cause_name(PYW_CAUSE_STARTUP), "startup_failure");
    CHECK_STR(pyw_cause_name(99), "other");
    pyw_metrics_destroy(m);
}

static void test_wboard_roundtrip(void)
{
    int fd = pyw_wboard_create(2, 3);
    pyw_wboard_t *d = pyw_wboard_map(fd, 2, 3, 1);      /* a daemon */
    pyw_wboard_t *r = pyw_wboard_map(fd, 2, 3, 0);      /* a reader */
    pyw_wboard_proc_snap_t ps;
    pyw_wboard_worker_snap_t ws;

    CHECK(fd >= 0 && d != NULL && r != NULL);
    CHECK(pyw_wboard_map(fd, 2, 40, 0) == NULL);         /* too small */
    CHECK(pyw_wboard_map(-1, 1, 1, 0) == NULL);
    pyw_wboard_join(d, 1, 700);
    pyw_wboard_queued(d, 1, 4);
    pyw_wboard_begin(d, 1, 2, 1000, "/app?x=<b>");
    pyw_wboard_read_proc(r, 1, &ps);
    CHECK_EQ(ps.pid, 700);
    CHECK_EQ(ps.queued, 4);
    pyw_wboard_read_worker(r, 1, 2, 1500, &ws);
    CHECK_EQ(ws.busy, 1);
    CHECK_EQ(ws.busy_ms, 500);
    CHECK_STR(ws.uri, "/app?x=<b>");                    /* escaping: later */
    pyw_wboard_end(d, 1, 2);
    pyw_wboard_read_worker(r, 1, 2, 1500, &ws);
    CHECK_EQ(ws.busy, 0);
    CHECK_EQ(ws.requests, 1);
    CHECK(pyw_wboard_read_worker(r, 2, 0, 0, &ws) < 0);  /* no process 3 */
    CHECK(pyw_wboard_read_worker(r, 0, 3, 0, &ws) < 0);  /* no thread 4 */
    /* A successor joins at index 1: the old daemon's writes are ignored. */
    {
        pyw_wboard_t *next = pyw_wboard_map(fd, 2, 3, 1);

        pyw_wboard_begin(d, 1, 0, 1000, "/old");
        pyw_wboard_join(next, 1, 701);
        pyw_wboard_begin(next, 1, 0, 1400, "/new");
        pyw_wboard_end(d, 1, 0);
        pyw_wboard_queued(d, 1, 9);
        pyw_wboard_read_worker(r, 1, 0, 1500, &ws);
        CHECK_EQ(ws.busy, 1);
        CHECK_STR(ws.uri, "/new");
        CHECK_EQ(ws.requests, 0);
        pyw_wboard_read_proc(r, 1, &ps);
        CHECK_EQ(ps.pid, 701);
        CHECK_EQ(ps.queued, 0);
        pyw_wboard_destroy(next);
    }
    pyw_wboard_destroy(d);
    pyw_wboard_destroy(r);
    close(fd);
}

/* A hostile daemon writes the raw entries: no NUL, control bytes, a
 * negative queue, a start time in the future. */
static void test_wboard_hostile(void)
{
    int fd = pyw_wboard_create(1, 1);
    pyw_wboard_t *d = pyw_wboard_map(fd, 1, 1, 1);
    pyw_wboard_t *r = pyw_wboard_map(fd, 1, 1, 0);
    pyw_wboard_proc_t *p = d->mem;
    pyw_wboard_worker_t *w = (pyw_wboard_worker_t *)(p + 1);
    pyw_wboard_proc_snap_t ps;
    pyw_wboard_worker_snap_t ws;
    size_t i;

    p->pid = 1;
    p->queued = -7;
    w->busy = 12345;
    w->since_ms = 99999;
    memset(w->uri, 'A', sizeof(w->uri));
    w->uri[3] = '\n';
    w->uri[4] = (char)0xff;
    pyw_wboard_read_proc(r, 0, &ps);
    CHECK_EQ(ps.queued, 0);
    pyw_wboard_read_worker(r, 0, 0, 10, &ws);
    CHECK_EQ(ws.busy, 1);
    CHECK_EQ(ws.busy_ms, 0);
    CHECK_EQ(strlen(ws.uri), PYW_WBOARD_URI - 1);
    CHECK(ws.uri[3] == '?' && ws.uri[4] == '?');
    for (i = 0; ws.uri[i]; i++) {
        CHECK(ws.uri[i] >= 0x20 && ws.uri[i] <= 0x7e);
    }
    p->queued = 2000000000;
    pyw_wboard_read_proc(r, 0, &ps);
    CHECK_EQ(ps.queued, PYW_WBOARD_QUEUE_MAX);
    /* The reader's mapping is read-only; the file cannot shrink. */
    CHECK(ftruncate(fd, 0) < 0);
    pyw_wboard_destroy(d);
    pyw_wboard_destroy(r);
    close(fd);
}

/* The process a slot's current one replaces, and the slot's last error:
 * written by the parent (and a child), read as the page reads them. */
static void test_metrics_old_and_proc_error(void)
{
    pyw_metrics_t *m = pyw_metrics_create(2);
    pyw_metrics_proc_snap_t p;
    pid_t child;
    int status;

    pyw_metrics_proc_start(m, 1, 500, 1000);
    pyw_metrics_proc_old(m, 1, 500, 1000);      /* being replaced ...   */
    pyw_metrics_proc_start(m, 1, 501, 5000);    /* ... by 501           */
    pyw_metrics_read_proc(m, 1, &p);
    CHECK_EQ(p.pid, 501);
    CHECK_EQ(p.old_pid, 500);
    CHECK_EQ(p.old_started_ms, 1000);
    CHECK_EQ(p.old_draining, 0);
    CHECK_EQ(pyw_metrics_find_proc(m, 500), 1);
    CHECK_EQ(pyw_metrics_find_proc(m, 501), 1);
    CHECK_EQ(pyw_metrics_find_proc(m, 502), -1);
    pyw_metrics_proc_old_stops(m, 1, 499, 6000);    /* not the old one */
    pyw_metrics_read_proc(m, 1, &p);
    CHECK_EQ(p.old_draining, 0);
    pyw_metrics_proc_old_stops(m, 1, 500, 6000);
    pyw_metrics_read_proc(m, 1, &p);
    CHECK_EQ(p.old_draining, 1);
    CHECK_EQ(p.old_stop_ms, 6000);
    CHECK_EQ(p.err.code, 0);
    child = fork();
    if (child == 0) {                           /* an Apache child */
        pyw_metrics_proc_error(m, pyw_metrics_find_proc(m, 500), 500, 113,
                               7000, "no answer within socket-timeout");
        _exit(0);
    }
    waitpid(child, &status, 0);
    pyw_metrics_read_proc(m, 1, &p);
    CHECK_EQ(p.err.code, 113);
    CHECK_EQ(p.err.pid, 500);
    CHECK_EQ(p.err.ms, 7000);
    CHECK_STR(p.err.text, "no answer within socket-timeout");
    pyw_metrics_proc_old_gone(m, 1, 499);       /* someone else: kept */
    pyw_metrics_read_proc(m, 1, &p);
    CHECK_EQ(p.old_pid, 500);
    pyw_metrics_proc_old_gone(m, 1, 500);
    pyw_metrics_read_proc(m, 1, &p);
    CHECK_EQ(p.old_pid, 0);
    CHECK_EQ(p.err.code, 113);                  /* the error stays */
    pyw_metrics_proc_error(m, 2, 1, 22, 0, "x");    /* no slot 3: ignored */
    pyw_metrics_destroy(m);
}

/* Two lanes per slot: an old and a new daemon of slot 0 each write
 * their own entries, found by pid. */
static void test_wboard_lanes(void)
{
    int fd = pyw_wboard_create(2 * PYW_WBOARD_LANES, 1);
    pyw_wboard_t *old = pyw_wboard_map(fd, 2 * PYW_WBOARD_LANES, 1, 1);
    pyw_wboard_t *cur = pyw_wboard_map(fd, 2 * PYW_WBOARD_LANES, 1, 1);
    pyw_wboard_t *r = pyw_wboard_map(fd, 2 * PYW_WBOARD_LANES, 1, 0);
    pyw_wboard_worker_snap_t ws;
    int e;

    pyw_wboard_join(old, PYW_WBOARD_ENTRY(0, 0), 800);
    pyw_wboard_begin(old, PYW_WBOARD_ENTRY(0, 0), 0, 100, "/long");
    pyw_wboard_join(cur, PYW_WBOARD_ENTRY(0, 1), 801);
    pyw_wboard_begin(cur, PYW_WBOARD_ENTRY(0, 1), 0, 200, "/new");
    e = pyw_wboard_find(r, 0, 800);
    CHECK_EQ(e, PYW_WBOARD_ENTRY(0, 0));
    pyw_wboard_read_worker(r, e, 0, 300, &ws);
    CHECK(ws.busy);
    CHECK_STR(ws.uri, "/long");
    e = pyw_wboard_find(r, 0, 801);
    CHECK_EQ(e, PYW_WBOARD_ENTRY(0, 1));
    pyw_wboard_read_worker(r, e, 0, 300, &ws);
    CHECK_STR(ws.uri, "/new");
    CHECK_EQ(pyw_wboard_find(r, 1, 800), -1);   /* not slot 1's */
    CHECK_EQ(pyw_wboard_find(r, 0, 0), -1);
    CHECK_EQ(pyw_wboard_find(r, 2, 800), -1);   /* no slot 3 */
    pyw_wboard_destroy(old);
    pyw_wboard_destroy(cur);
    pyw_wboard_destroy(r);
    close(fd);
}

int main(void)
{
    test_metrics_counts();
    test_metrics_error_and_procs();
    test_metrics_old_and_proc_error();
    test_wboard_lanes();
    test_wboard_roundtrip();
    test_wboard_hostile();
    return UNIT_DONE();
}

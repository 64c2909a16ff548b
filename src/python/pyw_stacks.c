/*
 * pyw_stacks.c - dump the Python stacks of every interpreter.
 *
 * faulthandler's signal handler walks, without any GIL, the threads of
 * ONE interpreter: the one of the first thread state of the thread the
 * signal is delivered to (PyGILState_GetThisThreadState), whatever
 * interpreter registered it.  So it is registered once, on
 * STACKS_SIGNAL, and each interpreter gets a thread of its own to take
 * the signal:
 *   - the main interpreter: the dumping thread itself (the watchdog has
 *     no thread state, the daemon's main thread's first one is main);
 *   - a named group's: a small "stack thread" whose only thread state is
 *     in that interpreter (made without the GIL), asleep on a semaphore
 *     until a dump wants it; it raise()s the signal on itself, so the
 *     dump is written when it posts back.
 * raise() delivers to the calling thread synchronously, so the dumps
 * come out in order, each after its heading.  No interpreter is ever
 * asked for its GIL: a GIL held forever (deadlock-timeout) does not stop
 * the dump.
 *
 * faulthandler writes into a file in memory, not into the log: the
 * dumping thread reads each dump back and logs it line by line like any
 * other line, so it reaches the group's log (or syslog) in its format.
 * A file, not a pipe: a pipe would block faulthandler, or cut the dump,
 * once full.
 */
#include "pyw_python.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "../daemon/pyw_dlog.h"
#include "../daemon/pyw_dlogno.h"
#include "pyw_interp_private.h"
#include "pyw_script.h"
#include "pyw_stacks.h"

#define STACKS_LOG_NONE       334       /* warn: no stack dumps          */
#define STACKS_SIGNAL         (SIGRTMIN + 7)  /* faulthandler's, ours only */
#define STACKS_WAIT_MS        2000      /* one stack thread's dump, most */
#define STACKS_THREAD_STACK   (256 * 1024)

typedef struct {
    const pyw_interp_t *ip;
    sem_t               go, done;
    char                head[160];
} stacks_entry_t;

static int stacks_signal;                   /* 0: faulthandler not set up */
static int stacks_fd = -1;                  /* faulthandler writes here   */
static stacks_entry_t *stacks_named[PYW_INTERP_MAX];
static int stacks_n;                        /* stacks_lock                */
static pthread_mutex_t stacks_lock = PTHREAD_MUTEX_INITIALIZER;
static int stacks_level;                    /* of the dump running        */

void pyw_stacks_init(void)
{
    PyObject *fh = NULL, *r = NULL;

    stacks_fd = memfd_create("pyworker-stacks", MFD_CLOEXEC);
    if (stacks_fd < 0) {
        pyw_dlog(PYW_LOG_WARNING, STACKS_LOG_NONE, NULL, "cannot make the "
                 "file for stack dumps (%s): timeouts will be logged "
                 "without Python stacks", strerror(errno));
        return;
    }
    fh = PyImport_ImportModule("faulthandler");
    r = fh ? PyObject_CallMethod(fh, "register", "iiOO", STACKS_SIGNAL,
                                 stacks_fd, Py_True, Py_False) : NULL;
    if (r == NULL) {
        pyw_script_log_exception(PYW_LOG_WARNING, STACKS_LOG_NONE, NULL,
                                 "cannot register faulthandler: timeouts "
                                 "will be logged without Python stacks");
    }
    else {
        stacks_signal = STACKS_SIGNAL;
    }
    Py_XDECREF(r);
    Py_XDECREF(fh);
}

/* faulthandler parts threads with a blank line; in a log, each line
 * says whose it is, so they are only noise. */
static size_t stacks_drop_blank_lines(char *text, size_t len)
{
    size_t in, out = 0;

    for (in = 0; in < len; in++) {
        if (text[in] != '\n' || (out > 0 && text[out - 1] != '\n')) {
            text[out++] = text[in];
        }
    }
    return out;
}

/* Log what faulthandler wrote since the last call, and empty the file. */
static void stacks_log_written(void)
{
    off_t end = lseek(stacks_fd, 0, SEEK_CUR);
    size_t len = 0;
    ssize_t n;
    char *text;

    if (end <= 0) {
        return;
    }
    if ((text = malloc((size_t)end)) == NULL) {
        pyw_dlog(stacks_level, PYW_LOG_STACKS, NULL, "  (a dump of %ld "
                 "bytes left out: no memory to read it)", (long)end);
    }
    else {
        while (len < (size_t)end
               && ((n = pread(stacks_fd, text + len, (size_t)end - len,
                              (off_t)len)) > 0
                   || (n < 0 && errno == EINTR))) {
            len += n > 0 ? (size_t)n : 0;
        }
        len = stacks_drop_blank_lines(text, len);
        pyw_dlog_text(stacks_level, PYW_LOG_STACKS, NULL, text, len);
        free(text);
    }
    if (ftruncate(stacks_fd, 0) == 0) {
        lseek(stacks_fd, 0, SEEK_SET);
    }
}

/* A named group's stack thread: see the top of the file. */
static void *stacks_thread(void *arg)
{
    stacks_entry_t *e = arg;

    /* Its first and only thread state: faulthandler dumps this
     * interpreter when the signal comes to this thread. */
    if (PyThreadState_New(e->ip->istate) == NULL) {
        return NULL;                /* never posts: the dump says so */
    }
    for (;;) {
        if (sem_wait(&e->go) == 0) {
            raise(stacks_signal);
            sem_post(&e->done);
        }
    }
    return NULL;
}

void pyw_stacks_add(pyw_interp_t *ip)
{
    stacks_entry_t *e;
    pthread_attr_t attr;
    pthread_t tid;
    int rc = -1;

    if (stacks_signal == 0 || (e = calloc(1, sizeof(*e))) == NULL) {
        return;
    }
    e->ip = ip;
    snprintf(e->head, sizeof(e->head), "Application group '%.100s' "
             "(interpreter %d):", ip->name, ip->index);
    sem_init(&e->go, 0, 0);
    sem_init(&e->done, 0, 0);
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, STACKS_THREAD_STACK);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&tid, &attr, stacks_thread, e);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        pyw_dlog(PYW_LOG_WARNING, STACKS_LOG_NONE, NULL, "application group "
                 "'%s': cannot start its stack thread (%s); timeouts will "
                 "be logged without its Python stacks", ip->name,
                 strerror(rc));
        free(e);
        return;
    }
    pthread_mutex_lock(&stacks_lock);
    stacks_named[stacks_n++] = e;
    pthread_mutex_unlock(&stacks_lock);
}

/* Ask e's thread for its dump and wait for it, a while at most. */
static void stacks_dump_named(stacks_entry_t *e)
{
    struct timespec until;

    while (sem_trywait(&e->done) == 0) {
        /* a late answer to an earlier dump */
    }
    stacks_log_written();               /* and what it wrote: not ours */
    pyw_dlog(stacks_level, PYW_LOG_STACKS, NULL, "%s", e->head);
    sem_post(&e->go);
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += STACKS_WAIT_MS / 1000;
    while (sem_timedwait(&e->done, &until) < 0) {
        if (errno != EINTR) {
            pyw_dlog(stacks_level, PYW_LOG_STACKS, NULL, "  (no dump: its "
                     "stack thread did not answer)");
            return;
        }
    }
    stacks_log_written();
}

int pyw_stacks_dump(int level)
{
    int i;

    if (stacks_signal == 0) {
        return -1;
    }
    /* One dump at a time (the watchdog and the operator's signal); the
     * list only grows, under the same lock. */
    pthread_mutex_lock(&stacks_lock);
    stacks_level = level;
    stacks_log_written();               /* nothing, or a late answer */
    if (stacks_n > 0) {
        pyw_dlog(level, PYW_LOG_STACKS, NULL, "Application group %%{GLOBAL} "
                 "(main interpreter):");
    }
    raise(stacks_signal);
    stacks_log_written();
    for (i = 0; i < stacks_n; i++) {
        stacks_dump_named(stacks_named[i]);
    }
    pthread_mutex_unlock(&stacks_lock);
    return 0;
}

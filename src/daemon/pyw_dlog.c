/*
 * pyw_dlog.c - Apache error-log lines written by the daemon process.
 *
 * The daemon has no server_rec, so it formats Apache's default
 * ErrorLogFormat itself:
 *   [Wed Nov 25 15:11:23.123456 2026] [pyworker:error] [pid 42:tid 7] \
 *       PYW0201: text (group=G pid=42 uri=/x)
 * (uri= when the line is about a request, or was logged on a worker
 * thread while it ran one).
 * Each line is built in a stack buffer and written with one write(), so
 * lines from many threads (and from Apache itself, which appends to the
 * same O_APPEND file) never interleave inside a line.  No locks, no
 * allocation: callable from any thread, with or without the GIL.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <sys/syscall.h>
#include <syslog.h>
#include <unistd.h>

#include "../common/pyw_logformat.h"
#include "pyw_dlog.h"

/* Longest message text on one line, escaped: a longer line of text goes
 * on over further lines (cut between characters), up to DLOG_MAX_PIECES
 * of them; the rest is cut and marked with "...". */
#define DLOG_MAX_MSG    8192
#define DLOG_MAX_PIECES 32
#define DLOG_URI_MAX    512
/* The suffix: " (group=G pid=N uri=U)", the uri escaped (4 bytes per
 * character at worst), the group a checked name of up to 64 bytes. */
#define DLOG_SUFFIX_MAX (4 * DLOG_URI_MAX + 128)
/* The message with its code, "..." and suffix: each always fits.  The
 * line is that in the group's ErrorLogFormat, with up to 1 KiB around
 * it. */
#define DLOG_LINE_MAX   (32 + DLOG_MAX_MSG + DLOG_SUFFIX_MAX)

/* Written once by pyw_dlog_init() before any thread exists; read-only
 * afterwards, so no locking is needed. */
static const char *dlog_group;
static int dlog_fd = 2;
static int dlog_level = PYW_LOG_WARNING;
static pyw_logformat_t *dlog_format;    /* NULL: not parsed yet */
static int dlog_format_given;           /* the group's server set one */
static const char *dlog_server;         /* %v: the group's ServerName */
static int dlog_to_syslog;              /* its ErrorLog is syslog */
static int dlog_request_fields;         /* ... %a, %L, %e, %i or %V */

/* The request this thread runs (pyw_dlog_set_request); its own. */
static __thread const char *dlog_thread_uri;
static __thread const char *dlog_thread_client;
static __thread const char *dlog_thread_log_id;
static __thread const char *const *dlog_thread_vars;

int pyw_dlog_fd(void)
{
    return dlog_fd;
}

void pyw_dlog_init(const char *group, int fd, int level,
                   const char *format, const char *server)
{
    dlog_group = group;
    dlog_fd = fd;
    dlog_level = level;
    dlog_server = server;
    if (format != NULL && dlog_format == NULL) {
        dlog_format = pyw_logformat_parse(format);  /* Apache checked it */
        dlog_format_given = dlog_format != NULL;
    }
    if (dlog_format == NULL) {
        dlog_format = pyw_logformat_parse(PYW_LOGFORMAT_DEFAULT);
    }
    dlog_request_fields = dlog_format_given
                          && (pyw_logformat_uses(dlog_format, 'a')
                              || pyw_logformat_uses(dlog_format, 'L')
                              || pyw_logformat_var_count(dlog_format) > 0);
    tzset();                    /* localtime_r() does not promise to */
}

void pyw_dlog_syslog(int facility, const char *tag)
{
    /* As Apache opens it, connected now (before the user changes);
     * without LOG_CONS, as a tenant's lines have no place on the
     * console. */
    openlog(tag, LOG_NDELAY | LOG_PID, facility);
    dlog_to_syslog = 1;
    if (!dlog_format_given) {
        pyw_logformat_free(dlog_format);
        dlog_format = pyw_logformat_parse(PYW_LOGFORMAT_SYSLOG);
    }
}

const char *pyw_dlog_thread_uri(void)
{
    return dlog_thread_uri;
}

int pyw_dlog_request_fields(void)
{
    return dlog_request_fields;
}

int pyw_dlog_request_var_count(void)
{
    return dlog_request_fields ? pyw_logformat_var_count(dlog_format) : 0;
}

const char *pyw_dlog_request_var_key(int i)
{
    return pyw_logformat_var_key(dlog_format, i);
}

void pyw_dlog_set_request(const char *uri, const char *client,
                          const char *log_id, const char *const *vars)
{
    dlog_thread_uri = uri;
    dlog_thread_client = client;
    dlog_thread_log_id = log_id;
    dlog_thread_vars = vars;
}

int pyw_dlog_enabled(int level)
{
    return level <= dlog_level;
}

/* Tiny bounded appender: every write is clipped to the buffer. */
typedef struct {
    char   *buf;
    size_t  len;
    size_t  cap;                /* usable bytes (one kept for "\n") */
} dlog_buf_t;

static void dlog_addf(dlog_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void dlog_addf(dlog_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (b->len >= b->cap) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n > 0) {
        b->len += (size_t)n < b->cap - b->len ? (size_t)n
                                              : b->cap - b->len - 1;
    }
}

/* 1 if ch is written as \xNN (like Apache's error log does), so that
 * one line of text is always one physical line. */
static int dlog_is_escaped(unsigned char ch)
{
    return ch < 0x20 && ch != '\t';
}

/* i, or if s[i] is inside a UTF-8 character, where that character starts:
 * a cut there leaves whole characters on both sides.  Text that is not
 * UTF-8 (more than 3 continuation bytes) is cut at i, so it moves on. */
static size_t dlog_char_start(const char *s, size_t i)
{
    size_t k = i;

    while (k > 0 && i - k < 3 && ((unsigned char)s[k] & 0xC0) == 0x80) {
        k--;
    }
    return ((unsigned char)s[k] & 0xC0) != 0x80 ? k : i;
}

/* How many of the n bytes at s fit in room bytes once escaped, ending
 * between two characters. */
static size_t dlog_fit(const char *s, size_t n, size_t room)
{
    size_t i, used = 0;

    for (i = 0; i < n; i++) {
        used += dlog_is_escaped((unsigned char)s[i]) ? 4 : 1;
        if (used > room) {
            return dlog_char_start(s, i);
        }
    }
    return n;
}

/* Append as much of s as fits, escaped and in whole characters. */
static void dlog_add_escaped(dlog_buf_t *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;

    n = dlog_fit(s, n, b->cap - b->len);
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];

        if (dlog_is_escaped(ch)) {
            b->buf[b->len++] = '\\';
            b->buf[b->len++] = 'x';
            b->buf[b->len++] = hex[ch >> 4];
            b->buf[b->len++] = hex[ch & 0xf];
        }
        else {
            b->buf[b->len++] = (char)ch;
        }
    }
}

/* The line in the group's ErrorLogFormat around the message. */
static size_t dlog_render(int level, const char *msg, size_t msglen,
                          char *line, size_t cap)
{
    pyw_logformat_ctx_t c;

    if (dlog_format == NULL) {          /* before init, or no memory */
        size_t n = msglen < cap ? msglen : cap - 1;

        memcpy(line, msg, n);
        line[n] = '\0';
        return n;
    }
    gettimeofday(&c.now, NULL);
    c.level = level;
    c.module = "pyworker";
    c.server = dlog_server;
    c.client = dlog_thread_client;
    c.log_id = dlog_thread_log_id;
    c.vars = dlog_thread_vars;
    c.pid = (long)getpid();
    c.tid = (unsigned long)pthread_self();
    c.sys_tid = (long)syscall(SYS_gettid);
    c.msg = msg;
    c.msg_len = msglen;
    return pyw_logformat_render(dlog_format, &c, line, cap);
}

/* Formats and writes one line; msg need not be NUL terminated, and
 * takes at most DLOG_MAX_MSG bytes escaped (dlog_fit), so the suffix
 * that tells whose line it is always fits. */
static void dlog_emit(int level, int code, const char *uri,
                      const char *msg, size_t msglen, int cut)
{
    char text[DLOG_LINE_MAX], line[DLOG_LINE_MAX + 1024];
    dlog_buf_t b = { text, 0, sizeof(text) - 1 };
    int saved_errno = errno;
    size_t len;
    ssize_t rv;

    if (code > 0) {
        dlog_addf(&b, PYW_LOGNO_FMT, code);
    }
    dlog_add_escaped(&b, msg, dlog_fit(msg, msglen, DLOG_MAX_MSG));
    if (cut) {
        dlog_addf(&b, "...");
    }
    if (uri == NULL) {
        uri = dlog_thread_uri;
    }
    if (dlog_group != NULL) {
        dlog_addf(&b, " (group=%s pid=%ld", dlog_group, (long)getpid());
    }
    else {
        dlog_addf(&b, " (pid=%ld", (long)getpid());
    }
    if (uri) {
        dlog_addf(&b, " uri=");
        dlog_add_escaped(&b, uri,
                         dlog_char_start(uri, strnlen(uri, DLOG_URI_MAX)));
    }
    dlog_addf(&b, ")");
    len = dlog_render(level, text, b.len, line, sizeof(line) - 1);
    if (dlog_to_syslog) {
        syslog(level, "%.*s", (int)len, line);
        errno = saved_errno;
        return;
    }
    line[len++] = '\n';         /* the - 1 above kept this byte */

    do {
        rv = write(dlog_fd, line, len);
    } while (rv < 0 && errno == EINTR);
    errno = saved_errno;        /* callers log errno-based messages */
}

/* One line of text as log lines of at most DLOG_MAX_MSG bytes each
 * (escaped), cut between characters, as print() cuts a long line: up to
 * DLOG_MAX_PIECES of them, the last marked "..." if text is left out
 * there (or was by the caller: cut). */
static void dlog_line(int level, int code, const char *uri,
                      const char *p, size_t n, int cut)
{
    int piece;

    for (piece = 1; ; piece++) {
        size_t k = dlog_fit(p, n, DLOG_MAX_MSG);    /* > 0 if n > 0 */

        if (k == n || piece == DLOG_MAX_PIECES) {
            dlog_emit(level, code, uri, p, k, cut || k < n);
            return;
        }
        dlog_emit(level, code, uri, p, k, 0);
        p += k;
        n -= k;
    }
}

void pyw_dlog(int level, int code, const char *uri, const char *fmt, ...)
{
    char msg[DLOG_MAX_MSG + 4];     /* + 4: the character cut at the end */
    va_list ap;
    int n;

    if (!pyw_dlog_enabled(level)) {
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if ((size_t)n > DLOG_MAX_MSG) {
        dlog_line(level, code, uri, msg, dlog_char_start(msg, DLOG_MAX_MSG),
                  1);
    }
    else {
        dlog_line(level, code, uri, msg, (size_t)n, 0);
    }
}

void pyw_dlog_text(int level, int code, const char *uri,
                   const char *text, size_t len)
{
    const char *p = text, *end = text + len;

    if (!pyw_dlog_enabled(level)) {
        return;
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl ? nl : end;
        size_t n = (size_t)(eol - p);

        if (n > 0 && p[n - 1] == '\r') {
            n--;
        }
        dlog_line(level, code, uri, p, n, 0);
        p = nl ? nl + 1 : end;
    }
}

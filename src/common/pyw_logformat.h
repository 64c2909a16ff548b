/*
 * pyw_logformat.h - Apache's ErrorLogFormat, for lines the daemons write.
 *
 * A daemon has no server_rec, so Apache's own formatter cannot run
 * there.  The process manager hands each daemon the ErrorLogFormat of
 * the server its group belongs to, and this renders it with the same
 * rules as Apache: the format splits into fields at a space that follows
 * text (or at "% "); an item with no output drops its whole field unless
 * it has the '-' modifier (then "-"); a level modifier (%7F) drops the
 * field for less verbose lines; %M is always written.
 *
 * A daemon knows the time, level, module, pid, thread, its group's
 * ServerName (%v) and the message, and on a line about a request its
 * client (%a), Apache's log id for it (%L, sent when the format asks
 * for it), and what the request's environ holds: %{NAME}e (a variable),
 * %{Name}i (a header, as HTTP_NAME) and %V (SERVER_NAME).  The items
 * about Apache's connection or request record (%A, %{c}a, %E, %F, %k,
 * %{c}L, %n) have no output there, so their fields are left out, as
 * Apache leaves out [client %a] on a line that is about no connection.
 */
#ifndef PYW_LOGFORMAT_H
#define PYW_LOGFORMAT_H

#include <stddef.h>
#include <sys/time.h>

/* Apache's own default, which the daemons used before formats. */
#define PYW_LOGFORMAT_DEFAULT "[%{u}t] [%m:%l] [pid %P:tid %T] %M"
/* The same to syslog, which stamps the time itself. */
#define PYW_LOGFORMAT_SYSLOG  "[%m:%l] [pid %P:tid %T] %M"

typedef struct pyw_logformat pyw_logformat_t;

typedef struct {
    int            level;       /* 0 emerg .. 7 debug                    */
    const char    *module;      /* %m                                    */
    const char    *server;      /* %v, or NULL                           */
    struct timeval now;         /* %t                                    */
    long           pid;         /* %P                                    */
    unsigned long  tid;         /* %T (pthread_self)                     */
    long           sys_tid;     /* %{g}T (gettid)                        */
    const char    *client;      /* %a: "ip:port" of the request, or NULL */
    const char    *log_id;      /* %L: the request's log id, or NULL     */
    const char *const *vars;    /* %e %i %V: the values of the format's
                                   environ keys (pyw_logformat_var_key),
                                   each NULL when absent; or NULL        */
    const char    *msg;         /* %M, already escaped                   */
    size_t         msg_len;
} pyw_logformat_ctx_t;

/* A malloc()ed parse of fmt (the directive's argument, unquoted), or
 * NULL if it has no %M, holds too many items, or memory is short. */
pyw_logformat_t *pyw_logformat_parse(const char *fmt);
void pyw_logformat_free(pyw_logformat_t *f);

/* 1 if the format has the item `letter` about the request, not the
 * connection (%L, not %{c}L: the request's log id, which Apache then
 * sends). */
int pyw_logformat_uses(const pyw_logformat_t *f, char letter);

/* The environ keys whose values a line about a request shows (%{NAME}e,
 * %{Name}i, %V), at most PYW_LOGFORMAT_MAX_VARS, each once: their
 * count, and the i'th. */
#define PYW_LOGFORMAT_MAX_VARS  8
int pyw_logformat_var_count(const pyw_logformat_t *f);
const char *pyw_logformat_var_key(const pyw_logformat_t *f, int i);

/* Renders one line (no newline) into buf, at most cap - 1 bytes and a
 * NUL; returns its length. */
size_t pyw_logformat_render(const pyw_logformat_t *f,
                            const pyw_logformat_ctx_t *ctx,
                            char *buf, size_t cap);

#endif /* PYW_LOGFORMAT_H */

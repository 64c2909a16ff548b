/*
 * pyw_log.h - Apache-side log macros: a PYWnnnn code and the context
 * (group, daemon pid, URI) on every line.  Levels are checked first.
 */
#ifndef PYW_LOG_H
#define PYW_LOG_H

#include "httpd.h"
#include "http_log.h"
#include "../common/pyw_logno.h"

#ifdef APLOG_USE_MODULE
APLOG_USE_MODULE(pyworker);
#endif

/* Request context: "... (group=G pid=P uri=U)".  pid 0 = not known. */
#define PYW_RLOG(level, status, r, code, group, dpid, fmt, ...)            \
    do {                                                                  \
        if (APLOG_R_IS_LEVEL((r), (level)))                               \
            ap_log_rerror(APLOG_MARK, (level), (status), (r),             \
                          PYW_LOGNO_FMT fmt " (group=%s pid=%ld uri=%s)", \
                          (code), ##__VA_ARGS__,                          \
                          (group) ? (group) : "-", (long)(dpid),          \
                          (r)->uri);                                      \
    } while (0)

/* Server context: "... (group=G pid=P)". */
#define PYW_SLOG(level, status, s, code, group, dpid, fmt, ...)           \
    do {                                                                  \
        if (APLOG_IS_LEVEL((s), (level)))                                 \
            ap_log_error(APLOG_MARK, (level), (status), (s),              \
                         PYW_LOGNO_FMT fmt " (group=%s pid=%ld)",         \
                         (code), ##__VA_ARGS__,                           \
                         (group) ? (group) : "-", (long)(dpid));          \
    } while (0)

#endif /* PYW_LOG_H */

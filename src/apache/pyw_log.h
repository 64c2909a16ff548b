/*
 * pyw_log.h - Apache-side log macros: a PYWnnnn code and the context
 * (group, daemon pid, URI) on every line.  Levels are checked first.
 *
 * Only what is known is written: "(group=G pid=P uri=U)" without group=
 * when no group applies (NULL) and without pid= before a daemon is
 * chosen (0), never "group=-" or "pid=0".
 */
#ifndef PYW_LOG_H
#define PYW_LOG_H

#include "apr_strings.h"
#include "httpd.h"
#include "http_log.h"
#include "../common/pyw_logno.h"

#ifdef APLOG_USE_MODULE
APLOG_USE_MODULE(pyworker);
#endif

#define PYW_LOG_CTX_MAX 160

/* "group=G pid=P" with the parts that are known; "" if none. */
static APR_INLINE const char *pyw_log_ctx(char *buf, apr_size_t len,
                                          const char *group, long pid)
{
    apr_size_t n = 0;

    buf[0] = '\0';
    if (group != NULL) {
        n = apr_snprintf(buf, len, "group=%s", group);
    }
    if (pid > 0 && n < len) {
        apr_snprintf(buf + n, len - n, "%spid=%ld", n ? " " : "", pid);
    }
    return buf;
}

/* The request's URI as the client sent it, query included, as the
 * daemon's lines and the status page name it: lines about one request
 * match on both sides.  (Apache escapes the line.) */
static APR_INLINE const char *pyw_log_uri(const request_rec *r)
{
    return r->unparsed_uri != NULL ? r->unparsed_uri : r->uri;
}

/* Request context: "... (group=G pid=P uri=U)". */
#define PYW_RLOG(level, status, r, code, group, dpid, fmt, ...)            \
    do {                                                                  \
        if (APLOG_R_IS_LEVEL((r), (level))) {                             \
            char pyw_ctx_[PYW_LOG_CTX_MAX];                               \
            const char *pyw_c_ = pyw_log_ctx(pyw_ctx_, sizeof(pyw_ctx_),  \
                                             (group), (long)(dpid));      \
            ap_log_rerror(APLOG_MARK, (level), (status), (r),             \
                          PYW_LOGNO_FMT fmt " (%s%suri=%s)",              \
                          (code), ##__VA_ARGS__, pyw_c_,                  \
                          *pyw_c_ ? " " : "", pyw_log_uri(r));            \
        }                                                                 \
    } while (0)

/* Server context: "... (group=G pid=P)", or nothing when neither is
 * known. */
#define PYW_SLOG(level, status, s, code, group, dpid, fmt, ...)           \
    do {                                                                  \
        if (APLOG_IS_LEVEL((s), (level))) {                               \
            char pyw_ctx_[PYW_LOG_CTX_MAX];                               \
            const char *pyw_c_ = pyw_log_ctx(pyw_ctx_, sizeof(pyw_ctx_),  \
                                             (group), (long)(dpid));      \
            ap_log_error(APLOG_MARK, (level), (status), (s),              \
                         PYW_LOGNO_FMT fmt "%s%s%s",                      \
                         (code), ##__VA_ARGS__, *pyw_c_ ? " (" : "",      \
                         pyw_c_, *pyw_c_ ? ")" : "");                     \
        }                                                                 \
    } while (0)

#endif /* PYW_LOG_H */

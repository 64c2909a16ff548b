/*
 * pyw_hcheck.h - mod_proxy_hcheck's health checks for pyworker://
 * members: when and whom (pyw_hcheck.c), one probe over the wire
 * protocol (pyw_hcheck_probe.c), and hcexpr's conditions on its answer
 * (pyw_hcheck_expr.c).
 */
#ifndef PYW_HCHECK_H
#define PYW_HCHECK_H

#include "apr_pools.h"
#include "apr_tables.h"
#include "apr_time.h"
#include "httpd.h"

#include "pyw_config.h"

/* The probe's HTTP_USER_AGENT, so that an application can tell a probe
 * from a visitor (and keep it out of its statistics). */
#define PYW_HC_USER_AGENT "mod_pyworker-health-check"

typedef struct {
    const pyw_group_t  *group;
    const char         *method;     /* "GET", "HEAD", "OPTIONS"; NULL: a
                                       connection and HELLO only (TCP)  */
    const char         *protocol;   /* SERVER_PROTOCOL: "HTTP/1.0" ..   */
    const char         *uri;        /* path and query, from '/'         */
    const char         *server_name;
    int                 server_port;
    apr_interval_time_t connect_timeout;
    apr_interval_time_t timeout;    /* the whole probe                  */
} pyw_hc_probe_t;

/* What a probe keeps of the body, for hcexpr's hc('body'). */
#define PYW_HC_BODY_MAX (256 * 1024)

typedef struct {
    int          passed;    /* connected (TCP) or answered 2xx/3xx       */
    int          status;    /* the application's status; 0: none came    */
    long         pid;       /* the daemon asked; 0: none                 */
    const char  *why;       /* a failure in words; NULL if passed        */
    apr_table_t *headers;   /* the response's; NULL: none came           */
    char        *body;      /* its first PYW_HC_BODY_MAX bytes           */
    apr_size_t   body_len;
} pyw_hc_result_t;

/* Probe pr->group once; allocations from p. */
void pyw_hc_probe(const pyw_hc_probe_t *pr, apr_pool_t *p,
                  pyw_hc_result_t *res);

/* Every ProxyHCExpr the configuration applies, parsed, by virtual host
 * (post_config). */
void pyw_hc_exprs_load(apr_pool_t *pconf, apr_pool_t *ptemp);

/* NULL if the condition `name` holds for the probe's answer, else why
 * not (mod_proxy_hcheck's hcexpr=, pyw_hcheck_expr.c). */
const char *pyw_hc_expr_check(const char *name, const pyw_hc_probe_t *pr,
                              const pyw_hc_result_t *res, server_rec *s,
                              apr_pool_t *p);

/* The watchdog that probes members with an hcmethod (needs mod_watchdog,
 * which mod_proxy_hcheck needs anyway). */
void pyw_hcheck_register_hooks(apr_pool_t *p);

#endif /* PYW_HCHECK_H */

/*
 * pyw_hcheck_expr.c - hcexpr= on a pyworker:// member: a ProxyHCExpr
 * condition (mod_proxy_hcheck's directive) evaluated on the answer to
 * our probe, as mod_proxy_hcheck evaluates it on its own.
 *
 * The conditions are mod_proxy_hcheck's configuration, which it keeps to
 * itself: they are read again from the configuration tree and parsed
 * with the same expression parser, so hc('body') and %{REQUEST_STATUS}
 * mean what they mean there (hc() is mod_proxy_hcheck's own function,
 * found through the expr_lookup hook).  As there, each virtual host has
 * its own (the main server's are not inherited: mod_proxy_hcheck refuses
 * a member naming one) and a later one of the same name wins.  The tree
 * holds only what applies: core drops a false <IfModule>, <IfDefine> and
 * their kin while it reads the files.  An expression runs against a
 * request record made for it, as mod_proxy_hcheck makes one: the probe's
 * method and URI, its status, the response headers and the body kept in
 * kept_body.
 */
#include <string.h>

#include "apr_buckets.h"
#include "apr_hash.h"
#include "apr_strings.h"
#include "ap_expr.h"
#include "httpd.h"
#include "http_config.h"
#include "http_protocol.h"
#include "http_request.h"
#include "util_cfgtree.h"

#include "pyw_conftree.h"
#include "pyw_hcheck.h"

/* scope -> name -> ap_expr_info_t * */
static apr_hash_t *pyw_hc_exprs;

typedef struct {
    apr_pool_t *p, *ptemp;
} pyw_hc_load_t;

static void pyw_hc_expr_add(void *baton, const char *scope,
                            const ap_directive_t *d)
{
    pyw_hc_load_t *load = baton;
    apr_pool_t *p = load->p, *ptemp = load->ptemp;
    const char *args = d->args;
    const char *name = ap_getword_conf(p, &args);
    const char *text = ap_getword_conf2(p, &args);
    ap_expr_info_t *info = apr_pcalloc(p, sizeof(*info));
    apr_hash_t *named = apr_hash_get(pyw_hc_exprs, scope,
                                     APR_HASH_KEY_STRING);

    info->filename = d->filename;
    info->line_number = d->line_num;
    if (*name == '\0' || *text == '\0'
        || ap_expr_parse(p, ptemp, info, text, NULL) != NULL) {
        return;                 /* mod_proxy_hcheck refused it already */
    }
    if (named == NULL) {
        named = apr_hash_make(p);
        apr_hash_set(pyw_hc_exprs, scope, APR_HASH_KEY_STRING, named);
    }
    apr_hash_set(named, name, APR_HASH_KEY_STRING, info);
}

void pyw_hc_exprs_load(apr_pool_t *pconf, apr_pool_t *ptemp)
{
    pyw_hc_load_t load = { pconf, ptemp };

    pyw_hc_exprs = apr_hash_make(pconf);
    pyw_conftree_each(pconf, "ProxyHCExpr", pyw_hc_expr_add, &load);
}

/* The condition `name` for a member of a balancer of s. */
static const ap_expr_info_t *pyw_hc_expr_find(const char *name,
                                              const server_rec *s,
                                              apr_pool_t *p)
{
    apr_hash_t *named = pyw_hc_exprs == NULL ? NULL
        : apr_hash_get(pyw_hc_exprs, pyw_conftree_scope(p, s),
                       APR_HASH_KEY_STRING);

    return named ? apr_hash_get(named, name, APR_HASH_KEY_STRING) : NULL;
}

/* A request record for the expression, as mod_proxy_hcheck's. */
static request_rec *pyw_hc_expr_request(const pyw_hc_probe_t *pr,
                                        const pyw_hc_result_t *res,
                                        server_rec *s, apr_pool_t *p)
{
    conn_rec *c = apr_pcalloc(p, sizeof(*c));
    request_rec *r = apr_pcalloc(p, sizeof(*r));

    c->pool = p;
    c->base_server = s;
    c->bucket_alloc = apr_bucket_alloc_create(p);
    c->conn_config = ap_create_conn_config(p);
    c->notes = apr_table_make(p, 1);
    c->client_ip = c->local_ip = "127.0.0.1";
    apr_sockaddr_info_get(&c->local_addr, "127.0.0.1", APR_INET,
                          (apr_port_t)pr->server_port, 0, p);
    c->client_addr = c->local_addr;
    r->pool = p;
    r->connection = c;
    r->server = s;
    r->per_dir_config = s->lookup_defaults;
    r->request_config = ap_create_request_config(p);
    r->method = pr->method;
    r->method_number = ap_method_number_of(pr->method);
    r->protocol = (char *)pr->protocol;
    r->uri = r->unparsed_uri = apr_pstrdup(p, pr->uri);
    r->hostname = pr->server_name;
    r->useragent_ip = c->client_ip;
    r->useragent_addr = c->client_addr;
    r->status = res->status;
    r->headers_in = apr_table_make(p, 1);
    r->headers_out = res->headers ? res->headers : apr_table_make(p, 1);
    r->err_headers_out = apr_table_make(p, 1);
    r->subprocess_env = apr_table_make(p, 1);
    r->notes = apr_table_make(p, 1);
    r->trailers_in = apr_table_make(p, 1);
    r->trailers_out = apr_table_make(p, 1);
    r->kept_body = apr_brigade_create(p, c->bucket_alloc);
    if (res->body_len > 0) {
        APR_BRIGADE_INSERT_TAIL(r->kept_body,
            apr_bucket_pool_create(res->body, res->body_len, p,
                                   c->bucket_alloc));
    }
    return r;
}

const char *pyw_hc_expr_check(const char *name, const pyw_hc_probe_t *pr,
                              const pyw_hc_result_t *res, server_rec *s,
                              apr_pool_t *p)
{
    const ap_expr_info_t *info = pyw_hc_expr_find(name, s, p);
    const char *err = NULL;
    int ok;

    if (info == NULL) {
        return apr_psprintf(p, "no ProxyHCExpr named %s", name);
    }
    ok = ap_expr_exec(pyw_hc_expr_request(pr, res, s, p), info, &err);
    if (ok < 0 || err != NULL) {
        return apr_psprintf(p, "hcexpr %s could not be evaluated: %s", name,
                            err ? err : "?");
    }
    return ok ? NULL : apr_psprintf(p, "hcexpr %s is false (answered %d)",
                                    name, res->status);
}

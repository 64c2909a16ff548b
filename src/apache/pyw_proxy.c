/*
 * pyw_proxy.c - the pyworker://GROUP/ scheme of mod_proxy.
 *
 *   ProxyPass /app pyworker://site1/
 *   <Proxy balancer://site>
 *       BalancerMember pyworker://zeo1
 *       BalancerMember pyworker://zeo2
 *   </Proxy>
 *
 * A request mod_proxy hands us runs through the handler's own path
 * (pyw_handler_serve: our connections and wire protocol, timeouts, the
 * status mapping and its log lines), in the group's script= or paste=
 * application, with the ProxyPass prefix as SCRIPT_NAME and the rest of
 * the path as PATH_INFO.  What differs is how failures reach mod_proxy:
 *
 *   the group took nothing (no connection within connect-timeout,
 *   every daemon turned it down, queue-timeout, no answer within
 *   socket-timeout with the request unread)       -> 503: mod_proxy puts
 *                                                    the member in error
 *                                                    for retry= and the
 *                                                    balancer fails over
 *   no answer within socket-timeout               -> 504, member in error
 *                                                    (the next requests go
 *                                                    elsewhere)
 *   500 (the application failed, or this request) -> 500 with the
 *                                                    "proxy-error-override"
 *                                                    note: no member in
 *                                                    error, and Apache
 *                                                    answers with its
 *                                                    ErrorDocument
 *   no such group, or no script= or paste=        -> 503: the member is
 *   (a member added in balancer-manager)             broken for everyone,
 *                                                    in error, fail-over
 *   refused for this request (another vhost's     -> 503 with the
 *   group, PyWorkerRestrictProcess)                  "proxy-error-override"
 *                                                    note: the member is
 *                                                    not to blame
 *   queue-limit reached (the group is full)       -> 503 with the
 *                                                    "proxy-error-override"
 *                                                    note: no member in
 *                                                    error, no fail-over
 *                                                    (byfreeworkers does
 *                                                    not choose a full
 *                                                    member)
 *   an error status claimed by ProxyErrorOverride -> returned with the
 *   (with its status list, httpd 2.4.47+) or by      "proxy-error-override"
 *   PyWorkerErrorOverride                            note: mod_proxy
 *                                                    neither fails over
 *                                                    nor marks the member,
 *                                                    and Apache answers
 *                                                    with its ErrorDocument
 *   anything else                                 -> returned as is
 *
 * mod_proxy is optional: nothing here links to a mod_proxy function (see
 * pyw_proxy_pre_config).
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apr_lib.h"
#include "apr_strings.h"
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "http_protocol.h"
#include "mod_proxy.h"

#include "pyw_config.h"
#include "pyw_handler.h"
#include "pyw_log.h"
#include "pyw_proxy.h"

#define PYW_PROXY_SCHEME      "pyworker"
#define PYW_PROXY_PREFIX      "pyworker://"
#define PYW_PROXY_PREFIX_LEN  (sizeof(PYW_PROXY_PREFIX) - 1)

/* mod_proxy's module record and its ProxyErrorOverride test, looked up
 * in pre_config (NULL: not loaded; an httpd older than 2.4.47 has no
 * such function and no status list). */
static module *pyw_proxy_module;
static __typeof__(ap_proxy_should_override) *pyw_proxy_should_override;

/* The group name in url, "pyworker://NAME/path?query" (pyw_proxy_url
 * made sure it begins so), and *rest: "/path?...". */
static const char *pyw_proxy_split(apr_pool_t *p, const char *url,
                                   const char **rest)
{
    const char *host = url + PYW_PROXY_PREFIX_LEN;
    size_t len = strcspn(host, "/?");

    *rest = host + len;
    return apr_pstrmemdup(p, host, len);
}

/*
 * 1 if the path the client wrote in its request line, percent-decoded,
 * has "pyworker:": the part that a reverse proxy to an http:// backend
 * can copy into the path of the URL it makes (raw with nocanon, decoded
 * through r->uri otherwise).  Not the query: mod_proxy keeps it after
 * the '?', where pyw_proxy_rewritten never looks, and a visitor's search
 * for "pyworker:" must not cost a rewrite its group.  (Only a rule that
 * copies the query into an http:// backend's path, %{QUERY_STRING} in
 * the target, could carry it into the path.)
 */
static int pyw_proxy_client_wrote_scheme(request_rec *r)
{
    const char *in = r->the_request ? ap_strchr_c(r->the_request, ' ')
                                    : NULL;
    char *out, *o;
    size_t len;

    if (in == NULL) {
        return 0;
    }
    in++;
    len = strcspn(in, " ?");
    o = out = apr_palloc(r->pool, len + 1);
    for (; len > 0; in++, len--) {
        char c = *in;

        if (len > 2 && in[0] == '%' && apr_isxdigit(in[1])
            && apr_isxdigit(in[2])) {
            char hex[3] = { in[1], in[2], '\0' };

            c = (char)strtol(hex, NULL, 16);
            in += 2;
            len -= 2;
        }
        if (c != '\0') {
            *o++ = c;       /* a %00 must not end the search early */
        }
    }
    *o = '\0';
    return strcasestr(out, PYW_PROXY_SCHEME ":") != NULL;
}

/*
 * "RewriteRule ... pyworker://g/path [P]": mod_rewrite knows a fixed list
 * of schemes and qualifies anything else with this server, so mod_proxy
 * is handed "http://thisserver[:port]/pyworker://g/path" (in a
 * <Directory> or .htaccess, the directory comes before "pyworker://").
 * The pyworker:// URL inside it, or NULL if url is anything else: a
 * reverse-proxy URL of this very server, qualified the way mod_rewrite
 * does it, with "/pyworker://" in its path.
 */
static const char *pyw_proxy_rewritten(request_rec *r, const char *url)
{
    const char *target, *scheme = ap_http_scheme(r);
    size_t len = strlen(scheme);
    apr_port_t port;
    const char *self;       /* "host[:port]/", as mod_rewrite writes it */

    if (r->proxyreq != PROXYREQ_REVERSE
        || (target = strcasestr(url, "/" PYW_PROXY_PREFIX)) == NULL
        || target > url + strcspn(url, "?")
        || strncasecmp(url, scheme, len) != 0
        || strncmp(url + len, "://", 3) != 0) {
        return NULL;
    }
    port = ap_get_server_port(r);
    self = apr_pstrcat(r->pool, ap_get_server_name_for_url(r),
                       ap_is_default_port(port, r) ? "" : ":",
                       ap_is_default_port(port, r) ? ""
                       : apr_itoa(r->pool, port), "/", NULL);
    url += len + 3;
    len = strlen(self);
    /* target is the slash ending self, or one further on. */
    return strncasecmp(url, self, len) == 0 && target >= url + len - 1
           ? target + 1 : NULL;
}

/*
 * The pyworker:// URL mod_proxy hands us (*ours), directly or from a
 * rewrite: OK; DECLINED if url is not ours; or 403 (logged) for a URL of
 * this server with "/pyworker://" in its path when the client wrote
 * "pyworker:" into its own path.  The same shape comes out of any
 * ProxyPass or RewriteRule to an http:// backend ("ProxyPass /jenkins
 * http://b:8080/jenkins nocanon" and a request for
 * /jenkins/pyworker://admin/ with "Host: b:8080", which makes "this
 * server" b:8080), and must not lead into a group, past the <Location>
 * and <Proxy> sections guarding it.  Nor may it be left to
 * mod_proxy_http: a rewrite's URL would come back to this server, match
 * the rule again and again, one Apache thread held per hop.
 */
static int pyw_proxy_url(request_rec *r, const char *url, const char **ours)
{
    if (strncasecmp(url, PYW_PROXY_PREFIX, PYW_PROXY_PREFIX_LEN) == 0) {
        *ours = url;
        return OK;
    }
    if ((*ours = pyw_proxy_rewritten(r, url)) == NULL) {
        return DECLINED;
    }
    if (pyw_proxy_client_wrote_scheme(r)) {
        PYW_RLOG(APLOG_WARNING, 0, r, 170, NULL, 0L, "%s: the client wrote "
                 "'pyworker:' into the path of a request that would be "
                 "proxied to this server: refused (403)", url);
        return HTTP_FORBIDDEN;
    }
    return OK;
}

/* mod_proxy lower-cases the host of a worker's URL: a group is found by
 * its name in any case. */
const pyw_group_t *pyw_proxy_find_group(const char *name)
{
    pyw_group_t **gs = (pyw_group_t **)pyw_globals.groups->elts;
    const pyw_group_t *g = pyw_config_find_group(name);
    int i;

    for (i = 0; g == NULL && i < pyw_globals.groups->nelts; i++) {
        if (strcasecmp(gs[i]->name, name) == 0) {
            g = gs[i];
        }
    }
    return g;
}

/* Canonical form of a direct ProxyPass target: the path escaped as
 * mod_proxy's own schemes do, the query string kept.  Unless nocanon
 * (the URL is the client's, raw, query and all), the path is decoded:
 * a '?' in it came from %3F and is part of the path.  mapping=encoded
 * ("proxy-noencode") hands it over escaped already, and escaping it
 * again would give the application "%20" for a space. */
static int pyw_proxy_canon(request_rec *r, char *url)
{
    const char *rest, *path, *name, *ours;
    int raw = apr_table_get(r->notes, "proxy-nocanon") != NULL
              || apr_table_get(r->notes, "proxy-noencode") != NULL;
    int status = pyw_proxy_url(r, url, &ours);

    if (status != OK) {
        return status;
    }
    name = pyw_proxy_split(r->pool, ours, &rest);
    if (*name == '\0') {
        PYW_RLOG(APLOG_ERR, 0, r, 160, NULL, 0L, "%s names no daemon "
                 "group", ours);
        return HTTP_BAD_REQUEST;
    }
    path = raw ? apr_pstrmemdup(r->pool, rest, strcspn(rest, "?"))
               : ap_os_escape_path(r->pool, rest, 1);
    r->filename = apr_pstrcat(r->pool, "proxy:" PYW_PROXY_PREFIX, name, path,
                              r->args ? "?" : "", r->args ? r->args : "",
                              NULL);
    return OK;
}

/* r->uri decoded as PATH_INFO is: mapping=encoded ("proxy-noencode")
 * maps the request before Apache decodes r->uri, and keeps it so. */
static const char *pyw_proxy_uri(request_rec *r, int decode_slashes)
{
    char *uri;

    if (apr_table_get(r->notes, "proxy-noencode") == NULL) {
        return r->uri;
    }
    uri = apr_pstrdup(r->pool, r->uri);
    return ap_unescape_url_keep2f(uri, decode_slashes) == OK ? uri : r->uri;
}

/*
 * SCRIPT_NAME and PATH_INFO from the URL mod_proxy made: its path (after
 * the group) is PATH_INFO, and what r->uri has before it is the
 * ProxyPass prefix, the SCRIPT_NAME.  "/app" -> pyworker://g/ gives
 * "/app" and "", "/app/x" gives "/app" and "/x".
 */
static int pyw_proxy_paths(request_rec *r, const char *rest,
                           pyw_handler_app_t *app)
{
    char *pi = apr_pstrmemdup(r->pool, rest, strcspn(rest, "?"));
    core_dir_config *core = ap_get_core_module_config(r->per_dir_config);
    const char *uri = pyw_proxy_uri(r, core->decode_encoded_slashes);
    size_t ulen = strlen(uri), plen;

    /* %2F as Apache decoded r->uri (AllowEncodedSlashes NoDecode keeps
     * it), or the tail would not match and SCRIPT_NAME be lost. */
    if (ap_unescape_url_keep2f(pi, core->decode_encoded_slashes) != OK) {
        return HTTP_BAD_REQUEST;
    }
    while (pi[0] == '/' && pi[1] == '/') {
        pi++;               /* ProxyPass /app pyworker://g/ and "/app/x" */
    }
    if (strcmp(pi, "/") == 0 && (ulen == 0 || uri[ulen - 1] != '/')) {
        pi[0] = '\0';
    }
    plen = strlen(pi);
    app->path_info = pi;
    app->script_name = plen <= ulen && strcmp(uri + ulen - plen, pi) == 0
                       ? apr_pstrmemdup(r->pool, uri, ulen - plen) : "";
    return OK;
}

/* Body bytes in both directions (a chunked request's too), for
 * balancer-manager and bytraffic. */
static void pyw_proxy_count(request_rec *r, proxy_worker *worker,
                            const pyw_forward_outcome_t *how)
{
    worker->s->transferred += how->body_sent;
    worker->s->read += r->bytes_sent;
}

/* Take a member out until its retry= passes, as mod_proxy does for a
 * 503 (a member that ignores errors stays). */
static void pyw_proxy_member_failed(request_rec *r, proxy_worker *worker,
                                    const pyw_group_t *g)
{
    if (worker->s->status & PROXY_WORKER_IGNORE_ERRORS) {
        return;
    }
    worker->s->error_time = apr_time_now();
    worker->s->status |= PROXY_WORKER_IN_ERROR;
    PYW_RLOG(APLOG_WARNING, 0, r, 162, g->name, 0L, "%s did not answer "
             "in time: in error state for its retry interval",
             worker->s->name_ex);
}

/* ProxyErrorOverride in force for r claims status, as for mod_proxy's
 * own backends; or PyWorkerErrorOverride does. */
static int pyw_proxy_error_override(request_rec *r, int status)
{
    proxy_dir_conf *d = pyw_proxy_module == NULL ? NULL
        : ap_get_module_config(r->per_dir_config, pyw_proxy_module);

    if (d != NULL && (pyw_proxy_should_override != NULL
                      ? pyw_proxy_should_override(d, status)
                      : d->error_override && ap_is_HTTP_ERROR(status))) {
        return 1;
    }
    return pyw_handler_error_override(r, status);
}

static int pyw_proxy_status(request_rec *r, proxy_worker *worker,
                            const pyw_group_t *g, int status,
                            const pyw_forward_outcome_t *how)
{
    pyw_forward_result_e result = how->result;

    if (result == PYW_FWD_OVERRIDDEN) {
        /* The app's own answer: no fail-over, no member in error. */
        apr_table_setn(r->notes, "proxy-error-override", "1");
        return status;
    }

    if (result == PYW_FWD_QUEUE_FULL) {
        /* Overload, not failure: a member in error would be out for its
         * whole retry= (60 s), long after the burst. */
        apr_table_setn(r->notes, "proxy-error-override", "1");
        return status;
    }
    if (result == PYW_FWD_NO_BACKEND || result == PYW_FWD_NOT_RUN
        || (result == PYW_FWD_TIMEOUT && how->request_unread
            && !how->committed)
        || (result == PYW_FWD_APP_ERROR
            && status == HTTP_SERVICE_UNAVAILABLE)) {
        return HTTP_SERVICE_UNAVAILABLE;    /* nothing ran: fail over */
    }
    if (result == PYW_FWD_TIMEOUT && status == HTTP_GATEWAY_TIME_OUT) {
        pyw_proxy_member_failed(r, worker, g);
    }
    if (status == HTTP_INTERNAL_SERVER_ERROR) {
        /* The application failed (or this request did): a 500 without
         * the note would put a healthy member in error.  Apache answers
         * with its ErrorDocument, as for PyWorkerScriptAlias. */
        apr_table_setn(r->notes, "proxy-error-override", "1");
    }
    return status;
}

/*
 * mod_proxy's timeouts, as its other schemes honour them: the member's
 * timeout= (the most particular), else the group's socket-timeout, else
 * ProxyTimeout, else Apache's Timeout.  mod_proxy copies ProxyTimeout
 * into a worker without timeout=, so the same value is taken for it.
 * Set for each member anew: a request that fails over comes back here
 * for another.
 */
static void pyw_proxy_timeout(request_rec *r, const proxy_worker *worker,
                              const proxy_server_conf *conf,
                              const pyw_group_t *g)
{
    int global = conf->timeout_set && conf->timeout > 0;
    apr_interval_time_t t = 0;
    const char *from = NULL;

    if (worker->s->timeout_set && worker->s->timeout > 0
        && !(global && worker->s->timeout == conf->timeout)) {
        t = worker->s->timeout;
        from = "the member's timeout=";
    }
    else if (g->socket_timeout_ms <= 0 && global) {
        t = conf->timeout;
        from = "ProxyTimeout";
    }
    if (from == NULL) {
        apr_table_unset(r->notes, PYW_HANDLER_TIMEOUT_NOTE);
        apr_table_unset(r->notes, PYW_HANDLER_TIMEOUT_FROM);
        return;
    }
    apr_table_setn(r->notes, PYW_HANDLER_TIMEOUT_NOTE,
                   apr_psprintf(r->pool, "%" APR_INT64_T_FMT,
                                (apr_int64_t)apr_time_as_msec(t)));
    apr_table_setn(r->notes, PYW_HANDLER_TIMEOUT_FROM, from);
}

/* The group's application, or a status (logged). */
static int pyw_proxy_app(request_rec *r, const char *name, const char *rest,
                         const pyw_group_t **gp, pyw_handler_app_t *app)
{
    const pyw_group_t *g = pyw_proxy_find_group(name);
    apr_finfo_t finfo;
    int status;

    /* No such group, or (below) no application: the member fails every
     * request (one added in balancer-manager, which configtest never
     * saw).  A plain 503 puts it in error and the balancer fails over. */
    if (g == NULL) {
        PYW_RLOG(APLOG_ERR, 0, r, 160, name, 0L, "pyworker://%s names no "
                 "PyWorkerDaemonProcess", name);
        return HTTP_SERVICE_UNAVAILABLE;
    }
    if ((status = pyw_handler_group(r, g->name, gp)) != OK) {
        /* Refused for this request (another vhost's group,
         * PyWorkerRestrictProcess): nothing wrong with the member, so it
         * is not put in error.  Else a tenant's .htaccess rewrite to a
         * balancer it may not use would take its members out for every
         * other site. */
        apr_table_setn(r->notes, "proxy-error-override", "1");
        return HTTP_SERVICE_UNAVAILABLE;
    }
    if (g->app_file == NULL) {
        PYW_RLOG(APLOG_ERR, 0, r, 161, g->name, 0L, "the group has no "
                 "script= or paste= for requests through mod_proxy");
        return HTTP_SERVICE_UNAVAILABLE;
    }
    /* script-user= / script-group= hold for the group's own file too. */
    finfo.valid = 0;
    if ((status = pyw_handler_check_owner(r, g, g->app_file, &finfo))
        != OK) {
        return status;
    }
    memset(app, 0, sizeof(*app));
    app->error_override = pyw_proxy_error_override;
    app->script_filename = g->app_file;
    app->paste_app = g->app_paste_name;
    app->application_group = g->application_group;
    app->callable_object = g->callable_object;
    return pyw_proxy_paths(r, rest, app);
}

static int pyw_proxy_handler(request_rec *r, proxy_worker *worker,
                             proxy_server_conf *conf, char *url,
                             const char *proxyname, apr_port_t proxyport)
{
    const char *rest, *name, *ours;
    const pyw_group_t *g = NULL;
    pyw_handler_app_t app;
    pyw_forward_outcome_t how;
    int status;

    /* A rewrite in a <Directory> reaches us unseen by the canon hook,
     * which mod_proxy ran before mod_rewrite's fixup made the URL. */
    if ((status = pyw_proxy_url(r, url, &ours)) != OK) {
        return status;
    }
    name = pyw_proxy_split(r->pool, ours, &rest);
    /* A failed-over request comes back here: a new answer. */
    apr_table_unset(r->err_headers_out, "Retry-After");
    if ((status = pyw_proxy_app(r, name, rest, &g, &app)) != OK) {
        return status;
    }
    pyw_proxy_timeout(r, worker, conf, g);
    PYW_RLOG(APLOG_DEBUG, 0, r, 163, g->name, 0L, "through mod_proxy (%s): "
             "SCRIPT_NAME '%s' PATH_INFO '%s'", worker->s->name_ex,
             app.script_name, app.path_info);
    status = pyw_handler_serve(r, g, &app, &how);
    pyw_proxy_count(r, worker, &how);
    return pyw_proxy_status(r, worker, g, status, &how);
}

/* ---- configtest ---- */

/* 1 if what comes after "pyworker://" in a worker's name is the host
 * mod_proxy parsed out of it, with no port or user: the handler takes
 * the whole of it as the group's name. */
static int pyw_proxy_names_host_only(const proxy_worker *w)
{
    const char *host = ap_strstr_c(w->s->name_ex, "://");

    if (host == NULL) {
        return 0;
    }
    host += 3;
    return strlen(w->s->hostname_ex) == strcspn(host, "/?")
           && strncasecmp(host, w->s->hostname_ex,
                          strlen(w->s->hostname_ex)) == 0;
}

/* What is wrong with a worker mod_proxy defined (ProxyPass target or
 * BalancerMember) in server s, or NULL.  own: defined in s itself, not
 * inherited from the main server (whose workers serve every vhost, so a
 * vhost's group may be right for some of them). */
static const char *pyw_proxy_worker_problem(server_rec *s,
                                            const proxy_worker *w, int own,
                                            int *code)
{
    const pyw_group_t *g;

    if (w == NULL || w->s == NULL
        || strcasecmp(w->s->scheme, PYW_PROXY_SCHEME) != 0) {
        return NULL;
    }
    if (!pyw_proxy_names_host_only(w)) {
        *code = 169;
        return "has more than a group name after pyworker:// (a port?): "
               "write pyworker://GROUP";
    }
    if ((g = pyw_proxy_find_group(w->s->hostname_ex)) == NULL) {
        *code = 160;
        return "names no PyWorkerDaemonProcess";
    }
    if (g->app_file == NULL) {
        *code = 161;
        return "names a group without script= or paste=";
    }
    if (own && !pyw_config_group_visible(g, s)) {
        *code = 3;
        return "names a group defined in another virtual host";
    }
    return NULL;
}

/* 1 if a vhost's worker or balancer (by its shared record) came from the
 * main server's configuration, which mod_proxy appends to each vhost's. */
static int pyw_proxy_inherited(const apr_array_header_t *main_items,
                               size_t size, const void *shared)
{
    int i;

    for (i = 0; main_items != NULL && i < main_items->nelts; i++) {
        const char *item = main_items->elts + (size_t)i * size;

        if (size == sizeof(proxy_worker)
            ? ((const proxy_worker *)item)->s == shared
            : ((const proxy_balancer *)item)->s == shared) {
            return 1;
        }
    }
    return 0;
}

/* Every pyworker:// worker of server s, direct and balancer members;
 * the first problem is logged.  main: the main server's configuration
 * (NULL for the main server itself). */
static int pyw_proxy_check_server(server_rec *s, const proxy_server_conf *c,
                                  const proxy_server_conf *main)
{
    const proxy_worker *w = (const proxy_worker *)c->workers->elts;
    const proxy_balancer *b = (const proxy_balancer *)c->balancers->elts;
    const proxy_worker *bad = NULL;
    const char *why = NULL;
    int i, j, own, code = 0;

    for (i = 0; why == NULL && i < c->workers->nelts; i++) {
        own = main != NULL && !pyw_proxy_inherited(main->workers,
                                                   sizeof(proxy_worker),
                                                   w[i].s);
        why = pyw_proxy_worker_problem(s, bad = &w[i], own, &code);
    }
    for (i = 0; why == NULL && i < c->balancers->nelts; i++) {
        own = main != NULL && !pyw_proxy_inherited(main->balancers,
                                                   sizeof(proxy_balancer),
                                                   b[i].s);
        for (j = 0; why == NULL && j < b[i].workers->nelts; j++) {
            bad = APR_ARRAY_IDX(b[i].workers, j, proxy_worker *);
            why = pyw_proxy_worker_problem(s, bad, own, &code);
        }
    }
    if (why == NULL) {
        return OK;
    }
    PYW_SLOG(APLOG_STARTUP | APLOG_ERR, 0, s, code, NULL, 0L, "%s %s",
             bad->s->name_ex, why);
    return HTTP_INTERNAL_SERVER_ERROR;
}

/* configtest refuses a pyworker:// URL that cannot work.  mod_proxy's
 * configuration is read through its module record, found by name. */
static int pyw_proxy_check_config(apr_pool_t *pconf, apr_pool_t *plog,
                                  apr_pool_t *ptemp, server_rec *s)
{
    module *m = ap_find_linked_module("mod_proxy.c");
    const proxy_server_conf *c, *main = NULL;

    for (; m != NULL && s != NULL; s = s->next) {
        c = ap_get_module_config(s->module_config, m);
        if (c != NULL && pyw_proxy_check_server(s, c, main) != OK) {
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        if (!s->is_virtual) {
            main = c;
        }
    }
    return OK;
}

/* Our hooks run before mod_proxy_http's, which would take a rewritten
 * URL ("http://thisserver/pyworker://...") for its own. */
static const char *const before[] = { "mod_proxy_http.c", NULL };

/*
 * mod_proxy's scheme and canon hooks are its own (external) hooks: the
 * functions that add to them live in mod_proxy.so.  A reference to them
 * would make mod_pyworker.so fail to load without mod_proxy, so they are
 * looked up by name once every LoadModule has been read (pre_config runs
 * after that, and Apache sorts the hooks again after it), in each
 * configuration cycle, since each one starts with no hooks at all.
 */
static int pyw_proxy_pre_config(apr_pool_t *pconf, apr_pool_t *plog,
                                apr_pool_t *ptemp)
{
    __typeof__(proxy_hook_scheme_handler) *scheme =
        (__typeof__(scheme))dlsym(RTLD_DEFAULT, "proxy_hook_scheme_handler");
    __typeof__(proxy_hook_canon_handler) *canon =
        (__typeof__(canon))dlsym(RTLD_DEFAULT, "proxy_hook_canon_handler");

    pyw_proxy_module = ap_find_linked_module("mod_proxy.c");
    pyw_proxy_should_override = (__typeof__(pyw_proxy_should_override))
        dlsym(RTLD_DEFAULT, "ap_proxy_should_override");
    if (scheme != NULL && canon != NULL) {
        scheme(pyw_proxy_handler, NULL, before, APR_HOOK_FIRST);
        canon(pyw_proxy_canon, NULL, before, APR_HOOK_FIRST);
    }
    else if (ap_find_linked_module("mod_proxy.c") != NULL) {
        /* No server yet: the line goes to stderr at start-up. */
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_WARNING, 0, NULL,
                     PYW_LOGNO_FMT "mod_proxy is loaded but its hook "
                     "functions are not visible (%s): pyworker:// URLs "
                     "will not be served", 55, dlerror());
    }
    return OK;
}

void pyw_proxy_register_hooks(apr_pool_t *p)
{
    ap_hook_pre_config(pyw_proxy_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_check_config(pyw_proxy_check_config, NULL, NULL,
                         APR_HOOK_MIDDLE);
}

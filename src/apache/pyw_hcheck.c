/*
 * pyw_hcheck.c - health checks of pyworker:// balancer members, with
 * mod_proxy_hcheck's own settings:
 *
 *   <Proxy balancer://site>
 *       BalancerMember pyworker://zeo1 hcmethod=GET hcuri=/ok hcinterval=5
 *       BalancerMember pyworker://zeo2 hctemplate=plone
 *   </Proxy>
 *
 * mod_proxy_hcheck probes a member by connecting to its host and port
 * and speaking HTTP; a daemon group has neither, so that probe would fail
 * and take a healthy member out of service.  Everything but the probe
 * stays mod_proxy's: the settings (hcmethod, hcuri, hcinterval, hcpasses,
 * hcfails, ProxyHCTemplate) and the state in the member's shared record
 * (its pass and fail counts and the HC_FAIL flag that balancer-manager
 * shows and can change, and that takes the member out of the balancer).
 * The probe is ours (pyw_hcheck_probe.c): over the group's connections
 * and wire protocol, from a watchdog of our own in one Apache child, as
 * mod_proxy_hcheck runs its own.  The member's path and hcuri make the
 * probe's PATH_INFO, as the path of a request through the balancer.
 *
 * mod_proxy_hcheck is kept off these members through their "last
 * checked" time, which is set into the far future: it probes a member
 * only once hcinterval has passed since then.  A member gets that time
 * in the parent at start-up (before any child runs a check) and again on
 * every pass of our watchdog (hcmethod set in balancer-manager, members
 * added there).
 *
 * Passes and fails count in a row: hcfails=3 takes a member out after
 * three failed probes with no pass between them (HAProxy's "fall");
 * hcpasses=2 brings it back after two passes in a row ("rise").  With
 * hcexpr=, its ProxyHCExpr condition decides instead of the status
 * (pyw_hcheck_expr.c).
 */
#include <dlfcn.h>
#include <string.h>
#include <strings.h>

#include "apr_atomic.h"
#include "apr_hash.h"
#include "apr_optional.h"
#include "apr_strings.h"
#include "apr_thread_mutex.h"
#include "apr_thread_pool.h"
#include "apr_uri.h"
#include "httpd.h"
#include "http_config.h"
#include "http_core.h"
#include "mod_proxy.h"
#include "mod_watchdog.h"

#include "pyw_hcheck.h"
#include "pyw_log.h"
#include "pyw_procmgr.h"
#include "pyw_proxy.h"

#define PYW_HC_WATCHDOG  "_pyworker_hcheck_"
#define PYW_HC_THREADS   8      /* probes at once, each its own member */
#define PYW_HC_NEVER     ((apr_time_t)1 << 62)

/* One pyworker:// member with an hcmethod, as this child knows it. */
typedef struct {
    proxy_worker_shared *shared;    /* the member's record in shm       */
    server_rec          *server;    /* whose balancer it is in          */
    const pyw_group_t   *group;
    const char          *path;      /* of its URL: "" or "/sub"         */
    apr_time_t           due;       /* the next probe                   */
    volatile apr_uint32_t busy;     /* a probe of it is running         */
} pyw_hc_member_t;

typedef struct {
    pyw_hc_member_t     *member;
    pyw_hc_probe_t       probe;
    const char          *what;      /* "TCP", "GET /ok": for the log    */
    apr_pool_t          *pool;      /* unmanaged: made and destroyed by
                                       different threads                */
} pyw_hc_task_t;

static server_rec *pyw_hc_main_server;
static module *pyw_hc_proxy;        /* mod_proxy's record, by name      */
static apr_pool_t *pyw_hc_pool;     /* the watchdog's own, in its child */
static apr_hash_t *pyw_hc_members;  /* proxy_worker_shared * -> member  */
static apr_thread_pool_t *pyw_hc_threads;
static __typeof__(ap_proxy_sync_balancer) *pyw_hc_sync;

/* The group of a pyworker:// member w, else NULL. */
static const pyw_group_t *pyw_hc_group(const proxy_worker *w)
{
    if (w->s == NULL || strcasecmp(w->s->scheme, "pyworker") != 0) {
        return NULL;
    }
    return pyw_proxy_find_group(w->s->hostname_ex);
}

/* Members added in balancer-manager since the last look, under the lock
 * mod_proxy_balancer takes for the same. */
static void pyw_hc_sync_balancer(proxy_balancer *b, server_rec *s,
                                 proxy_server_conf *conf)
{
    if (pyw_hc_sync == NULL) {
        return;
    }
#if APR_HAS_THREADS
    if (b->tmutex != NULL && apr_thread_mutex_lock(b->tmutex) != APR_SUCCESS) {
        return;
    }
#endif
    pyw_hc_sync(b, s, conf);
#if APR_HAS_THREADS
    if (b->tmutex != NULL) {
        apr_thread_mutex_unlock(b->tmutex);
    }
#endif
}

/* Call fn for each pyworker:// member of every balancer of every server
 * (with an hcmethod or not: balancer-manager can give it one). */
static void pyw_hc_each(server_rec *s, int sync,
                        void (*fn)(proxy_worker *w, const pyw_group_t *g,
                                   server_rec *s))
{
    proxy_server_conf *conf;
    proxy_balancer *b;
    proxy_worker *w;
    const pyw_group_t *g;
    int i, j;

    for (; pyw_hc_proxy != NULL && s != NULL; s = s->next) {
        conf = ap_get_module_config(s->module_config, pyw_hc_proxy);
        b = conf ? (proxy_balancer *)conf->balancers->elts : NULL;
        for (i = 0; b != NULL && i < conf->balancers->nelts; i++) {
            if (sync) {
                pyw_hc_sync_balancer(&b[i], s, conf);
            }
            for (j = 0; j < b[i].workers->nelts; j++) {
                w = APR_ARRAY_IDX(b[i].workers, j, proxy_worker *);
                if ((g = pyw_hc_group(w)) != NULL) {
                    fn(w, g, s);
                }
            }
        }
    }
}

static void pyw_hc_keep_hcheck_off(proxy_worker *w, const pyw_group_t *g,
                                   server_rec *s)
{
    w->s->updated = PYW_HC_NEVER;
}

/* ---- the outcome of a probe, in the member's shared record ---- */

static void pyw_hc_failed(const pyw_hc_task_t *t, const pyw_hc_result_t *res)
{
    proxy_worker_shared *sh = t->member->shared;
    const pyw_hc_probe_t *pr = &t->probe;

    sh->error_time = apr_time_now();
    if (++sh->fcount < (sh->fails > 0 ? sh->fails : 1)) {
        return;
    }
    sh->fcount = 0;
    sh->status |= PROXY_WORKER_HC_FAIL;
    PYW_SLOG(APLOG_WARNING, 0, t->member->server, 165, pr->group->name,
             res->pid, "%s is out of the balancer: its health check "
             "(%s) failed %d time(s) in a row: %s", sh->name_ex, t->what,
             sh->fails > 0 ? sh->fails : 1, res->why);
}

static void pyw_hc_passed(const pyw_hc_task_t *t,
                          const pyw_hc_result_t *res)
{
    proxy_worker_shared *sh = t->member->shared;

    if (++sh->pcount < (sh->passes > 0 ? sh->passes : 1)) {
        return;
    }
    sh->pcount = 0;
    sh->status &= ~(PROXY_WORKER_HC_FAIL | PROXY_WORKER_IN_ERROR);
    PYW_SLOG(APLOG_NOTICE, 0, t->member->server, 166, t->probe.group->name,
             res->pid, "%s is back in the balancer: its health check "
             "passed %d time(s) in a row", sh->name_ex,
             sh->passes > 0 ? sh->passes : 1);
}

/* Passes and fails count in a row: the other outcome starts again. */
static void pyw_hc_account(const pyw_hc_task_t *t,
                           const pyw_hc_result_t *res)
{
    proxy_worker_shared *sh = t->member->shared;

    PYW_SLOG(APLOG_DEBUG, 0, t->member->server, 167, t->probe.group->name,
             res->pid, "health check of %s (%s): %s%s", sh->name_ex,
             t->what, res->passed ? "passed, " : "failed: ",
             !res->passed ? res->why : res->status == 0 ? "connected"
             : apr_psprintf(t->pool, "answered %d", res->status));
    if (sh->status & PROXY_WORKER_HC_FAIL) {
        if (res->passed) {
            pyw_hc_passed(t, res);
        }
        else {
            sh->pcount = 0;
        }
    }
    else if (res->passed) {
        sh->fcount = 0;
    }
    else {
        pyw_hc_failed(t, res);
    }
}

static void *APR_THREAD_FUNC pyw_hc_run(apr_thread_t *thread, void *arg)
{
    pyw_hc_task_t *t = arg;
    pyw_hc_member_t *m = t->member;
    pyw_hc_result_t res;

    pyw_hc_probe(&t->probe, t->pool, &res);
    if (res.status != 0 && m->shared->hcexpr[0] != '\0') {
        /* A condition decides instead of the status, as in hcheck. */
        res.why = pyw_hc_expr_check(m->shared->hcexpr, &t->probe, &res,
                                    m->server, t->pool);
        res.passed = res.why == NULL;
    }
    pyw_hc_account(t, &res);
    apr_pool_destroy(t->pool);
    apr_atomic_set32(&m->busy, 0);
    return NULL;
}

/* ---- the probe a member's settings ask for ---- */

static const char *pyw_hc_method(hcmethod_t m, const char **protocol)
{
    *protocol = m == OPTIONS11 || m == HEAD11 || m == GET11 ? "HTTP/1.1"
                                                            : "HTTP/1.0";
    switch (m) {
    case OPTIONS: case OPTIONS11:
        return "OPTIONS";
    case HEAD: case HEAD11:
        return "HEAD";
    case TCP:
        return NULL;
    default:
        return "GET";
    }
}

/* The member's path and hcuri with one '/' between them. */
static const char *pyw_hc_uri(apr_pool_t *p, const char *path,
                              const char *hcuri)
{
    size_t len = strlen(path);

    while (len > 0 && path[len - 1] == '/') {
        len--;
    }
    while (*hcuri == '/') {
        hcuri++;
    }
    return apr_pstrcat(p, apr_pstrmemdup(p, path, len), "/", hcuri, NULL);
}

/* How long a probe may take: the member's timeout=, else the group's
 * socket-timeout, else Apache's Timeout (mod_proxy_hcheck's probe waits
 * for Timeout too).  Not hcinterval: a slow first answer of a healthy
 * application must not take it out, and no second probe of the member
 * starts while one runs. */
static apr_interval_time_t pyw_hc_timeout(const pyw_hc_member_t *m)
{
    const pyw_group_t *g = m->group;

    return m->shared->timeout_set ? m->shared->timeout
        : g->socket_timeout_ms > 0 ? apr_time_from_msec(g->socket_timeout_ms)
        : m->server->timeout;
}

static void pyw_hc_start(pyw_hc_member_t *m)
{
    proxy_worker_shared *sh = m->shared;
    pyw_hc_task_t *t;
    apr_pool_t *p;

    if (apr_pool_create_unmanaged_ex(&p, NULL, NULL) != APR_SUCCESS) {
        return;
    }
    t = apr_pcalloc(p, sizeof(*t));
    t->member = m;
    t->pool = p;
    t->probe.group = m->group;
    t->probe.method = pyw_hc_method(sh->method, &t->probe.protocol);
    t->probe.uri = pyw_hc_uri(p, m->path, sh->hcuri);
    t->what = t->probe.method == NULL ? "TCP"
              : apr_pstrcat(p, t->probe.method, " ", t->probe.uri, NULL);
    t->probe.server_name = m->server->server_hostname
                           ? m->server->server_hostname : "localhost";
    t->probe.server_port = m->server->port ? m->server->port : 80;
    t->probe.connect_timeout = apr_time_from_msec(
        m->group->connect_timeout_ms > 0 ? m->group->connect_timeout_ms
                                         : PYW_DEFAULT_CONNECT_MS);
    t->probe.timeout = pyw_hc_timeout(m);
    apr_atomic_set32(&m->busy, 1);
    if (pyw_hc_threads == NULL
        || apr_thread_pool_push(pyw_hc_threads, pyw_hc_run, t,
                                APR_THREAD_TASK_PRIORITY_NORMAL, NULL)
           != APR_SUCCESS) {
        pyw_hc_run(NULL, t);
    }
}

/* This child's record of w, made on first sight. */
static pyw_hc_member_t *pyw_hc_member(proxy_worker *w, const pyw_group_t *g,
                                      server_rec *s)
{
    pyw_hc_member_t *m = apr_hash_get(pyw_hc_members, &w->s, sizeof(w->s));
    apr_uri_t uri;

    if (m == NULL) {
        m = apr_pcalloc(pyw_hc_pool, sizeof(*m));
        m->shared = w->s;
        m->server = s;
        m->group = g;
        m->path = apr_uri_parse(pyw_hc_pool, w->s->name_ex, &uri)
                  == APR_SUCCESS && uri.path != NULL ? uri.path : "";
        apr_hash_set(pyw_hc_members, &m->shared, sizeof(m->shared), m);
    }
    return m;
}

/* A group with no daemon running that may sleep (start=on-demand, or
 * idle-timeout also with start=always): a probe would start it.  A
 * request will, and its failure puts the member in error as usual. */
static int pyw_hc_asleep(const pyw_group_t *g)
{
    pyw_board_load_t load;

    pyw_pm_group_load(g, &load);
    return pyw_pm_group_dormant(g, &load);
}

static void pyw_hc_visit(proxy_worker *w, const pyw_group_t *g,
                         server_rec *s)
{
    apr_interval_time_t interval = w->s->interval > 0 ? w->s->interval
        : apr_time_from_sec(HCHECK_WATHCHDOG_DEFAULT_INTERVAL);
    apr_time_t now = apr_time_now();
    pyw_hc_member_t *m;

    w->s->updated = PYW_HC_NEVER;
    if (w->s->method == NONE || PROXY_WORKER_IS(w, PROXY_WORKER_STOPPED)) {
        return;
    }
    m = pyw_hc_member(w, g, s);
    if (apr_atomic_read32(&m->busy) || now < m->due || pyw_hc_asleep(g)) {
        return;
    }
    m->due = now + interval;
    pyw_hc_start(m);
}

static apr_status_t pyw_hc_watchdog(int state, void *data, apr_pool_t *pool)
{
    switch (state) {
    case AP_WATCHDOG_STATE_STARTING:
        if (apr_pool_create_unmanaged_ex(&pyw_hc_pool, NULL, NULL)
            != APR_SUCCESS) {
            return APR_ENOMEM;
        }
        pyw_hc_members = apr_hash_make(pyw_hc_pool);
        if (apr_thread_pool_create(&pyw_hc_threads, 0, PYW_HC_THREADS,
                                   pyw_hc_pool) != APR_SUCCESS) {
            pyw_hc_threads = NULL;      /* probes run one by one, here */
        }
        break;
    case AP_WATCHDOG_STATE_RUNNING:
        pyw_hc_each(pyw_hc_main_server, 1, pyw_hc_visit);
        break;
    case AP_WATCHDOG_STATE_STOPPING:
        if (pyw_hc_threads != NULL) {
            apr_thread_pool_destroy(pyw_hc_threads);    /* joins them */
            pyw_hc_threads = NULL;
        }
        if (pyw_hc_pool != NULL) {
            apr_pool_destroy(pyw_hc_pool);
            pyw_hc_pool = NULL;
        }
        break;
    }
    return APR_SUCCESS;
}

/* After mod_proxy_balancer has moved its members into shared memory, and
 * before mod_watchdog starts its watchdogs. */
static int pyw_hc_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                              apr_pool_t *ptemp, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *get_instance;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *add_callback;
    ap_watchdog_t *wd;

    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        return OK;
    }
    get_instance = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    add_callback = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    pyw_hc_proxy = ap_find_linked_module("mod_proxy.c");
    if (get_instance == NULL || add_callback == NULL || pyw_hc_proxy == NULL
        || ap_find_linked_module("mod_proxy_hcheck.c") == NULL) {
        return OK;          /* no hcmethod= without mod_proxy_hcheck */
    }
    pyw_hc_main_server = s;
    pyw_hc_sync = (__typeof__(pyw_hc_sync))
        dlsym(RTLD_DEFAULT, "ap_proxy_sync_balancer");
    pyw_hc_each(s, 0, pyw_hc_keep_hcheck_off);
    pyw_hc_exprs_load(pconf, ptemp);
    if (get_instance(&wd, PYW_HC_WATCHDOG, 0, 1, pconf) != APR_SUCCESS
        || add_callback(wd, apr_time_from_sec(HCHECK_WATHCHDOG_INTERVAL),
                        NULL, pyw_hc_watchdog) != APR_SUCCESS) {
        PYW_SLOG(APLOG_STARTUP | APLOG_ERR, 0, s, 168, NULL, 0L,
                 "the watchdog for the health checks of pyworker:// "
                 "members cannot be made");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

void pyw_hcheck_register_hooks(apr_pool_t *p)
{
    static const char *const before[] = { "mod_proxy_balancer.c",
                                          "mod_proxy.c", NULL };
    static const char *const after[] = { "mod_watchdog.c", NULL };

    ap_hook_post_config(pyw_hc_post_config, before, after, APR_HOOK_LAST);
}

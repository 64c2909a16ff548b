/*
 * mod_pyworker.c - the module's table of contents.
 *
 * Hosts WSGI applications in daemon processes owned by the module; each
 * unit registers its own hooks:
 *   src/apache/pyw_config.c   directives, configs, alias translation
 *   src/apache/pyw_procmgr.c  group sockets and daemon processes
 *   src/apache/pyw_handler.c  the "pyworker-script" handler
 *   src/apache/pyw_status_page.c  the "pyworker-status" handler, metrics
 *   src/apache/pyw_proxy.c    mod_proxy's pyworker:// scheme (optional)
 *   src/apache/pyw_lbmethod.c the byfreeworkers balancer method
 *   src/apache/pyw_hcheck.c   health checks of pyworker:// members
 */
#include "httpd.h"
#include "http_config.h"

#include "src/apache/pyw_config.h"
#include "src/apache/pyw_procmgr.h"
#include "src/apache/pyw_handler.h"
#include "src/apache/pyw_hcheck.h"
#include "src/apache/pyw_status_page.h"
#include "src/apache/pyw_proxy.h"

static void pyw_register_hooks(apr_pool_t *p)
{
    pyw_config_register_hooks(p);
    pyw_procmgr_register_hooks(p);
    pyw_handler_register_hooks(p);
    pyw_status_register_hooks(p);
    pyw_proxy_register_hooks(p);
    pyw_lbmethod_register(p);
    pyw_hcheck_register_hooks(p);
}

__attribute__((visibility("default")))
AP_DECLARE_MODULE(pyworker) = {
    STANDARD20_MODULE_STUFF,
    pyw_config_create_dir,
    pyw_config_merge_dir,
    pyw_config_create_server,
    pyw_config_merge_server,
    pyw_config_cmds,
    pyw_register_hooks
#if defined(AP_MODULE_FLAG_ALWAYS_MERGE)
    , AP_MODULE_FLAG_NONE
#endif
};

"""Two ZEO clients of one Plone site as two daemon groups behind Apache's
balancer (issue 14, part 7), and one group with as many processes for
comparison:

    PyWorkerDaemonProcess zeo1 processes=P threads=T script=<inst>/zope.wsgi ...
    PyWorkerDaemonProcess zeo2 ...                      (the same instance)
    PyWorkerDaemonProcess single processes=2P threads=T script=...
    <Proxy balancer://bybusyness>  BalancerMember pyworker://zeo1 ...
    ProxyPass /bybusyness balancer://bybusyness/        (and byfreeworkers,
                                    and queued: byfreeworkers timeout=60)
    ProxyPass /single pyworker://single/

Each group is a ZEO client of the site's storage (its processes share
the instance directory, as the processes of one group do in
t/test_plone.py).  `world` is a plone_t.PloneWorld with one site.
"""
from plone_t import SITE_ID
from pyworker_t.proxy import load_proxy

METHODS = ("bybusyness", "byfreeworkers", "queued")
# ProxySet words of each balancer: "queued" waits at the balancer for a
# free worker (ProxySet timeout=) instead of queueing in a daemon.
LBMETHOD = {"queued": "byfreeworkers timeout=60"}
MEMBERS = ("zeo1", "zeo2")


def snippet(world, processes=2, threads=2, single=True, health=False):
    """health: also balancer://checked, whose members have health checks
    of Plone's own @@ok view (mod_proxy_hcheck's settings)."""
    s = world.sites[0]
    user = "user=%s " % s.user if _root() else ""
    groups = [(g, processes) for g in MEMBERS]
    if single:
        groups.append(("single", 2 * processes))
    modules = ("watchdog", "proxy_hcheck") if health else ()
    lines = [load_proxy(), load_proxy(modules), "PyWorkerPassAuthorization On",
             "<Directory %s>" % world.root, "    Require all granted",
             "</Directory>"]
    for g, n in groups:
        lines += [
            "PyWorkerDaemonProcess %s processes=%d threads=%d %s"
            "python-home=%s home=%s display-name=%%{GROUP} script=%s "
            "connect-timeout=60" % (g, n, threads, user, world.venv, s.inst,
                                    s.script),
            "PyWorkerImportScript %s process-group=%s "
            "application-group=%%{GLOBAL}" % (s.script, g)]
    for m in METHODS:
        lines += ["<Proxy balancer://%s>" % m]
        lines += ["    BalancerMember pyworker://%s" % g for g in MEMBERS]
        lines += ["    ProxySet lbmethod=%s" % LBMETHOD.get(m, m), "</Proxy>",
                  "ProxyPass /%s balancer://%s/" % (m, m)]
    if health:
        lines += ["<Proxy balancer://checked>"]
        lines += ["    BalancerMember pyworker://%s hcmethod=GET "
                  "hcuri=/%s/@@ok hcinterval=2" % (g, SITE_ID)
                  for g in MEMBERS]
        lines += ["</Proxy>", "ProxyPass /checked balancer://checked/"]
    if single:
        lines.append("ProxyPass /single pyworker://single/")
    return "\n".join(lines) + "\n"


def groups(processes=2, single=True):
    """{group: processes} of snippet()."""
    out = {g: processes for g in MEMBERS}
    if single:
        out["single"] = 2 * processes
    return out


def _root():
    import os
    return os.geteuid() == 0

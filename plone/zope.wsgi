"""WSGI script of one Zope instance (a Plone site) for mod_pyworker.

Copy it into the instance directory, beside etc/zope.conf:

    /srv/site/zope.wsgi
    /srv/site/etc/zope.conf     (ZODB through a <zeoclient>, instancehome)
    /srv/site/var/              (writable by the group's user: logs,
                                 Chameleon cache, ZEO blob cache)

and serve it with

    PyWorkerDaemonProcess site user=site python-home=/srv/site/venv ...
    PyWorkerImportScript /srv/site/zope.wsgi process-group=site
    PyWorkerScriptAlias / /srv/site/zope.wsgi process-group=site

It builds the application as Zope's own `make_wsgi_app` does for
`runwsgi` (Zope2.Startup.run): read zope.conf, open the databases, load
ZCML, then wrap Zope's publisher in its httpexceptions filter, as the
`egg:Zope#httpexceptions` step of Zope's zope.ini pipeline.  With
PyWorkerImportScript this happens when a daemon starts, so a daemon is
ready only once Zope is.
"""
import logging
import os

INSTANCE = os.path.dirname(os.path.abspath(__file__))


def _event_log():
    """Zope's event log (zope.ini's [handler_eventlog]): Python logging and
    warnings to var/log/event.log, unless logging is set up already."""
    root = logging.getLogger()
    if root.handlers:
        return
    logdir = os.path.join(INSTANCE, "var", "log")
    os.makedirs(logdir, exist_ok=True)
    handler = logging.FileHandler(os.path.join(logdir, "event.log"))
    handler.setFormatter(logging.Formatter(
        "%(asctime)s %(levelname)s [%(name)s:%(lineno)s]"
        "[%(process)d %(threadName)s] %(message)s"))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)


_event_log()     # first: importing Zope may warn already

from Zope2.Startup.run import make_wsgi_app  # noqa: E402
from ZPublisher.httpexceptions import HTTPExceptionHandler  # noqa: E402

application = HTTPExceptionHandler(
    make_wsgi_app({}, os.path.join(INSTANCE, "etc", "zope.conf")))

"""A Pyramid application started from production.ini (t/test_paste.py),
the way pserve starts one: main(global_config, **settings)."""
import logging
import os
import sys

from pyramid.config import Configurator
from pyramid.response import Response

log = logging.getLogger("pywpaste")
access = logging.getLogger("pywpaste.access")


def home(request):
    marker = request.GET.get("m", "none")
    log.debug("pywpaste-debug %s", marker)
    log.info("pywpaste-view %s", marker)
    access.info("pywpaste-access %s", marker)
    settings = request.registry.settings
    return Response("pyramid %s %s %d\n" % (settings.get("greeting"),
                                            request.script_name,
                                            os.getpid()),
                    content_type="text/plain")


def main(global_config, **settings):
    log.warning("pywpaste-loaded from %s", global_config.get("__file__"))
    with Configurator(settings=settings,
                      package=sys.modules[__name__]) as config:
        config.add_route("home", "/")
        config.add_view(home, route_name="home")
        return config.make_wsgi_app()

"""A minimal PasteDeploy application and filter factory (t/test_paste.py).

The application answers what it was configured with: its greeting, the
defaults PasteDeploy gave it (here, __file__) and where it is mounted.
"""
import json
import logging
import os
import time

log = logging.getLogger("pywpaste.min")


def app_factory(global_config, **local_conf):
    greeting = local_conf.get("greeting", "?")
    log.warning("pywpaste-factory %s", greeting)
    loaded_at = time.time()

    def app(environ, start_response):
        body = json.dumps({
            "greeting": greeting,
            "here": global_config.get("here"),
            "file": global_config.get("__file__"),
            "paste_app": environ.get("mod_pyworker.paste_app"),
            "script_filename": environ.get("SCRIPT_FILENAME"),
            "script_name": environ.get("SCRIPT_NAME"),
            "path_info": environ.get("PATH_INFO"),
            "pid": os.getpid(),
            "loaded_at": loaded_at,
        }).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    return app


def filter_factory(global_config, **local_conf):
    tag = local_conf.get("tag", "filtered")

    def make_filter(app):
        def wrapped(environ, start_response):
            def start(status, headers, exc_info=None):
                return start_response(status, headers + [("X-Tag", tag)],
                                      exc_info)
            return app(environ, start)
        return wrapped

    return make_filter

# environ.wsgi - the environ as JSON.
#
# "environ": every str value as is.  "types": the type name of every
# value.  "wsgi": what the wsgi.* objects can do.  Also reports the pid,
# the thread, and whether the import script ran in this process.
import json
import os
import threading


def describe(environ):
    inp, err = environ["wsgi.input"], environ["wsgi.errors"]
    return {
        "version": list(environ["wsgi.version"]),
        "version_is_tuple": isinstance(environ["wsgi.version"], tuple),
        "url_scheme": environ["wsgi.url_scheme"],
        "multithread": environ["wsgi.multithread"],
        "multiprocess": environ["wsgi.multiprocess"],
        "run_once": environ["wsgi.run_once"],
        "input_terminated": environ.get("wsgi.input_terminated"),
        "input_methods": sorted(m for m in ("read", "readline", "readlines",
                                            "__iter__") if hasattr(inp, m)),
        "errors_methods": sorted(m for m in ("write", "writelines", "flush")
                                 if hasattr(err, m)),
        "file_wrapper_callable": callable(environ.get("wsgi.file_wrapper")),
    }


def application(environ, start_response):
    body = environ["wsgi.input"].read()
    out = {
        "environ": {k: v for k, v in environ.items() if isinstance(v, str)},
        "types": {k: type(v).__name__ for k, v in environ.items()},
        "keys_all_str": all(type(k) is str for k in environ),
        "wsgi": describe(environ),
        "body_len": len(body),
        "pid": os.getpid(),
        "thread": threading.get_ident(),
        "preloaded": os.environ.get("PYW_PRELOADED"),
    }
    data = json.dumps(out, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(data)))])
    return [data]

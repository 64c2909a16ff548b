# slow_exit.wsgi - a daemon that takes 3 seconds to exit (an atexit
# callback sleeps), for t/test_on_demand.py: a request that comes while
# an idle group's daemon is still exiting must not wait for it.
# Answers "<pid>\n".
import atexit
import os
import time

atexit.register(time.sleep, 3)


def application(environ, start_response):
    body = b"%d\n" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

"""Requests to an app that answers JSON with its daemon's "pid" (such as
apps/exits.wsgi and apps/keeper_ops.wsgi), for the tests that end or
replace daemons."""
import json
import time

from pyworker_t import rawhttp


def get(httpd, path, timeout=30):
    return rawhttp.request(httpd.port, "GET", path, timeout=timeout)


def answer(httpd, path):
    """The JSON of a 200 answer (asserted)."""
    r = get(httpd, path)
    assert r.status == 200, r
    return json.loads(r.body)


def serving(httpd, group, not_pid, timeout=20):
    """Wait until /<group> is answered by a daemon other than not_pid;
    its answer."""
    deadline = time.monotonic() + timeout
    while True:
        r = get(httpd, "/" + group, timeout=10)
        if r.status == 200 and json.loads(r.body)["pid"] != not_pid:
            return json.loads(r.body)
        assert time.monotonic() < deadline, "no new %s daemon" % group
        time.sleep(0.2)

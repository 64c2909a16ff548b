"""The status page as the tests read it: JSON checked against
docs/status.schema.json."""
import json
import os
import time

import jsonschema
import pytest

SCHEMA = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), "docs", "status.schema.json")


def status_json(httpd):
    """{group name: group} of /pyworker-status?json, schema-checked."""
    r = httpd.get("/pyworker-status?json")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    doc = r.json()
    with open(SCHEMA) as f:
        jsonschema.validate(doc, json.load(f))
    return {g["name"]: g for g in doc["groups"]}


def wait_for(what, fn, timeout=20):
    """fn() until it returns something true; that value (the test fails
    naming `what` and fn's last answer if that takes over timeout s)."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.05)
    pytest.fail("%s: not seen within %d s (last: %r)" % (what, timeout, last))

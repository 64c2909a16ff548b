"""100 MB through the module both ways, checked by sha256, and streamed:
neither the daemon nor Apache's children ever hold the whole body."""
import hashlib

import pytest
import requests

from pyworker_t import procs
from pyworker_t.data import MIB, BigUpload, big_chunks, big_sha256

CONF = """
PyWorkerDaemonProcess big threads=2 display-name=pyw-big
PyWorkerScriptAlias /big {apps}/big.wsgi process-group=big
"""

SIZE = 100 * MIB
# Peak RSS may grow by buffers, never by anything near the body size.
MAX_GROWTH_KB = 40 * 1024


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/big?size=10"])


def peaks(httpd):
    """{pid: VmHWM kB} of the daemons and Apache's children."""
    pids = httpd.daemon_pids("big") + httpd.mpm_children()
    return {p: procs.status_field(p, "VmHWM") for p in pids}


def assert_no_growth(before, after):
    for pid, kb in after.items():
        if pid in before and kb is not None and before[pid] is not None:
            assert kb - before[pid] < MAX_GROWTH_KB, \
                "pid %d peak RSS grew by %d MB" % (pid,
                                                   (kb - before[pid]) // 1024)


def test_100mb_download(httpd):
    before = peaks(httpd)
    h, n = hashlib.sha256(), 0
    with requests.get(httpd.url("/big?size=%d" % SIZE), stream=True,
                      timeout=60) as r:
        assert r.status_code == 200
        assert r.headers["Content-Length"] == str(SIZE)
        for chunk in r.iter_content(MIB):
            h.update(chunk)
            n += len(chunk)
    assert n == SIZE
    assert h.hexdigest() == big_sha256(SIZE)
    assert_no_growth(before, peaks(httpd))


def test_100mb_upload_with_content_length(httpd):
    before = peaks(httpd)
    body = BigUpload(SIZE)
    r = requests.post(httpd.url("/big"), data=body, timeout=120,
                      headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text[:300]
    out = r.json()
    assert out["len"] == SIZE
    assert out["sha256"] == body.sha.hexdigest() == big_sha256(SIZE)
    assert out["reads"] >= 2
    assert_no_growth(before, peaks(httpd))


def test_100mb_chunked_upload(httpd):
    before = peaks(httpd)
    r = requests.post(httpd.url("/big"), data=big_chunks(SIZE), timeout=120)
    assert r.status_code == 200, r.text[:300]
    out = r.json()
    assert out["len"] == SIZE
    assert out["sha256"] == big_sha256(SIZE)
    assert_no_growth(before, peaks(httpd))

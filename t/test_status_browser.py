"""The status page in a real browser (Debian's chromium, headless): the
tables render (a screenshot has the header cells' colour, and the busy
row's while a request runs), the page reloads itself at ?refresh=N (the
browser fetches it again on its own), and a reload shows the new request
count (two DOM dumps around five requests).
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None,
                                reason="no chromium on this machine")

CONF = """
PyWorkerDaemonProcess web threads=2 display-name=pyw-sb-web
PyWorkerScriptAlias /web {apps}/status_codes.wsgi process-group=web
PyWorkerScriptAlias /held {apps}/hold.wsgi process-group=web
<Location /pyworker-status>
    SetHandler pyworker-status
</Location>
"""

HEADER_RGB = (0xdd, 0xdd, 0xee)     # th background (pyw_status_html.c)
BUSY_RGB = (0xff, 0xee, 0xcc)       # tr.busy background
WINDOW = (1200, 900)


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/web/200"])


@pytest.fixture
def profile():
    d = tempfile.mkdtemp(prefix="pyw-chromium-")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def chromium(profile, *args, timeout=60):
    """Run headless chromium to its end; stdout.  Its whole process group
    (it was started in a session of its own) is ended on a timeout."""
    p = subprocess.Popen(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
         "--user-data-dir=" + profile] + list(args),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        pytest.fail("chromium did not finish within %d s" % timeout)
    assert p.returncode == 0, "chromium exit %d" % p.returncode
    return out.decode("utf-8", "replace")


def pixels_of(path, rgb):
    from PIL import Image
    with Image.open(path) as im:
        assert im.size == WINDOW
        return sum(1 for px in im.convert("RGB").getdata() if px == rgb)


def requests_shown(dom, group):
    m = re.search(r'<a href="#g-%s">%s</a></td>.*?<td class="?requests"?>'
                  r'(\d+)</td>' % (group, group), dom)
    assert m, dom[:2000]
    return int(m.group(1))


def test_tables_render_in_a_browser_with_the_busy_request(httpd, profile):
    """The busy request is held until the screenshot is taken: chromium
    may take more than a few seconds to start on a loaded machine."""
    box = {}
    release = httpd.path("state", "release-browser")
    t = threading.Thread(target=lambda: box.update(
        r=httpd.get("/held?" + release, timeout=40)))
    t.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            j = httpd.get("/pyworker-status?json").json()
            if j["groups"][0]["busy_threads"] == 1:
                break
            time.sleep(0.05)
        shot = os.path.join(profile, "status.png")
        chromium(profile, "--window-size=%d,%d" % WINDOW,
                 "--screenshot=" + shot, httpd.url("/pyworker-status"))
    finally:
        open(release, "w").close()
        t.join()
    assert box["r"].status_code == 200
    # 3 header rows of 6-13 cells, each about 60 x 22 px: thousands.
    assert pixels_of(shot, HEADER_RGB) > 5000
    # The busy worker's row (6 cells) is highlighted.
    assert pixels_of(shot, BUSY_RGB) > 1000


def test_a_reload_shows_the_new_request_count(httpd, profile):
    url = httpd.url("/pyworker-status")
    first = requests_shown(chromium(profile, "--dump-dom", url), "web")
    for _ in range(5):
        assert httpd.get("/web/200").status_code == 200
    second = requests_shown(chromium(profile, "--dump-dom", url), "web")
    assert second == first + 5


def test_the_page_reloads_itself(httpd, profile):
    path = "/pyworker-status?refresh=1&reload-test"

    def loads():
        return sum(1 for l in httpd.access_lines() if path in l)

    p = subprocess.Popen(
        [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
         "--user-data-dir=" + profile, httpd.url(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        while loads() < 3 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    assert loads() >= 3, "the browser loaded the page %d times" % loads()

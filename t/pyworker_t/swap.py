"""A file swapped while its request waits (t/test_alias_options.py,
t/test_paste.py): Apache checks the owner when the request arrives, the
daemon opens the file when a worker takes it.  The group has one worker
(threads=1, user=pywtest2 script-user=pywtest2) and aliases /b to
{run}/scripts/b/slow.wsgi, a script of pywtest2 that holds the worker."""
import os
import shutil
import threading
import time


def script_dirs(a):
    """{run}/scripts/b (pywtest2's) and {run}/scripts/a, made; slow.wsgi
    copied into b and given to pywtest2."""
    b_dir, a_dir = a.path("run", "scripts", "b"), a.path("run", "scripts", "a")
    for d in (b_dir, a_dir):
        os.makedirs(d, exist_ok=True)
        os.chmod(d, 0o755)
    os.chmod(a.path("run", "scripts"), 0o755)
    b_script = os.path.join(b_dir, "slow.wsgi")
    shutil.copy(a.path("apps", "slow.wsgi"), b_script)
    shutil.chown(b_script, "pywtest2", "pywtest2")
    return b_dir, a_dir


def swapped_while_queued(a, path, link, target):
    """GET path while /b?2 holds the only worker; once Apache has checked
    it and queued it, point the symlink link at target.  The response."""
    marker = a.path("state", "busy-%d" % time.monotonic_ns())
    busy = threading.Thread(target=a.get, kwargs={
        "path": "/b?2&mark=" + os.path.basename(marker), "timeout": 20})
    busy.start()
    deadline = time.monotonic() + 15
    while not os.path.exists(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os.path.exists(marker), "the worker was not taken"
    got = {}
    waiting = threading.Thread(target=lambda: got.update(
        r=a.get(path, timeout=20)))
    waiting.start()
    time.sleep(0.7)             # checked by Apache, waiting for the worker
    os.symlink(target, link + ".new")
    os.rename(link + ".new", link)
    waiting.join(20)
    busy.join(20)
    return got["r"]

"""mod_wsgi's process options of WSGIDaemonProcess that set up the
daemon process: cpu-priority, virtual-memory-limit, stack-size,
supplementary-groups, python-eggs, send-buffer-size,
receive-buffer-size, header-buffer-size and socket-user.  Each is checked from inside the
daemon (the app reports what it sees) or from the socket file, and the
effect that matters is exercised where it can be (an allocation past
the limit fails, a socket owned by another user refuses Apache)."""
import grp
import os
import pwd

import pytest

from pyworker_t import codes
from pyworker_t.httpd import IS_ROOT, configtest

GIB = 1 << 30
USER = "user=pywtest1 " if IS_ROOT else ""
EXTRA_GROUP = "adm"

CONF = """
PyWorkerDaemonProcess tuned threads=2 %(user)s cpu-priority=5 \\
    virtual-memory-limit=4G stack-size=512K python-eggs={run}/eggs \\
    send-buffer-size=64K receive-buffer-size=64K \\
    supplementary-groups=%(extra)s header-buffer-size=8K \\
    display-name=pyw-tuned
PyWorkerDaemonProcess plain threads=2 display-name=pyw-plain
PyWorkerDaemonProcess small threads=15 virtual-memory-limit=1G \\
    display-name=pyw-small
PyWorkerScriptAlias /small {apps}/procinfo.wsgi process-group=small
PyWorkerScriptAlias /tuned {apps}/procinfo.wsgi process-group=tuned
PyWorkerScriptAlias /plain {apps}/procinfo.wsgi process-group=plain
PyWorkerScriptAlias /tuned-respond {apps}/respond.wsgi process-group=tuned
PyWorkerScriptAlias /plain-respond {apps}/respond.wsgi process-group=plain
""" % {"user": USER, "extra": EXTRA_GROUP}


@pytest.fixture(scope="module")
def httpd(apache):
    return apache(CONF, ready=["/tuned", "/plain"])


def _info(httpd, path):
    r = httpd.get(path)
    assert r.status_code == 200, r.text
    return r.json()


def test_cpu_priority_sets_the_nice_value(httpd):
    assert _info(httpd, "/tuned")["nice"] == 5
    assert _info(httpd, "/plain")["nice"] == 0


def test_virtual_memory_limit_caps_the_address_space(httpd):
    assert _info(httpd, "/tuned")["rlimit_as"] == [4 * GIB, 4 * GIB]
    assert _info(httpd, "/plain")["rlimit_as"][0] == -1   # unlimited


def test_an_allocation_past_the_limit_fails_alone(httpd):
    httpd.log.expect(codes=[codes.APP_EXCEPTION])
    mark = httpd.log.mark()
    r = httpd.get("/tuned?alloc=5")
    assert r.status_code == 500
    assert httpd.log.wait_for(r"MemoryError", since=mark), httpd.log.tail()
    assert _info(httpd, "/tuned")["nice"] == 5          # same daemon serves


def test_a_1g_limit_leaves_room_for_a_request_of_300m(httpd):
    """glibc reserves 64 MiB of address space per thread's malloc arena:
    an idle 15-thread daemon took about 1 GB of a 1G limit, and 100 MB
    raised MemoryError.  Under a limit malloc keeps 2 arenas."""
    for _ in range(4):      # on several threads
        assert httpd.get("/small?alloc=0.3").status_code == 200


def test_stack_size_is_the_worker_threads_stack(httpd):
    assert _info(httpd, "/tuned")["stack_size"] == 512 * 1024
    assert _info(httpd, "/plain")["stack_size"] != 512 * 1024


def test_python_eggs_sets_the_egg_cache(httpd):
    assert _info(httpd, "/tuned")["egg_cache"] == httpd.path("run", "eggs")
    assert _info(httpd, "/plain")["egg_cache"] is None


def test_buffer_sizes_apply_to_the_daemon_connections(httpd):
    tuned = _info(httpd, "/tuned")["buffers"]
    assert tuned and all(b == [2 * 65536, 2 * 65536] for b in tuned), tuned
    plain = _info(httpd, "/plain")["buffers"]
    assert plain and all(b != [2 * 65536, 2 * 65536] for b in plain), plain


def test_header_buffer_size_caps_one_response_header(httpd):
    small = httpd.get("/tuned-respond?h=X-Small:" + "s" * 900)
    assert small.status_code == 200 and small.headers["X-Small"] == "s" * 900
    httpd.log.expect(codes=[codes.APP_EXCEPTION])
    mark = httpd.log.mark()
    big = httpd.get("/tuned-respond?h=X-Big:b&hmul=9000")
    assert big.status_code == 500
    assert httpd.log.wait_for(r"X-Big.*more than header-buffer-size "
                              r"\(8192\)", since=mark), httpd.log.tail()
    assert httpd.get("/plain-respond?h=X-Big:b&hmul=9000").status_code \
        == 200


@pytest.mark.skipif(not IS_ROOT, reason="needs root")
def test_supplementary_groups_are_added_to_the_users(httpd):
    gid = grp.getgrnam(EXTRA_GROUP).gr_gid
    assert gid in _info(httpd, "/tuned")["groups"]
    assert gid not in _info(httpd, "/plain")["groups"]


@pytest.mark.skipif(not IS_ROOT, reason="needs root")
def test_socket_user_owns_the_socket_and_others_cannot_connect(
        fresh_apache):
    a = fresh_apache("""
PyWorkerDaemonProcess owned threads=1 socket-user=pywtest2 \\
    connect-timeout=1 display-name=pyw-owned
PyWorkerDaemonProcess open threads=1 display-name=pyw-open
PyWorkerScriptAlias /owned {apps}/procinfo.wsgi process-group=owned
PyWorkerScriptAlias /open {apps}/procinfo.wsgi process-group=open
""", ready=["/open"])
    owned = [p for p in os.listdir(a.path("run"))
             if p.endswith(".owned.sock")]
    assert len(owned) == 1, os.listdir(a.path("run"))
    st = os.stat(a.path("run", owned[0]))
    assert st.st_uid == pwd.getpwnam("pywtest2").pw_uid
    assert st.st_mode & 0o777 == 0o600
    # Apache's children run as www-data: the socket refuses them.
    a.log.expect(r"Permission denied")
    r = a.get("/owned")
    assert r.status_code == 503
    line = a.log.wait_for(r"Permission denied.*\(group=owned\b")
    assert line and "uri=/owned" in line[0], a.log.tail()


@pytest.mark.parametrize("option,named", [
    ("cpu-priority=21", "cpu-priority"),
    ("supplementary-groups=adm,pyw-no-such-group", "pyw-no-such-group"),
    ("supplementary-groups=root", "root"),
    ("socket-user=pyw-no-such-user", "pyw-no-such-user"),
    ("python-eggs=relative/dir", "python-eggs"),
    ("stack-size=lots", "stack-size"),
    ("header-buffer-size=2G", "header-buffer-size"),
])
def test_bad_values_are_refused_by_configtest(option, named):
    rc, out = configtest("PyWorkerDaemonProcess g1 %s\n" % option)
    assert rc != 0
    assert named in out, out

"""/proc helpers: process tree, titles, descriptors, memory.

Everything here reads /proc only; nothing signals a process.
"""
import os
import time


def _read(path, mode="r"):
    try:
        with open(path, mode) as f:
            return f.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def stat(pid):
    """(ppid, starttime) of pid, or None if it is gone."""
    data = _read("/proc/%d/stat" % pid)
    if data is None:
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    fields = data[data.rfind(")") + 2:].split()
    return int(fields[1]), int(fields[19])


def cpu_seconds(pids):
    """User and system CPU time the processes used so far (those gone
    count nothing)."""
    total = 0
    for pid in pids:
        data = _read("/proc/%d/stat" % pid)
        if data is not None:
            fields = data[data.rfind(")") + 2:].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def alive(pid, starttime=None):
    """True if pid exists (and, given starttime, is still that process)."""
    st = stat(pid)
    if st is None:
        return False
    status = _read("/proc/%d/status" % pid) or ""
    if "\nState:\tZ" in status:
        return False
    return starttime is None or st[1] == starttime


def children(ppid):
    """Pids whose parent is ppid."""
    kids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        st = stat(int(name))
        if st is not None and st[0] == ppid:
            kids.append(int(name))
    return sorted(kids)


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        for kid in children(todo.pop()):
            out.append(kid)
            todo.append(kid)
    return out


def cmdline(pid):
    """What ps -o args shows: argv joined by spaces, NULs stripped."""
    data = _read("/proc/%d/cmdline" % pid, "rb")
    if data is None:
        return None
    parts = [p for p in data.split(b"\0") if p]
    return b" ".join(parts).decode("utf-8", "replace").strip()


def comm(pid):
    data = _read("/proc/%d/comm" % pid)
    return data.strip() if data is not None else None


def status_field(pid, name):
    """A field of /proc/pid/status, e.g. 'VmHWM' -> kB as int, 'Uid' -> str."""
    for line in (_read("/proc/%d/status" % pid) or "").splitlines():
        key, _, value = line.partition(":")
        if key == name:
            value = value.strip()
            if value.endswith(" kB"):
                return int(value[:-3])
            return value
    return None


def fds(pid):
    """{fd: link target} of pid (needs the right to read its fd table)."""
    out = {}
    base = "/proc/%d/fd" % pid
    try:
        names = os.listdir(base)
    except (FileNotFoundError, PermissionError):
        return out
    for name in names:
        try:
            out[int(name)] = os.readlink(os.path.join(base, name))
        except OSError:
            pass
    return out


def tcp_listen_inodes(port):
    """Socket inodes listening on TCP port (IPv4 and IPv6)."""
    inodes = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in (_read(path) or "").splitlines()[1:]:
            f = line.split()
            if len(f) > 9 and f[3] == "0A" and \
                    int(f[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f[9])
    return inodes


def unix_socket_paths():
    """{inode: path} of every bound Unix socket."""
    out = {}
    for line in (_read("/proc/net/unix") or "").splitlines()[1:]:
        f = line.split()
        if len(f) >= 8:
            out[f[6]] = f[7]
    return out


def wait_gone(pids, timeout):
    """Wait until none of {pid: starttime} is alive; return the survivors."""
    deadline = time.monotonic() + timeout
    left = dict(pids)
    while left and time.monotonic() < deadline:
        left = {p: s for p, s in left.items() if alive(p, s)}
        if left:
            time.sleep(0.1)
    return {p: s for p, s in left.items() if alive(p, s)}


def _thread_states(pid):
    """The state letter of each of pid's threads ([] if it is gone)."""
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except (FileNotFoundError, ProcessLookupError):
        return []
    states = []
    for tid in tids:
        data = _read("/proc/%d/task/%s/stat" % (pid, tid))
        if data is not None:
            states.append(data[data.rfind(")") + 2])
    return states


def wait_stopped(pid, timeout=5):
    """Wait until every thread of pid is stopped (SIGSTOP).  kill()
    returns before that: a thread already running goes on until the
    group stop reaches it, and in that window a daemon can still accept
    a connection.  False on timeout or if pid is gone."""
    deadline = time.monotonic() + timeout
    while True:
        states = [s for s in _thread_states(pid) if s not in "ZX"]
        if states and all(s == "T" for s in states):
            return True
        if not states or time.monotonic() > deadline:
            return False
        time.sleep(0.002)


def wait_reaped(pid, timeout):
    """Wait until pid no longer exists at all (its parent reaped it, so
    every thread has exited and its descriptors are closed).  A zombie
    leader alone does not prove that: other threads may still run."""
    deadline = time.monotonic() + timeout
    while os.path.exists("/proc/%d" % pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def maps(pid):
    """[(start, end, perms, path)] of pid's memory mappings ('' for an
    anonymous one), or [] if it is gone or unreadable."""
    out = []
    for line in (_read("/proc/%d/maps" % pid) or "").splitlines():
        fields = line.split(None, 5)
        start, end = (int(x, 16) for x in fields[0].split("-"))
        out.append((start, end, fields[1],
                    fields[5].strip() if len(fields) > 5 else ""))
    return out


def exe(pid):
    """The program pid runs (/proc/pid/exe), or None."""
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return None


def inet_socket_inodes():
    """{inode: 'tcp 127.0.0.1:port state'} of every IPv4/IPv6 TCP and UDP
    socket, in any state."""
    out = {}
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        for line in (_read("/proc/net/" + proto) or "").splitlines()[1:]:
            f = line.split()
            if len(f) > 9:
                port = int(f[1].rsplit(":", 1)[1], 16)
                out[f[9]] = "%s port %d state %s" % (proto, port, f[3])
    return out

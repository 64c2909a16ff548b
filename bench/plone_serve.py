"""Serve one Zope instance with a standalone WSGI server, pre-forked
(bench/run-plone's peers; run with the bench venv's python):

    python plone_serve.py SERVER 127.0.0.1:PORT PROCESSES THREADS INSTANCE

SERVER is waitress, pyruvate, bjoern or gunicorn.  For the first three
this parent binds one listening socket and forks PROCESSES children that
all accept on it (as gunicorn's and mod_wsgi's processes do); each child
loads INSTANCE/zope.wsgi itself (a ZEO client does not survive fork) and
serves it with THREADS worker threads:

    waitress   waitress.serve(app, sockets=[sock], threads=THREADS), the
               rest at waitress's defaults (Zope's default server)
    pyruvate   pyruvate.serve(app, None, THREADS): the socket handed over
               as systemd socket activation (fd 3, LISTEN_FDS=1), the
               documented way to give Pyruvate a socket it did not bind
    bjoern     bjoern.server_run(sock, app): one thread per process, so
               THREADS must be 1 (bench/run-plone starts
               processes x threads processes of one thread)

gunicorn runs its own arbiter: gthread workers, PROCESSES x THREADS,
each worker loads zope.wsgi (no preload), access log off.

SIGTERM or SIGINT stops the children and then the parent.
"""
import importlib.machinery
import importlib.util
import os
import signal
import socket
import sys


def load_app(instance):
    path = os.path.join(instance, "zope.wsgi")
    loader = importlib.machinery.SourceFileLoader("zope_wsgi", path)
    spec = importlib.util.spec_from_loader("zope_wsgi", loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules["zope_wsgi"] = module
    loader.exec_module(module)
    return module.application


def listen(address):
    host, port = address.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, int(port)))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def serve_waitress(sock, threads, instance):
    import waitress
    waitress.serve(load_app(instance), sockets=[sock], threads=threads)


def serve_pyruvate(sock, threads, instance):
    import pyruvate
    app = load_app(instance)
    if sock.fileno() != 3:
        os.dup2(sock.fileno(), 3)
    os.set_inheritable(3, True)
    os.environ["LISTEN_FDS"] = "1"
    os.environ["LISTEN_PID"] = str(os.getpid())
    pyruvate.serve(app, None, threads)


def serve_bjoern(sock, threads, instance):
    import bjoern
    if threads != 1:
        sys.exit("bjoern has no worker threads: threads must be 1")
    bjoern.server_run(sock, load_app(instance))


SERVERS = {"waitress": serve_waitress, "pyruvate": serve_pyruvate,
           "bjoern": serve_bjoern}


def prefork(server, address, processes, threads, instance):
    sock = listen(address)
    children = []
    for _ in range(processes):
        pid = os.fork()
        if pid == 0:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            try:
                SERVERS[server](sock, threads, instance)
            finally:
                os._exit(1)
        children.append(pid)
    sock.close()

    def stop(signum, frame):
        for pid in children:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    status = 0
    while children:
        try:
            pid, st = os.wait()
        except ChildProcessError:
            break
        if pid in children:
            children.remove(pid)
            # One child gone on its own: the setup is broken, stop all.
            status = status or os.waitstatus_to_exitcode(st) or 1
            stop(None, None)
    return status


def gunicorn(address, processes, threads, instance):
    from gunicorn.app.base import BaseApplication

    class ZopeApp(BaseApplication):
        def load_config(self):
            for key, value in (("bind", address), ("workers", processes),
                               ("threads", threads),
                               ("worker_class", "gthread"),
                               ("chdir", instance), ("accesslog", None),
                               ("proc_name", "gunicorn-plone")):
                self.cfg.set(key, value)

        def load(self):
            return load_app(instance)

    ZopeApp().run()
    return 0


def main(argv):
    if len(argv) != 5:
        sys.exit(__doc__)
    server, address, processes, threads, instance = argv
    processes, threads = int(processes), int(threads)
    os.chdir(instance)
    if server == "gunicorn":
        return gunicorn(address, processes, threads, instance)
    if server not in SERVERS:
        sys.exit("unknown server %r" % server)
    return prefork(server, address, processes, threads, instance)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

# crash.wsgi - kills its own daemon process on request:
#   ?how=exit       os._exit(3) before any response
#   ?how=kill       SIGKILL itself before any response
#   ?how=midstream  send a first chunk, then SIGKILL itself
#   ?how=fork       fork a child that sleeps 30 s; answer with its pid
#   anything else   answer with the pid
import os
import signal
import time
from urllib.parse import parse_qs


def application(environ, start_response):
    how = parse_qs(environ.get("QUERY_STRING", "")).get("how", [""])[0]
    if how == "exit":
        os._exit(3)
    if how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(5)
    if how == "midstream":
        start_response("200 OK", [("Content-Type", "text/plain")])

        def gen():
            yield b"first chunk\n"
            time.sleep(0.2)
            os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(5)
            yield b"never\n"
        return gen()
    if how == "fork":
        child = os.fork()
        if child == 0:
            time.sleep(30)
            os._exit(0)
        body = str(child).encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]

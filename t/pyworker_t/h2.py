"""HTTP/2 over cleartext (h2c, prior knowledge) with curl: the tests'
Apache lists `Protocols h2c http/1.1`, and mod_http2 runs the request
through the same handlers and filters in its own worker threads."""
import shutil
import subprocess


class H2Response:
    def __init__(self, version, status, headers, body):
        self.version, self.status = version, status
        self.headers, self.body = headers, body

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)


def curl_has_http2():
    curl = shutil.which("curl")
    if not curl:
        return False
    out = subprocess.run([curl, "-V"], stdout=subprocess.PIPE, timeout=10)
    return b"HTTP2" in out.stdout


def request(url, method="GET", headers=None, timeout=15):
    """One request over a new HTTP/2 connection; the response's last
    header block (curl -D) and its body."""
    argv = ["curl", "-sS", "--max-time", str(timeout),
            "--http2-prior-knowledge", "-D", "/dev/stderr", "-o", "-"]
    argv += ["-I"] if method == "HEAD" else ["-X", method]
    for k, v in (headers or {}).items():
        argv += ["-H", "%s: %s" % (k, v)]
    p = subprocess.run(argv + [url], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout + 15)
    if method == "HEAD":            # -I writes the headers to stdout too
        head, body = p.stdout, b""
    else:
        head, body = p.stderr, p.stdout
    blocks = [b for b in head.decode("latin-1").split("\r\n\r\n")
              if b.startswith("HTTP/")]
    assert p.returncode == 0 and blocks, \
        "curl exit %d: %s" % (p.returncode, p.stderr.decode()[-500:])
    lines = blocks[-1].split("\r\n")
    version, status = lines[0].split()[:2]
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return H2Response(version, int(status), hdrs, body)

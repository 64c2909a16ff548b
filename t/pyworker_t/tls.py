"""A throw-away RSA key and self-signed certificate for a test's SSL vhost
(a server certificate for one name, so mod_ssl does not warn),
made with the openssl command, and the key's secret numbers as bytes so
a test can look for them in a process's memory.

OpenSSL keeps a BIGNUM as an array of native words, least significant
first: on a little-endian machine that is the number's little-endian
byte string.  DER (and so the key file once decoded) has it big-endian.
secret_forms() gives both.
"""
import os
import re
import subprocess

OPENSSL = "/usr/bin/openssl"
# The parts of `openssl rsa -text` that are secret, by their labels.
SECRET_LABELS = ("privateExponent", "prime1", "prime2")


class RsaKey:
    """key_path (mode 0600, owner: whoever runs the test), cert_path,
    pem (the key file's text), numbers {label: int}."""

    def __init__(self, directory, name, bits=2048):
        self.key_path = os.path.join(directory, "isolation.key")
        self.cert_path = os.path.join(directory, "isolation.crt")
        old = os.umask(0o077)
        try:
            subprocess.run([OPENSSL, "req", "-x509", "-newkey",
                            "rsa:%d" % bits, "-nodes", "-keyout",
                            self.key_path, "-out", self.cert_path, "-subj",
                            "/CN=%s" % name, "-days", "2",
                            "-addext", "basicConstraints=critical,CA:FALSE",
                            "-addext", "subjectAltName=DNS:%s" % name],
                           check=True, timeout=60, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        finally:
            os.umask(old)
        os.chmod(self.key_path, 0o600)
        os.chmod(self.cert_path, 0o644)
        with open(self.key_path) as f:
            self.pem = f.read()
        text = subprocess.run([OPENSSL, "rsa", "-in", self.key_path,
                               "-text", "-noout"], check=True, timeout=30,
                              stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE).stdout.decode()
        self.numbers = parse_rsa_text(text)

    def cert_der(self):
        out = subprocess.run([OPENSSL, "x509", "-in", self.cert_path,
                              "-outform", "DER"], check=True, timeout=30,
                             stdout=subprocess.PIPE).stdout
        return out

    def pem_lines(self):
        """The base64 lines of the key file (64 characters each)."""
        return [l for l in self.pem.splitlines()
                if l and not l.startswith("-----")]

    def secret_forms(self):
        """{name: bytes} to search memory for: each secret number
        big-endian (-be) and little-endian (-le), and one full base64
        line from the middle of the PEM text."""
        out = {}
        for label in SECRET_LABELS:
            n = self.numbers[label]
            raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
            out[label + "-be"] = raw
            out[label + "-le"] = raw[::-1]
        lines = self.pem_lines()
        out["pem-line"] = lines[len(lines) // 2].encode()
        return out


def parse_rsa_text(text):
    """{label: int} from `openssl rsa -text -noout` output."""
    numbers, label, digits = {}, None, []
    for line in text.splitlines() + ["end:"]:
        m = re.match(r"^(\w+):\s*(.*)$", line)
        if m:
            if label and digits:
                numbers[label] = int("".join(digits), 16)
            label, digits = m.group(1), []
            rest = m.group(2)
            if rest and re.match(r"^\d+ \(0x[0-9a-f]+\)$", rest):
                numbers[label] = int(rest.split()[0])
                label = None
        elif label and re.match(r"^\s+[0-9a-f:]+$", line):
            digits.append(line.strip().replace(":", ""))
    missing = [l for l in SECRET_LABELS if l not in numbers]
    if missing:
        raise ValueError("openssl rsa -text: no %s in:\n%s"
                         % (", ".join(missing), text[:400]))
    return numbers

"""Deterministic payloads shared with the test apps (same formulas as
t/apps/big.wsgi and t/apps/filewrapper.wsgi)."""
import hashlib

MIB = 1 << 20


def big_block(i):
    return hashlib.sha256(b"block %d" % i).digest() * (MIB // 32)


def big_chunks(size):
    """The body big.wsgi sends for ?size=size, 1 MiB at a time."""
    i = 0
    while size > 0:
        b = big_block(i)[:size]
        size -= len(b)
        i += 1
        yield b


def big_sha256(size):
    h = hashlib.sha256()
    for b in big_chunks(size):
        h.update(b)
    return h.hexdigest()


def fw_pattern(size):
    return (bytes(range(256)) * (size // 256 + 1))[:size]


class BigUpload:
    """A body of `size` pattern bytes that requests sends with a
    Content-Length (from __len__) and streams from __iter__: it never
    exists whole.  .sha is the sha256 of what was sent."""

    def __init__(self, size):
        self.size = size
        self.sha = hashlib.sha256()

    def __len__(self):
        return self.size

    def __iter__(self):
        for b in big_chunks(self.size):
            self.sha.update(b)
            yield b

"""Reading Apache's error log in per-test windows.

Like httpd's own pytest suite: after each test every new line at level
error or worse must have been declared expected by that test, by PYW code
(or code range) or by regular expression.  Tests assert on codes, not on
wording.
"""
import re
import time

LINE_RE = re.compile(
    r"^\[(?P<time>[^\]]*)\] \[(?P<module>[^:\]]*):(?P<level>[a-z0-9]+)\]"
    r"(?: \[pid (?P<pid>\d+)(?::tid (?P<tid>\d+))?\])?")
CODE_RE = re.compile(r"\bPYW(\d{4})\b")
SEVERE = ("emerg", "alert", "crit", "error")


class LogLine(str):
    """One error log line with its parsed fields (None when unformatted)."""

    @property
    def fields(self):
        m = LINE_RE.match(self)
        return m.groupdict() if m else {}

    @property
    def level(self):
        return self.fields.get("level")

    @property
    def module(self):
        return self.fields.get("module")

    @property
    def pid(self):
        pid = self.fields.get("pid")
        return int(pid) if pid else None

    @property
    def code(self):
        """The PYWnnnn number on the line, as an int, or None."""
        m = CODE_RE.search(self)
        return int(m.group(1)) if m else None

    @property
    def severe(self):
        return self.level in SEVERE


def code_pattern(lo, hi=None):
    """A regex matching lines with a PYW code in [lo, hi]."""
    hi = lo if hi is None else hi
    alts = "|".join("%04d" % n for n in range(lo, hi + 1))
    return r"\bPYW(?:%s)\b" % alts


class ErrorLog:
    def __init__(self, path):
        self.path = path
        self._checked = 0
        self._expected = []

    # -- reading --------------------------------------------------------
    def _read(self, offset):
        try:
            with open(self.path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except FileNotFoundError:
            return [], offset
        end = data.rfind(b"\n") + 1          # complete lines only
        text = data[:end].decode("utf-8", "replace")
        return [LogLine(l) for l in text.splitlines()], offset + end

    def mark(self):
        """An offset: lines(since=mark) are the lines written after it."""
        return self._read(0)[1]

    def lines(self, since=0):
        return self._read(since)[0]

    def text(self, since=0):
        return "\n".join(self.lines(since))

    def tail(self, n=40):
        return "\n".join(self.lines()[-n:])

    def find(self, pattern, since=0):
        rx = re.compile(pattern)
        return [l for l in self.lines(since) if rx.search(l)]

    def wait_for(self, pattern, since=0, timeout=10.0, count=1):
        """Lines matching pattern written after `since`; waits until at
        least `count` exist or timeout (then returns what there is)."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.find(pattern, since)
            if len(found) >= count or time.monotonic() >= deadline:
                return found
            time.sleep(0.05)

    # -- per-test expectations ------------------------------------------
    def expect(self, *patterns, codes=()):
        """Declare severe lines this test provokes: regexes, and PYW codes
        given as ints or (lo, hi) ranges."""
        for p in patterns:
            self._expected.append(re.compile(p))
        for c in codes:
            lo, hi = c if isinstance(c, tuple) else (c, c)
            self._expected.append(re.compile(code_pattern(lo, hi)))

    def check(self):
        """Severe lines since the last check that no expectation matches.
        Ends the window: expectations are cleared."""
        lines, self._checked = self._read(self._checked)
        expected, self._expected = self._expected, []
        return [l for l in lines
                if l.severe and not any(rx.search(l) for rx in expected)]

    def skip_to_end(self):
        """Forget everything logged so far (and the expectations)."""
        self._checked = self.mark()
        self._expected = []

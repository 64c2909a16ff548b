"""Where the small bench scripts keep what they report:
bench/results/<timestamp>-<name>.md, the path said on stderr."""
import datetime
import os
import sys

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "results")


def save_report(text, name):
    os.makedirs(RESULTS, exist_ok=True)
    path = os.path.join(RESULTS, datetime.datetime.now().strftime(
        "%Y%m%d-%H%M%S") + "-%s.md" % name)
    with open(path, "w") as f:
        f.write(text)
    sys.stderr.write("written to %s\n" % path)
    return path

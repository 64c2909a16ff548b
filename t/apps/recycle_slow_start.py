# recycle_slow_start.py - an import script that takes 3 s: with
# startup-timeout=1 its daemon never becomes ready (t/test_recycling.py).
import time

time.sleep(3)

"""Peak memory of a process tree, sampled while it runs.

Two figures: the sum of RSS (what `ps` shows; pages that forked workers share with their
parent are counted once per process, so this overstates the real use) and the sum of PSS
(proportional set size: each shared page divided among the processes sharing it, so the sum
is the memory the tree really holds).
"""

from __future__ import annotations

import subprocess
import time

import psutil


def watch(proc: subprocess.Popen[bytes], interval: float = 0.05) -> tuple[int, int]:
    """Wait for ``proc``; return (peak RSS sum, peak PSS sum) in bytes over its process tree."""
    root = psutil.Process(proc.pid)
    peak_rss = peak_pss = 0
    tick = 0
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            peak_rss = max(peak_rss, sum(p.memory_info().rss for p in tree))
            if tick % 4 == 0:  # PSS reads smaps: costlier, sample less often
                peak_pss = max(peak_pss, sum(p.memory_full_info().pss for p in tree))
        except psutil.Error:
            pass
        tick += 1
        time.sleep(interval)
    return peak_rss, peak_pss

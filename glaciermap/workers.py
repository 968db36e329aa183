"""How many worker processes a stage uses when the user does not say."""

from __future__ import annotations

import os

MAX_DEFAULT_WORKERS = 4
"""Beyond about four processes the one process that merges and writes results becomes the limit."""


def default_workers() -> int:
    """The CPUs this process may use (a container or taskset may allow fewer than the machine has),
    at most :data:`MAX_DEFAULT_WORKERS`, at least 1.

    Stages use processes, not threads: GDAL and numpy hold the GIL for much of their work.
    """
    available = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(MAX_DEFAULT_WORKERS, available or 1))

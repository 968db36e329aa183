"""Another process holding a run's lock, as a second ``glaciermap run`` would find it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def lock_held_elsewhere(lock: Path, label: str) -> Iterator[subprocess.Popen[str]]:
    """A child process that holds :class:`~glaciermap.pipeline.lock.RunLock` on ``lock`` until the
    block ends (then it lets go cleanly); yields the child (its ``pid`` is the holder's)."""
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from glaciermap.pipeline.lock import RunLock
        with RunLock(Path({str(lock)!r}), {label!r}):
            print("held", flush=True)
            sys.stdin.read()
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        holder.communicate("")

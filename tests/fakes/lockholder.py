"""Another process holding a lock, as a second ``glaciermap run`` or stage command would find it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def lock_held_elsewhere(
    lock: Path, label: str = "", *, output: bool = False
) -> Iterator[subprocess.Popen[str]]:
    """A child process that holds :class:`~glaciermap.io.lock.RunLock` on ``lock`` (with ``output``:
    :class:`~glaciermap.io.lock.OutputLock` on the folder ``lock``) until the block ends, then lets go
    cleanly; yields the child (its ``pid`` is the holder's)."""
    take = (
        f"OutputLock(Path({str(lock)!r}), folder=True)"
        if output
        else f"RunLock(Path({str(lock)!r}), {label!r})"
    )
    code = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from glaciermap.io.lock import OutputLock, RunLock
        with {take}:
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

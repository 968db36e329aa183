"""One run at a time per workspace, region and year: a lock file held with ``flock``, naming its holder.

The lock is ``logs/run-<region>-<year>.lock``. A run takes an exclusive ``flock`` on it without waiting
and writes its holder into it (pid, host, start time, command line); a clean end empties the file and
lets go. The kernel drops an ``flock`` when its process dies, so a run killed with ``kill -9`` (or a
reboot) leaves no lock, only its holder line: the next run takes the lock over at once and learns from
that line that the run before it was killed, which is when it sweeps the killed run's temporary files
(:mod:`glaciermap.pipeline.sweep`). No pid is ever guessed dead, so there is no race between two runs
taking over.

Forked worker processes (the simulator's pool) would inherit the descriptor and keep the lock alive
after their parent died; each child closes its copy right after the fork.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from glaciermap.errors import RunLockedError, WorkspaceError

_HELD: set[int] = set()
"""Descriptors of the locks this process holds (closed in forked children)."""


def _close_in_child() -> None:
    for fd in _HELD:
        with contextlib.suppress(OSError):
            os.close(
                fd
            )  # the parent's lock stays: flock is released only when every copy is closed
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_in_child)


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) a run lock."""

    pid: int
    host: str
    started: str  # ISO 8601, local time with its UTC offset
    argv: tuple[str, ...] = ()

    def describe(self) -> str:
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        return f"pid {self.pid}{where}, started {self.started}"

    def to_json(self) -> str:
        return json.dumps(
            {"pid": self.pid, "host": self.host, "started": self.started, "argv": list(self.argv)}
        )

    @classmethod
    def from_text(cls, text: str) -> Holder | None:
        """The holder written in a lock file, or None for an empty (released) or unreadable one."""
        try:
            data = json.loads(text)
            return cls(
                int(data["pid"]),
                str(data["host"]),
                str(data["started"]),
                tuple(str(a) for a in data.get("argv", ())),
            )
        except (ValueError, KeyError, TypeError):
            return None


def now_iso() -> str:
    """The current local time, ISO 8601 to the second with the UTC offset."""
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


class RunLock:
    """The lock of one region-year's run. Use as a context manager, or :meth:`acquire` / :meth:`release`.

    Args:
        path: the lock file (created, never removed: removing a locked file would let a second run lock
            a new file of the same name).
        what: how the lock is named in messages (``example 2016``).
    """

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what
        self.previous: Holder | None = None
        """The holder line a killed run left behind (None when the last run ended cleanly)."""
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock, or raise :class:`~glaciermap.errors.RunLockedError` naming the holder.

        Raises:
            RunLockedError: another live process holds it (exit code 75: try later).
            WorkspaceError: the lock file cannot be created.
        """
        import fcntl

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise WorkspaceError(
                f"cannot create the run lock {self.path}: {exc.strerror}",
                "check that the workspace is writable",
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = Holder.from_text(_read(fd))
            os.close(fd)
            who = holder.describe() if holder is not None else "a run that is starting"
            raise RunLockedError(
                f"another glaciermap run of {self.what} is in progress ({who})",
                "this run stops; the next one continues when that one has finished",
            ) from None
        self.previous = Holder.from_text(_read(fd))
        holder = Holder(os.getpid(), socket.gethostname(), now_iso(), tuple(sys.argv))
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.to_json().encode() + b"\n", 0)
        self._fd = fd
        _HELD.add(fd)
        return self

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Empty the holder line (a clean end) and let go of the lock."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        _HELD.discard(fd)
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the last copy releases the flock

    def __enter__(self) -> RunLock:
        return self if self.held else self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _read(fd: int) -> str:
    return os.pread(fd, 65536, 0).decode("utf-8", errors="replace")


def current_holder(path: Path) -> Holder | None:
    """Who holds the lock at ``path`` now, or None when nobody does (for ``run --status``)."""
    import fcntl

    if not path.is_file():
        return None
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return Holder.from_text(_read(fd)) or Holder(0, socket.gethostname(), "?")
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


__all__ = ["Holder", "RunLock", "current_holder", "now_iso"]

"""Locks held with ``flock`` that name their holder: one run per region-year, one writer per output.

A lock is a file. Its holder takes an exclusive ``flock`` on it and writes itself into it (pid, host,
start time, command line). The kernel drops an ``flock`` when its process dies, so a process killed
with ``kill -9`` (or a reboot) leaves no lock, only its holder line: the next process takes the lock
over at once and learns from that line that the one before it was killed. No pid is ever guessed dead,
so there is no race between two processes taking over.

* :class:`RunLock`: ``glaciermap run``'s ``logs/run-<region>-<year>.lock``. A clean end empties the
  file and keeps it; a run that finds a holder line sweeps the killed run's temporary files.
* :class:`OutputLock`: what every writing stage holds on the output it owns (a stack folder, a
  prediction folder, a run folder, a product folder, a GeoPackage): ``.<name>.lock`` beside the output.
  Holding it proves that no other glaciermap process writes there, so the temporary files found there
  belong to dead processes: they are swept (:mod:`glaciermap.io.sweep`) when the lock is taken, and
  again when the holder lets go of it (after an error or a signal: what its stopped workers were
  writing; after a clean end: what a dead cluster worker was). A clean end removes the lock file.

Locks are reentrant within a process (a command locks its output before checking it, then the library
call locks it again). Forked worker processes would inherit the descriptor and keep a lock alive after
their parent died; each child closes its copy right after the fork.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shlex
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from glaciermap.errors import (
    GlaciermapError,
    InputError,
    OutputLockedError,
    RunLockedError,
    TryLaterError,
    WorkspaceError,
)

LOCK_SUFFIX = ".lock"

_HELD: dict[Path, int] = {}
"""The locks this process holds: lock file -> descriptor. Closed in forked children."""


def _close_in_child() -> None:
    for fd in _HELD.values():
        with contextlib.suppress(OSError):
            # The parent's lock stays: flock is released only when every copy is closed.
            os.close(fd)
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_in_child)


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) a lock."""

    pid: int
    host: str
    started: str  # ISO 8601, local time with its UTC offset
    argv: tuple[str, ...] = ()

    def describe(self, *, command: bool = False) -> str:
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        text = f"pid {self.pid}{where}, started {self.started}"
        if command and self.argv:
            line = shlex.join([Path(self.argv[0]).name, *self.argv[1:]])
            text += f": {line if len(line) <= 100 else line[:99] + '…'}"
        return text

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


def holds(path: Path) -> bool:
    """Whether this process holds the lock file ``path``."""
    return _key(path) in _HELD


def _key(path: Path) -> Path:
    return Path(path).resolve()


class RunLock:
    """The lock of one region-year's run. Use as a context manager, or :meth:`acquire` / :meth:`release`.

    Args:
        path: the lock file (created; kept when released: an empty file means a clean end).
        what: how the lock is named in messages (``example 2016``).
    """

    remove_file = False
    """Whether a clean release removes the lock file (the :class:`OutputLock`s) or only empties it."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = path
        self.what = what
        self.make_folder = True
        """Whether the lock file's folder is created when missing."""
        self.previous: Holder | None = None
        """The holder line a killed process left behind (None when the last holder ended cleanly)."""
        self._fd: int | None = None
        self._nested = False

    def refusal(self, holder: Holder | None) -> TryLaterError:
        """The error a second process gets while ``holder`` holds the lock."""
        who = holder.describe() if holder is not None else "a run that is starting"
        return RunLockedError(
            f"another glaciermap run of {self.what} is in progress ({who})",
            "this run stops; the next one continues when that one has finished",
        )

    def cannot_create(self, exc: OSError) -> GlaciermapError:
        return WorkspaceError(
            f"cannot create the run lock {self.path}: {exc.strerror}",
            "check that the workspace is writable",
        )

    def acquire(self) -> RunLock:
        """Take the lock, or raise :meth:`refusal`'s error naming the holder.

        Raises:
            TryLaterError: another live process holds it (exit code 75: try later).
            GlaciermapError: the lock file cannot be created (:meth:`cannot_create`).
        """
        import fcntl

        key = _key(self.path)
        if key in _HELD:  # this process holds it already: nothing to take, nothing to release
            self._nested = True
            return self
        while True:
            try:
                if self.make_folder:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise self.cannot_create(exc) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = Holder.from_text(_read(fd))
                os.close(fd)
                raise self.refusal(holder) from None
            if _same_file(fd, self.path):
                break
            # A releasing holder removed the file between our open and our flock: lock the new one.
            os.close(fd)
        self.previous = Holder.from_text(_read(fd))
        holder = Holder(os.getpid(), socket.gethostname(), now_iso(), tuple(sys.argv))
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.to_json().encode() + b"\n", 0)
        self._fd = fd
        _HELD[key] = fd
        return self

    @property
    def held(self) -> bool:
        return self._fd is not None or self._nested

    def release(self) -> None:
        """Let go of the lock: its file emptied (a clean end) or removed (:attr:`remove_file`)."""
        if self._nested:
            self._nested = False
            return
        fd, self._fd = self._fd, None
        if fd is None:
            return
        _HELD.pop(_key(self.path), None)
        try:
            if self.remove_file:
                # Removed while still held: a process waiting on the old file sees it is gone.
                self.path.unlink(missing_ok=True)
            else:
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


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = path.stat()
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def current_holder(path: Path) -> Holder | None:
    """Who holds the lock at ``path`` now, or None when nobody does (for ``run --status``)."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return Holder.from_text(_read(fd)) or Holder(0, socket.gethostname(), "?")
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def held_elsewhere(path: Path) -> bool:
    """Whether another process holds the lock file ``path`` now."""
    return not holds(path) and current_holder(path) is not None


def remove_if_stale(path: Path) -> bool:
    """Remove the lock file ``path`` when nobody holds it (a killed holder's); True when removed."""
    import fcntl

    if holds(path):
        return False
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    try:
        # A process that opened it before the unlink finds it gone once it has the flock, and retries.
        if _same_file(fd, path):
            path.unlink(missing_ok=True)
            return True
        return False
    finally:
        os.close(fd)


def lock_path(output: str | os.PathLike[str]) -> Path:
    """The lock file of an output: ``.<name>.lock`` beside it."""
    target = Path(output).resolve()
    return target.with_name(f".{target.name}{LOCK_SUFFIX}")


def is_lock_name(name: str) -> bool:
    """Whether ``name`` is an :class:`OutputLock`'s file name (``.<name>.lock``)."""
    return name.startswith(".") and name.endswith(LOCK_SUFFIX) and len(name) > len(LOCK_SUFFIX) + 1


class OutputLock(RunLock):
    """The lock of one output a stage writes: a folder (everything in it) or a file.

    Taking it sweeps the temporary files of dead writers of the output (:attr:`swept`); leaving it
    sweeps again: on an exception (an error, Ctrl-C, SIGTERM) that removes what this process's own
    pool workers were writing when they were stopped, at a clean end what a cluster's worker was
    writing when it died (the scheduler ran its task again elsewhere).

    Args:
        output: the folder or file.
        folder: whether ``output`` is a folder (it need not exist yet).
    """

    remove_file = True

    def __init__(self, output: str | os.PathLike[str], *, folder: bool) -> None:
        super().__init__(lock_path(output), str(output))
        self.output = Path(output)
        self.folder = folder
        self.make_folder = folder  # a file's folder must exist (as atomic_output asks)
        self.swept: list[Path] = []

    def refusal(self, holder: Holder | None) -> TryLaterError:
        who = holder.describe(command=True) if holder is not None else "a process that is starting"
        return OutputLockedError(
            f"{self.what} is being written by another glaciermap process ({who})",
            "run again when it has finished",
        )

    def cannot_create(self, exc: OSError) -> GlaciermapError:
        if isinstance(exc, FileNotFoundError) and not self.folder:
            return InputError(
                f"output folder {self.output.parent} does not exist",
                "create it first or choose another output path",
            )
        if self.folder:
            return InputError(
                f"cannot create output folder {self.output}: {exc.strerror}",
                "choose a folder you can write to",
            )
        return InputError(
            f"cannot write in {self.path.parent}: {exc.strerror}",
            "choose a folder you can write to",
        )

    def acquire(self) -> OutputLock:
        super().acquire()
        if not self._nested:
            self.swept = self.sweep()
        return self

    def sweep(self) -> list[Path]:
        """Remove the temporary files of the output's dead writers (the lock must be held)."""
        from glaciermap.io.sweep import sweep, sweep_file

        return sweep([self.output]) if self.folder else sweep_file(self.output)

    def __enter__(self) -> OutputLock:
        return self if self.held else self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:
            if self._fd is not None:
                self.sweep()
        finally:
            self.release()


__all__ = [
    "LOCK_SUFFIX",
    "Holder",
    "OutputLock",
    "RunLock",
    "current_holder",
    "held_elsewhere",
    "holds",
    "is_lock_name",
    "lock_path",
    "now_iso",
    "remove_if_stale",
]

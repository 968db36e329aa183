"""SIGINT and SIGTERM as a clean stop: the same unwinding as Ctrl-C, and one line saying what was done.

While :func:`handling` is on (``glaciermap``'s ``main`` turns it on), either signal raises
:class:`Interrupted` (a :class:`KeyboardInterrupt`) in the main thread, so every ``finally`` runs:
``atomic_output`` removes its temporary file, pools stop their workers, output locks sweep what those
workers were writing, and the command exits with ``128 + signal`` (130 for SIGINT, 143 for SIGTERM).
Before it is raised, the :func:`at_interrupt` callbacks run (the worker pools kill their processes,
which ignore both signals and would otherwise finish their task first). A second signal while the
first unwinds ends the process at once; the next run sweeps what it leaves.

Stages say what they had finished with :func:`noting`, which ``main`` prints after ``interrupted:``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_received: list[int] = []
_notes: list[str] = []
_callbacks: list[Callable[[], None]] = []


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM, raised in the main thread by :func:`handling`'s handler."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def _handler(signum: int, frame: object) -> None:
    if _received:
        os._exit(128 + signum)  # a second signal: stop now, however far the clean-up got
    _received.append(signum)
    for callback in _callbacks:
        callback()
    raise Interrupted(signum)


@contextlib.contextmanager
def handling() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into :class:`Interrupted` for the block (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    _notes.clear()
    previous = {s: signal.signal(s, _handler) for s in SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def received() -> int | None:
    """The signal that interrupted this process, or None."""
    return _received[0] if _received else None


def check() -> None:
    """Raise :class:`Interrupted` in a worker thread once the main thread was interrupted (threads
    receive no signals: those that loop call this to stop with it)."""
    if _received:
        raise Interrupted(_received[0])


def at_interrupt(callback: Callable[[], None]) -> None:
    """Run ``callback`` when the first signal arrives, before :class:`Interrupted` is raised."""
    _callbacks.append(callback)


def note(text: str) -> None:
    """Say what the interrupted work had finished (``5 of 9 tiles written``); the last note wins."""
    _notes[:] = [text]


def finished() -> str | None:
    """The last :func:`note`, or None."""
    return _notes[-1] if _notes else None


@contextlib.contextmanager
def noting(describe: Callable[[], str], *, replace: bool = False) -> Iterator[None]:
    """:func:`note` ``describe()`` when the block is interrupted (Ctrl-C, SIGTERM), unless a block
    inside it (which usually knows more) noted already and not ``replace``."""
    try:
        yield
    except KeyboardInterrupt:
        if replace or not _notes:
            note(describe())
        raise


__all__ = [
    "SIGNALS",
    "Interrupted",
    "at_interrupt",
    "check",
    "finished",
    "handling",
    "note",
    "noting",
    "received",
]

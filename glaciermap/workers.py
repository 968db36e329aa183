"""The one worker pool: how preprocess, predict, vectorize and simulate spread independent tasks.

:func:`map_tasks` runs ``task(state, item)`` for every item and yields the results. Where the tasks run
is an :class:`Executor`'s business, and the stages never ask which one they got:

* :class:`LocalPool` (``workers=N``, an int): in this process (``N <= 1``) or in a pool of ``N`` worker
  processes on this machine;
* :class:`glaciermap.cluster.DaskExecutor`: the workers of a Dask distributed cluster, on other machines
  too (``--scheduler ADDRESS`` or ``--cluster local[:N]``; :func:`glaciermap.cluster.open_executor`).

Each worker builds its ``state`` once with ``setup(*setup_args)`` (open a raster, load a model), so
tasks stay small and nothing lives in module globals of the stages. Errors raised by a task reach the
caller unchanged (a :class:`~glaciermap.errors.GlaciermapError` keeps its hint across the process or
network boundary). A stage says what its tasks need besides their items: the files they read and the
folder they write (:class:`SharedPaths`, checked on every machine of a cluster before the first task)
and resources (``{"GPU": 1}``), which a local pool ignores.

Local pools: Ctrl-C goes to the whole process group and SIGTERM often does: workers ignore both. When
the caller is interrupted (:mod:`glaciermap.interrupt`) its pools' workers are killed at once, before
their task would rename a file into place, and the caller's output lock sweeps what they were writing;
when the caller dies, its workers die with it.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from glaciermap import interrupt

Item = TypeVar("Item")
Result = TypeVar("Result")

MAX_DEFAULT_WORKERS = 4
"""Beyond about four processes the one process that merges and writes results becomes the limit."""

StartMethod = Literal["spawn", "fork"]
Progress = Callable[[int, int], None]
"""Called with ``(tasks done, tasks in all)`` after each task."""


def available_cpus() -> int:
    """The CPUs this process may use (a container or taskset may allow fewer than the machine has)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_workers() -> int:
    """Worker processes a stage uses when the user does not say: the CPUs this process may use, at most
    :data:`MAX_DEFAULT_WORKERS`, at least 1.

    Stages use processes, not threads: GDAL and numpy hold the GIL for much of their work.
    """
    return max(1, min(MAX_DEFAULT_WORKERS, available_cpus()))


# The state of this worker process, built once by the pool's initializer. It is private to this module:
# stages receive it as the first argument of their task.
_worker_state: list[Any] = []


def _die_with_parent(parent: int) -> None:
    """End this worker when its parent dies (``kill -9``, the OOM killer), not later.

    A pool's workers outlive a killed parent otherwise: each finishes its task (renaming its file into
    place while the next run may already be working there), then waits forever for the next one. On
    Linux the kernel sends SIGKILL (``PR_SET_PDEATHSIG``); elsewhere a thread watches the parent id.
    """
    import signal
    import sys
    import threading

    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    else:

        def watch() -> None:
            import time

            while os.getppid() == parent:
                time.sleep(0.5)
            os._exit(1)

        threading.Thread(target=watch, name="glaciermap-parent-watch", daemon=True).start()
    if os.getppid() != parent:  # died before the watch was set
        os._exit(1)


def _init_worker(
    setup: Callable[..., Any] | None, setup_args: tuple[Any, ...], parent: int | None = None
) -> None:
    import signal

    for signum in interrupt.SIGNALS:
        signal.signal(signum, signal.SIG_IGN)
    if parent is not None:
        _die_with_parent(parent)
    _worker_state[:] = [setup(*setup_args) if setup is not None else None]


_LIVE_POOLS: list[Any] = []
"""The process pools of running :func:`map_tasks` calls."""


def _kill_workers() -> None:
    """Kill every worker of the live pools and wait until they are gone (not reaping them: the pool
    does), so that none writes a file after this returns."""
    import contextlib
    import signal

    pids = [p.pid for pool in _LIVE_POOLS for p in list((pool._processes or {}).values()) if p.pid]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for pid in pids:
        with contextlib.suppress(ChildProcessError):  # reaped already
            os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)


interrupt.at_interrupt(_kill_workers)


def _run_task(task: Callable[[Any, Any], Any], item: Any) -> Any:
    return task(_worker_state[0], item)


@dataclass(frozen=True)
class SharedPaths:
    """What the tasks of a map read and where they write, which every machine running them must see.

    Attributes:
        folder: the folder the tasks write in, or None when they write nothing: the caller writes a
            probe file there that every worker of a cluster must read back, so a worker that sees
            another folder under the same name (its local disk, not the shared one) is found too.
        reads: files or folders the tasks read (a file must have the caller's size and time).
    """

    folder: Path | None
    reads: tuple[Path, ...] = ()


class Executor:
    """Where :func:`map_tasks` runs tasks; use it as a context manager (:meth:`close` at the end).

    Attributes:
        distributed: tasks may run on other machines, which see the caller's files only through
            shared storage. Work that is fastest in one process here (predict's sweep, which gives
            every core to torch) is cut into tasks only then.
    """

    distributed: bool = False

    @property
    def slots(self) -> int:
        """Tasks that can run at once (processes of a pool, threads of a cluster's workers)."""
        return 1

    def map(
        self,
        task: Callable[[Any, Item], Result],
        items: Sequence[Item],
        *,
        setup: Callable[..., Any] | None = None,
        setup_args: tuple[Any, ...] = (),
        start_method: StartMethod = "spawn",
        ordered: bool = True,
        in_flight: int | None = None,
        progress: Progress | None = None,
        resources: Mapping[str, float] | None = None,
    ) -> Generator[Result, None, None]:
        """:func:`map_tasks` on this executor (see there for the arguments)."""
        raise NotImplementedError

    def check_shared(self, shared: SharedPaths) -> None:
        """Raise :class:`~glaciermap.errors.InputError` when a worker cannot see ``shared``'s paths."""

    def resources(self) -> dict[str, float]:
        """The resources the workers offer, summed (``{"GPU": 2.0}``); none for a local pool."""
        return {}

    def close(self) -> None:
        """Let go of the workers."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LocalPool(Executor):
    """``workers`` processes on this machine (``<= 1``: everything in the calling process)."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = max(1, int(workers))

    @property
    def slots(self) -> int:
        return self.workers

    def map(
        self,
        task: Callable[[Any, Item], Result],
        items: Sequence[Item],
        *,
        setup: Callable[..., Any] | None = None,
        setup_args: tuple[Any, ...] = (),
        start_method: StartMethod = "spawn",
        ordered: bool = True,
        in_flight: int | None = None,
        progress: Progress | None = None,
        resources: Mapping[str, float] | None = None,
    ) -> Generator[Result, None, None]:
        import multiprocessing

        workers = self.workers
        total = len(items)
        if (
            workers <= 1
            or total <= 1
            or start_method not in multiprocessing.get_all_start_methods()
        ):
            state = setup(*setup_args) if setup is not None else None
            for done, item in enumerate(items, start=1):
                result = task(state, item)
                if progress is not None:
                    progress(done, total)
                yield result
            return

        from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

        limit = in_flight if in_flight is not None else (2 * workers if ordered else total)
        limit = max(1, limit)
        pool = ProcessPoolExecutor(
            max_workers=min(workers, total),
            mp_context=multiprocessing.get_context(start_method),
            initializer=_init_worker,
            initargs=(setup, setup_args, os.getpid()),
        )
        _LIVE_POOLS.append(pool)
        try:
            waiting = deque(items)
            running: deque[Future[Result]] = deque()
            done = 0
            while waiting or running:
                while waiting and len(running) < limit:
                    running.append(pool.submit(_run_task, task, waiting.popleft()))
                if ordered:
                    future = running.popleft()
                else:
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    future = next(f for f in running if f in finished)
                    running.remove(future)
                result = future.result()
                done += 1
                if progress is not None:
                    progress(done, total)
                yield result
        finally:
            _LIVE_POOLS.remove(pool)
            pool.shutdown(wait=True, cancel_futures=True)


Workers = int | Executor
"""What a stage's ``workers`` argument takes: a number of local processes, or an :class:`Executor`."""


def as_executor(workers: Workers) -> Executor:
    """``workers`` as an :class:`Executor` (an int becomes a :class:`LocalPool`)."""
    return workers if isinstance(workers, Executor) else LocalPool(workers)


def worker_slots(workers: Workers) -> int:
    """Tasks that ``workers`` runs at once (for sizing work: strips in flight, memory budgets)."""
    return max(1, as_executor(workers).slots)


def map_tasks(
    task: Callable[[Any, Item], Result],
    items: Sequence[Item],
    *,
    workers: Workers = 1,
    setup: Callable[..., Any] | None = None,
    setup_args: tuple[Any, ...] = (),
    start_method: StartMethod = "spawn",
    ordered: bool = True,
    in_flight: int | None = None,
    progress: Progress | None = None,
    shared: SharedPaths | None = None,
    resources: Mapping[str, float] | None = None,
) -> Generator[Result, None, None]:
    """Run ``task(state, item)`` for every item and yield the results.

    Args:
        task: a module-level function (picklable by name) of the worker state and one item.
        items: the work; each item is pickled to a worker, so keep items small.
        workers: local processes (``<= 1``, or a single item, runs everything in this process) or an
            :class:`Executor` (a Dask cluster).
        setup: builds a worker's state from ``setup_args``, once per worker (None: state is None).
        setup_args: arguments of ``setup``. With ``start_method="fork"`` they reach local workers by
            inheritance, never pickled (for large read-only inputs such as a simulated landscape).
        start_method: of a local pool: ``"spawn"`` (default: a forked child would inherit GDAL's
            handles and locks) or ``"fork"`` (only for state that is plain numpy, built before the
            pool starts). Where fork is not available, the tasks run in this process.
        ordered: yield results in the order of ``items`` (else as they finish).
        in_flight: the most tasks submitted and not yet yielded (default ``2 * slots`` when
            ordered, so results waiting for a slow one stay few; every task at once otherwise).
        progress: called ``(done, total)`` as each result comes back, before it is yielded.
        shared: the paths the tasks read and write, checked on every worker of a cluster first.
        resources: what each task needs of a cluster worker (``{"GPU": 1}``); local pools ignore it.

    Yields:
        The task results. Closing the generator early (``contextlib.closing``) stops the work.

    Raises:
        InputError: a worker of a cluster cannot see ``shared``'s paths, or no worker offers
            ``resources``.
    """
    executor = as_executor(workers)
    if shared is not None and items:
        executor.check_shared(shared)
    return executor.map(
        task,
        items,
        setup=setup,
        setup_args=setup_args,
        start_method=start_method,
        ordered=ordered,
        in_flight=in_flight,
        progress=progress,
        resources=resources,
    )


__all__ = [
    "MAX_DEFAULT_WORKERS",
    "Executor",
    "LocalPool",
    "SharedPaths",
    "Workers",
    "as_executor",
    "available_cpus",
    "default_workers",
    "map_tasks",
    "worker_slots",
]

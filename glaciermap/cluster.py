"""Dask distributed as an executor of :func:`glaciermap.workers.map_tasks`: the same stages on many machines.

``--scheduler ADDRESS`` (or ``GLACIERMAP_SCHEDULER``, or ``scheduler =`` in the config file's ``[dask]``
table) connects to a running cluster; ``--cluster local[:N]`` starts a ``LocalCluster`` of ``N`` worker
processes here (for trying it out, and for the tests); with neither, the local process pool runs
(:func:`open_executor`). The stages hand their tasks to :class:`DaskExecutor` exactly as to a local
pool; what differs is kept here:

* **Shared storage.** Workers read and write the workspace through the same path as this process. Before
  the first task of a map, this process writes a probe file in the folder the tasks write and every
  worker must read it back and see the files the tasks read (:meth:`DaskExecutor.check_shared`); a
  worker that cannot, or does not answer within the timeout, is one error line naming it.
* **Worker state.** ``setup(*setup_args)`` runs once per worker thread and map (a model loaded once,
  a raster opened once), kept by the worker until the next map replaces it.
* **Faults.** A worker that dies mid-task has its task rerun on another by the scheduler; the stages
  write every file under a temporary name and rename it when complete, so nothing half-written is
  left under a final name. A task that killed its workers three times (Dask's ``allowed-failures``)
  and a lost scheduler are one-line :class:`~glaciermap.errors.RemoteError`\\ s; a task's own
  exception (an :class:`~glaciermap.errors.InputError` with its hint) reaches the caller as it was
  raised.
* **Resources.** Tasks that need a GPU ask for ``{"GPU": 1}``: they run only on workers started with
  ``dask worker --resources GPU=1``, one at a time per GPU. A map asking for a resource no worker
  offers is an error, not a wait.

Dask is imported only when a cluster is asked for: ``glaciermap`` itself runs without it, and asking
without it installed is one line naming the extra to install.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import uuid
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from concurrent.futures import CancelledError
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from glaciermap.errors import ConfigError, GlaciermapError, InputError, RemoteError
from glaciermap.workers import (
    Executor,
    LocalPool,
    Progress,
    SharedPaths,
    StartMethod,
    default_workers,
)

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")

SCHEDULER_ENV = "GLACIERMAP_SCHEDULER"
"""The environment variable naming the scheduler (``tcp://host:8786``), below ``--scheduler``."""
CONFIG_TABLE = "dask"
"""The config file's table: ``scheduler``, ``cluster`` and ``timeout`` (seconds)."""
_CONFIG_KEYS = ("scheduler", "cluster", "timeout")
DEFAULT_TIMEOUT = 30.0
"""Seconds to reach the scheduler, for a first worker to join, and for every worker to answer the
shared-storage probe: long enough for a busy cluster, short enough not to look like a hang."""
INSTALL_HINT = "pip install 'glaciermap[dask]'"
TRIM_SETTING = "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_"
"""The Dask setting that makes nannies trim their workers' memory eagerly (see the README for the
workers of a cluster glaciermap does not start)."""
STORAGE_HINT = (
    "every worker must see the workspace at the same path as this machine (a shared filesystem "
    "such as NFS, Lustre or GPFS mounted alike on every node); see the README, Many machines"
)


@dataclass(frozen=True)
class ClusterSpec:
    """Which Dask cluster to use.

    Attributes:
        scheduler: the address of a running scheduler (``tcp://host:8786``), or None.
        local_workers: with no scheduler, the worker processes of a ``LocalCluster`` started here.
        timeout: seconds for connecting, for a first worker, and for the storage probe.
        source: where the choice came from, for messages (``--scheduler``, ``GLACIERMAP_SCHEDULER``,
            ``[dask] in glaciermap.toml``).
    """

    scheduler: str | None = None
    local_workers: int | None = None
    timeout: float = DEFAULT_TIMEOUT
    source: str = "--scheduler"

    def describe(self) -> str:
        if self.scheduler is not None:
            return f"the Dask scheduler at {self.scheduler}"
        return f"a local Dask cluster of {self.local_workers} worker(s)"


def parse_cluster(text: str, source: str = "--cluster") -> int:
    """The worker count of ``local`` (:func:`~glaciermap.workers.default_workers`) or ``local:N``.

    Raises:
        InputError: anything else.
    """
    name, _, count = text.strip().partition(":")
    if name == "local":
        if not count:
            return default_workers()
        if count.isdigit() and int(count) >= 1:
            return int(count)
    raise InputError(
        f"{source} {text!r} is not a cluster glaciermap can start",
        "give local (a worker per CPU, at most 4) or local:N (N worker processes); for another "
        "cluster start its scheduler and give --scheduler ADDRESS",
    )


def resolve_spec(
    scheduler: str | None,
    cluster: str | None,
    table: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
    config_name: str = "glaciermap.toml",
) -> ClusterSpec | None:
    """The cluster asked for, or None for the local process pool.

    The command line wins (``--scheduler`` or ``--cluster``, not both), then ``GLACIERMAP_SCHEDULER``,
    then the config file's ``[dask]`` table (``scheduler`` or ``cluster``, and ``timeout``).

    Raises:
        InputError: both options given, or a ``--cluster`` other than ``local[:N]``.
        ConfigError: an unknown key or a bad value in ``[dask]``.
    """
    table = dict(table or {})
    unknown = sorted(set(table) - set(_CONFIG_KEYS))
    where = f"[{CONFIG_TABLE}] in {config_name}"
    if unknown:
        raise ConfigError(
            f"{where} has no setting {', '.join(map(repr, unknown))}",
            f"use one of: {', '.join(_CONFIG_KEYS)}",
        )
    try:
        timeout = float(table.get("timeout", DEFAULT_TIMEOUT))
    except (TypeError, ValueError):
        timeout = -1.0
    if not timeout > 0:
        raise ConfigError(f"{where}: timeout must be a number of seconds above 0", "e.g. 30")
    if scheduler and cluster:
        raise InputError(
            "--scheduler and --cluster were both given",
            "give --scheduler ADDRESS for a running cluster, or --cluster local[:N] to start one",
        )
    environ = os.environ if environ is None else environ
    if scheduler:
        return ClusterSpec(scheduler=scheduler.strip(), timeout=timeout, source="--scheduler")
    if cluster:
        return ClusterSpec(
            local_workers=parse_cluster(cluster), timeout=timeout, source="--cluster"
        )
    if environ.get(SCHEDULER_ENV, "").strip():
        return ClusterSpec(
            scheduler=environ[SCHEDULER_ENV].strip(), timeout=timeout, source=SCHEDULER_ENV
        )
    if table.get("scheduler") and table.get("cluster"):
        raise ConfigError(f"{where} sets both scheduler and cluster", "keep one of them")
    if table.get("scheduler"):
        return ClusterSpec(scheduler=str(table["scheduler"]).strip(), timeout=timeout, source=where)
    if table.get("cluster"):
        workers = parse_cluster(str(table["cluster"]), f"{where}: cluster")
        return ClusterSpec(local_workers=workers, timeout=timeout, source=where)
    return None


def _distributed() -> Any:
    """The ``distributed`` package, or the one line saying how to install it."""
    try:
        import distributed
    except ImportError:
        raise InputError(
            "a Dask cluster was asked for, but Dask distributed is not installed",
            INSTALL_HINT,
        ) from None
    return distributed


@contextlib.contextmanager
def open_executor(spec: ClusterSpec | None, workers: int | None = None) -> Iterator[Executor]:
    """The executor ``spec`` asks for: a :class:`DaskExecutor` (connected, or on a ``LocalCluster``
    started here and stopped at the end) or, for None, a :class:`~glaciermap.workers.LocalPool` of
    ``workers`` processes (default :func:`~glaciermap.workers.default_workers`).

    Raises:
        InputError: Dask is not installed, the scheduler cannot be reached, or no worker joins it
            within the timeout.
    """
    if spec is None:
        with LocalPool(workers or default_workers()) as pool:
            yield pool
        return
    executor = DaskExecutor.connect(spec)
    try:
        yield executor
    finally:
        executor.close()


# ----------------------------------------------------------------------------------------------------
# On the workers


_local = threading.local()


def _run_task(
    task: Callable[[Any, Any], Any],
    setup: Callable[..., Any] | None,
    setup_args: tuple[Any, ...],
    map_key: str,
    item: Any,
) -> Any:
    """A task on a worker: its thread's state for this map, built on the first task of the map."""
    try:
        held = getattr(_local, "state", None)
        if held is None or held[0] != map_key:
            _local.state = None  # the previous map's state goes before this one's is built
            _local.state = (map_key, setup(*setup_args) if setup is not None else None)
        return task(_local.state[1], item)
    except GlaciermapError as exc:
        # Dask pickles an error with its chain of causes, and sends a bare Exception instead when
        # one of them does not come back (GDAL's errors do not): the user's line is the message
        # and the hint, which the error keeps (GlaciermapError.__reduce__).
        exc.__cause__ = exc.__context__ = None
        raise


def _stamp(path: Path) -> tuple[int, int] | None:
    """``(size, mtime_ns)`` of a file, or None for a folder."""
    stat = path.stat()
    return None if path.is_dir() else (stat.st_size, stat.st_mtime_ns)


def _sees(
    probe: str | None, token: str, reads: tuple[tuple[str, tuple[int, int] | None], ...]
) -> str | None:
    """On a worker: None when it reads ``token`` in ``probe`` and sees ``reads`` as the client does
    (files of the same size and modification time), else why not."""
    if probe is not None:
        try:
            found = Path(probe).read_text(encoding="utf-8")
        except OSError as exc:
            return f"it cannot read {Path(probe).parent} ({exc.strerror or exc})"
        if found != token:
            return f"another folder is at {Path(probe).parent} there (not this machine's)"
    for path, expected in reads:
        try:
            stamp = _stamp(Path(path))
        except OSError as exc:
            return f"it cannot see {path} ({exc.strerror or exc})"
        if stamp != expected:
            return f"{path} is another file there (size or time differ)"
    return None


# ----------------------------------------------------------------------------------------------------
# On the client


def _workers_info(client: Any) -> dict[str, Any]:
    """The scheduler's record of every worker (older clients take no ``n_workers`` and give all)."""
    try:
        info = client.scheduler_info(n_workers=-1)
    except TypeError:
        info = client.scheduler_info()
    return dict(info["workers"])


class DaskExecutor(Executor):
    """The workers of a Dask distributed cluster, through a connected ``distributed.Client``.

    Args:
        client: the client. spec: how it was found. cluster: the ``LocalCluster`` started for it
            (closed with the executor), or None for a running cluster.
    """

    distributed = True

    def __init__(self, client: Any, spec: ClusterSpec, cluster: Any = None) -> None:
        self.client = client
        self.spec = spec
        self.cluster = cluster
        self._checked: set[SharedPaths] = set()

    @classmethod
    def connect(cls, spec: ClusterSpec) -> DaskExecutor:
        """Connect to ``spec``'s scheduler (or start a ``LocalCluster``) and wait for a worker."""
        distributed = _distributed()
        cluster = None
        try:
            if spec.scheduler is None:
                import dask

                # Dask's nanny starts workers with MALLOC_TRIM_THRESHOLD_=65536, which turns off
                # glibc's dynamic mmap threshold: every large numpy array is then a fresh mmap,
                # measured +12 % CPU (4x the page faults) for a preprocess tile. Not for ours.
                with dask.config.set({TRIM_SETTING: None}):
                    # One thread per worker process: GDAL and numpy hold the GIL for much of it.
                    cluster = distributed.LocalCluster(
                        n_workers=spec.local_workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=":0",
                        # A task's error reaches the user as one line, not as the worker's log too.
                        silence_logs=logging.CRITICAL,
                    )
                client = distributed.Client(cluster, timeout=spec.timeout)
            else:
                client = distributed.Client(spec.scheduler, timeout=spec.timeout)
        except (OSError, TimeoutError, ValueError) as exc:
            if cluster is not None:
                cluster.close()
            raise InputError(
                f"cannot reach {spec.describe()} (from {spec.source}): {exc}",
                "start it (dask scheduler, see the README, Many machines) or fix the address",
            ) from None
        executor = cls(client, spec, cluster)
        try:
            client.wait_for_workers(1, timeout=spec.timeout)
        except TimeoutError:
            executor.close()
            raise InputError(
                f"no worker joined {spec.describe()} within {spec.timeout:g} s",
                f"start workers: dask worker {spec.scheduler or 'ADDRESS'} (see the README, Many "
                "machines)",
            ) from None
        log.debug(
            "tasks on %s: %d worker(s), %d thread(s); Dask dashboard: %s",
            spec.describe(),
            len(executor.client.nthreads()),
            executor.slots,
            executor.dashboard_link or "not served",
        )
        return executor

    @property
    def slots(self) -> int:
        """Threads of the workers now connected."""
        return max(1, sum(self.client.nthreads().values()))

    @property
    def dashboard_link(self) -> str | None:
        """The dashboard's address, when the scheduler serves one."""
        try:
            return str(self.client.dashboard_link)
        except (KeyError, AttributeError):
            return None

    def resources(self) -> dict[str, float]:
        total: dict[str, float] = {}
        for worker in _workers_info(self.client).values():
            for name, amount in (worker.get("resources") or {}).items():
                total[name] = total.get(name, 0.0) + float(amount)
        return total

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        if self.cluster is not None:
            with contextlib.suppress(Exception):
                self.cluster.close()

    def check_shared(self, shared: SharedPaths) -> None:
        """Every worker reads back a probe written in ``shared.folder`` and sees ``shared.reads``.

        Raises:
            InputError: a worker cannot (naming it and the path), or does not answer in time.
        """
        if shared in self._checked:
            return
        distributed = _distributed()
        token = uuid.uuid4().hex
        probe: Path | None = None
        if shared.folder is not None:
            # A hidden temporary name (io.files.TEMPORARY_NAME): a killed client's probe is swept.
            probe = Path(shared.folder) / f".glaciermap-probe.{token[:8]}.partial"
            try:
                probe.write_text(token, encoding="utf-8")
            except OSError:
                probe = None  # not writable here: the stage's own write says so, in its words
        reads = tuple((str(p), _stamp(p)) for p in shared.reads)
        workers = sorted(self.client.nthreads())
        futures = {
            address: self.client.submit(
                _sees,
                str(probe) if probe is not None else None,
                token,
                reads,
                workers=[address],
                allow_other_workers=False,
                pure=False,
                key=f"glaciermap-probe-{token[:8]}-{i}",
            )
            for i, address in enumerate(workers)
        }
        where = shared.folder if shared.folder is not None else shared.reads[0]
        try:
            try:
                distributed.wait(list(futures.values()), timeout=self.spec.timeout)
            except TimeoutError:
                silent = [a for a, f in futures.items() if not f.done()]
                more = f" (and {len(silent) - 1} more)" if len(silent) > 1 else ""
                raise InputError(
                    f"Dask worker {silent[0]}{more} did not say within {self.spec.timeout:g} s "
                    f"whether it sees {where}",
                    STORAGE_HINT,
                ) from None
            for address, future in futures.items():
                why = future.result()
                if why is not None:
                    raise InputError(
                        f"Dask worker {address} cannot see the workspace: {why}", STORAGE_HINT
                    )
        finally:
            self.client.cancel(list(futures.values()))
            if probe is not None:
                probe.unlink(missing_ok=True)
        self._checked.add(shared)

    def _check_resources(self, resources: Mapping[str, float] | None) -> None:
        if not resources:
            return
        offered = self.resources()
        for name, amount in resources.items():
            if offered.get(name, 0.0) < amount:
                raise InputError(
                    f"the tasks need {name}={amount:g} but no worker of {self.spec.describe()} "
                    f"offers it",
                    f"start such workers with dask worker --resources {name}={amount:g}"
                    + (" (or predict with --device cpu)" if name == "GPU" else ""),
                )

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
        self._check_resources(resources)
        return self._map(
            task, items, setup, setup_args, ordered, in_flight, progress, dict(resources or {})
        )

    def _map(
        self,
        task: Callable[[Any, Item], Result],
        items: Sequence[Item],
        setup: Callable[..., Any] | None,
        setup_args: tuple[Any, ...],
        ordered: bool,
        in_flight: int | None,
        progress: Progress | None,
        resources: dict[str, float],
    ) -> Generator[Result, None, None]:
        distributed = _distributed()
        total = len(items)
        if total == 0:
            return
        limit = in_flight if in_flight is not None else (2 * self.slots if ordered else total)
        limit = max(1, limit)
        map_key = uuid.uuid4().hex
        name = getattr(task, "__name__", "task").replace("_", "-")
        waiting = deque(enumerate(items))
        running: deque[Any] = deque()
        finished = distributed.as_completed()

        def submit() -> None:
            index, item = waiting.popleft()
            future = self.client.submit(
                _run_task,
                task,
                setup,
                setup_args,
                map_key,
                item,
                key=f"{name}-{map_key[:8]}-{index}",
                pure=False,
                resources=resources or None,
            )
            running.append(future)
            if not ordered:
                finished.add(future)

        try:
            while waiting and len(running) < limit:
                submit()
            done = 0
            while running:
                if ordered:
                    future = running.popleft()
                else:
                    future = next(finished)
                    running.remove(future)
                result = self._result(future)
                done += 1
                if waiting:
                    submit()
                if progress is not None:
                    progress(done, total)
                yield result
        finally:
            if running:
                self.client.cancel(list(running))

    def _result(self, future: Any) -> Any:
        """The task's result; a task that killed its workers or a lost scheduler is one line."""
        distributed = _distributed()
        try:
            return future.result()
        except distributed.KilledWorker as exc:
            raise RemoteError(
                f"task {future.key} ended the Dask workers that ran it ({exc}): out of memory, or "
                "killed",
                "see the workers' logs; give them more memory or fewer threads (dask worker "
                "--memory-limit, --nthreads)",
            ) from None
        except CancelledError as exc:  # distributed's FutureCancelledError among them
            raise RemoteError(
                f"{self.spec.describe()} dropped task {future.key} ({type(exc).__name__})",
                "check that the scheduler is still running, then run again",
            ) from None


__all__ = [
    "CONFIG_TABLE",
    "DEFAULT_TIMEOUT",
    "INSTALL_HINT",
    "SCHEDULER_ENV",
    "ClusterSpec",
    "DaskExecutor",
    "open_executor",
    "parse_cluster",
    "resolve_spec",
]

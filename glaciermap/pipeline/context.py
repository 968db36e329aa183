"""What every stage of a run sees: the options, the region-year's paths, and how inputs are identified.

A stage's inputs are described by small JSON values that change exactly when the stage's result would:
files by their path (relative to the workspace, so a moved or restored workspace keeps its stamps), size
and modification time in nanoseconds (:func:`file_identity`, :func:`tree_identity`: a ``stat``, no
read); weights by the sha256 of their tensors and card (:meth:`RunContext.weights_identity`); options as
given; the code version where the code decides the result. Nothing here opens a raster or imports a
heavy library, so a run whose stages are all up to date costs a few ``stat`` calls.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glaciermap.pipeline.runlog import RunLog
from glaciermap.regions import Region
from glaciermap.workspace import Workspace

if TYPE_CHECKING:
    from glaciermap.cluster import ClusterSpec
    from glaciermap.workers import Executor, Workers

ASF = "asf"
SIMULATE = "simulate"
SOURCES = (ASF, SIMULATE)
"""``--source`` values besides a folder of product zips."""

# predict's and vectorize's file names (glaciermap.predict.engine's constants, repeated so that checking a
# stamp imports no rasterio; a test checks that they agree).
PROBABILITY_NAME = "probability.tif"
MASK_NAME = "mask.tif"
PREDICT_RECORD_NAME = "predict.json"
OUTLINES_NAME = "outlines.gpkg"

DEFAULT_WEIGHTS = "unet3d"
DEFAULT_MIN_AREA_KM2 = 0.01
"""The smallest glacier kept, km² (RGI's minimum; vectorize's default)."""


def last_complete_year(today: dt.date | None = None) -> int:
    """The last calendar year that has ended: ``run``'s default year."""
    return (today or dt.date.today()).year - 1


@dataclass(frozen=True)
class RunOptions:
    """How ``glaciermap run`` maps a region-year; every field is a CLI option of ``run``.

    Attributes:
        weights: a weights spec (``unet3d``, ``ablation/unet3d-3acq``, a path; see models.lookup).
        source: ``asf`` (search ASF, order HyP3, fetch), ``simulate`` (the simulator into raw/, for
            demos and tests), or a folder of HyP3 product zips to import.
        reference: the inventory whose ids the first year keeps (used by the inventory update).
        acquisitions: 24-day slots to fill (15 spans the year; fewer are taken around 1 August,
            from ASF and from the simulator alike: :func:`glaciermap.calendar.chosen_slots`).
        wait: block until HyP3 has processed every job instead of exiting with 75.
        poll_seconds: seconds between HyP3 checks with ``wait``.
        force: rerun this stage and every stage after it.
        on_change: a command run with the year's summary.json when the summary says ``changed``.
        seed: the simulator's seed (the same seed gives the same glaciers every year).
        device: torch device for predict (auto, cpu, cuda, cuda:N).
        workers: processes for simulate, preprocess and vectorize (None: the CPUs, at most 4).
        cluster: the Dask cluster preprocess, predict and vectorize run their tasks on
            (``--scheduler``, ``--cluster``, ``GLACIERMAP_SCHEDULER`` or ``[dask]``), or None for
            ``workers`` local processes. The simulator stays on local processes: its landscape
            reaches them by fork, which a cluster would have to ship to every worker.
        min_area_km2: smallest glacier outline kept, km².
        search_host: the CMR host asf_search asks (None: ASF's).
        hyp3_url: the HyP3 API (None: the production API).
    """

    weights: str = DEFAULT_WEIGHTS
    source: str = ASF
    reference: Path | None = None
    acquisitions: int = 15
    wait: bool = False
    poll_seconds: float = 60.0
    force: str | None = None
    on_change: str | None = None
    seed: int = 0
    device: str = "auto"
    workers: int | None = None
    cluster: ClusterSpec | None = None
    min_area_km2: float = DEFAULT_MIN_AREA_KM2
    search_host: str | None = None
    hyp3_url: str | None = None

    @property
    def source_folder(self) -> Path | None:
        """The folder of products to import, when ``source`` names one."""
        return None if self.source in SOURCES else Path(self.source).expanduser()


def region_identity(region: Region) -> dict[str, Any]:
    """What of a region decides the products and stacks: its grid, AOI and orbit (not its name or
    description, which may be worded differently in another config file)."""
    fields = dataclasses.asdict(region)
    return {k: v for k, v in fields.items() if k not in ("name", "description")}


def file_identity(path: Path, root: Path) -> list[Any] | None:
    """``[path relative to root, size, mtime_ns]`` of a file, or None when it does not exist."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return [_relative(path, root), stat.st_size, stat.st_mtime_ns]


def tree_identity(folder: Path, root: Path, *, skip: tuple[str, ...] = ()) -> list[list[Any]]:
    """:func:`file_identity` of every file under ``folder``, sorted; hidden names and the top-level
    entries named in ``skip`` are left out (hidden names are files being written or resumable parts)."""
    found: list[list[Any]] = []
    if not folder.is_dir():
        return found
    for current, dirs, files in os.walk(folder):
        top = Path(current) == folder
        dirs[:] = [d for d in dirs if not d.startswith(".") and not (top and d in skip)]
        for name in files:
            if name.startswith(".") or (top and name in skip):
                continue
            identity = file_identity(Path(current) / name, root)
            if identity is not None:
                found.append(identity)
    return sorted(found)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path.resolve())


@dataclass
class RunContext:
    """The run of one region-year: options, paths and the log, handed to every stage.

    Attributes:
        weights: the resolved weights, ``folder/NAME`` (no suffix); ``NAME`` names the prediction.
        forced: the stages this run reruns whatever their stamps say (``--force`` and after).
    """

    workspace: Workspace
    region: Region
    year: int
    options: RunOptions
    log: RunLog
    weights: Path
    forced: frozenset[str] = frozenset()
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)
    _executor: Executor | None = field(default=None, repr=False)

    # -- paths ---------------------------------------------------------------------------------------

    @property
    def raw_dir(self) -> Path:
        return self.workspace.raw_dir(self.region.name, self.year)

    @property
    def stack_dir(self) -> Path:
        return self.workspace.stack_dir(self.region.name, self.year)

    @property
    def model_name(self) -> str:
        """The weights' name (``unet3d``): the prediction's folder, the inventory's ``model``."""
        return self.weights.name

    @property
    def prediction_dir(self) -> Path:
        return self.workspace.prediction_dir(self.region.name, self.year, self.model_name)

    @property
    def probability_path(self) -> Path:
        return self.prediction_dir / PROBABILITY_NAME

    @property
    def mask_path(self) -> Path:
        return self.prediction_dir / MASK_NAME

    @property
    def outlines_path(self) -> Path:
        """The year's outlines (vectorize's output): what the inventory update reads."""
        return self.prediction_dir / OUTLINES_NAME

    @property
    def inventory_dir(self) -> Path:
        return self.workspace.inventory_dir(self.region.name, self.year)

    @property
    def summary_path(self) -> Path:
        from glaciermap.inventory_format import SUMMARY_JSON

        return self.inventory_dir / SUMMARY_JSON

    @property
    def reference(self) -> Path | None:
        """``--reference``; with ``--source simulate`` and none given, the simulated scene's older
        inventory (``raw/<region>/<year>/truth/inventory_<year - 10>.gpkg``), once simulated."""
        if self.options.reference is not None:
            return self.options.reference
        if self.options.source == SIMULATE:
            from glaciermap.simulate.scene import EARLIER_INVENTORY_YEARS

            found = self.raw_dir / "truth" / f"inventory_{self.year - EARLIER_INVENTORY_YEARS}.gpkg"
            return found if found.is_file() else None
        return None

    def owned_folders(self) -> list[Path]:
        """The folders only this region-year's run writes in (swept after a killed run)."""
        region, year = self.region.name, self.year
        return [
            self.raw_dir,
            self.stack_dir,
            self.workspace.root / "predictions" / region / str(year),
            self.inventory_dir,
        ]

    # -- identities ----------------------------------------------------------------------------------

    def identity(self, path: Path) -> list[Any] | None:
        """:func:`file_identity` relative to the workspace."""
        return file_identity(path, self.workspace.root)

    def region_identity(self) -> dict[str, Any]:
        """:func:`region_identity` of this run's region."""
        return region_identity(self.region)

    def tree(self, folder: Path, *, skip: tuple[str, ...] = ()) -> list[list[Any]]:
        """:func:`tree_identity` relative to the workspace."""
        return tree_identity(folder, self.workspace.root, skip=skip)

    def weights_identity(self) -> dict[str, str]:
        """sha256 of the weights' tensors and of their card (normalisation, T, channels), once per run."""
        if "weights" not in self._cache:
            from glaciermap.io.files import file_digest
            from glaciermap.models.card import weight_paths

            tensors, card = weight_paths(self.weights)
            self._cache["weights"] = {
                "tensors": file_digest(tensors) if tensors.is_file() else "",
                "card": file_digest(card) if card.is_file() else "",
            }
        return dict(self._cache["weights"])

    @property
    def workers(self) -> int:
        from glaciermap.workers import default_workers

        return self.options.workers or default_workers()

    def executor(self) -> Workers:
        """Where preprocess, predict and vectorize run their tasks: the run's Dask cluster
        (connected, or started, by the first stage that asks, and kept until :meth:`close`), else
        :attr:`workers` local processes. A run whose stages are up to date starts no cluster."""
        if self.options.cluster is None:
            return self.workers
        if self._executor is None:
            from glaciermap.cluster import DaskExecutor

            self._executor = DaskExecutor.connect(self.options.cluster)
            self.log.info(
                f"tasks on {self.options.cluster.describe()} ({self._executor.slots} worker "
                "thread(s))"
            )
        return self._executor

    def close(self) -> None:
        """Leave the run's Dask cluster, if one was connected (one started here stops)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.close()


__all__ = [
    "ASF",
    "DEFAULT_MIN_AREA_KM2",
    "DEFAULT_WEIGHTS",
    "MASK_NAME",
    "OUTLINES_NAME",
    "PREDICT_RECORD_NAME",
    "PROBABILITY_NAME",
    "SIMULATE",
    "SOURCES",
    "RunContext",
    "RunOptions",
    "file_identity",
    "last_complete_year",
    "region_identity",
    "tree_identity",
]

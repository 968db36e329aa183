"""One tile of a stack: every slot's products mosaicked onto it, written as a COG, with its label.

:func:`process_tile` is a pure function of a small picklable :class:`TileTask` (the same task gives the
same files, whichever process runs it), so :func:`glaciermap.workers.map_tasks` can spread tiles over
processes and a distributed executor over machines. It holds one tile's ``(T, C, H, W)`` array in
memory, never a whole scene.

Each file records, in a GeoTIFF tag, a digest of what it was made from (:func:`tile_inputs`) and what
:class:`TileResult` says of it (:data:`RESULT_TAG`), so a run that was stopped (a killed client, a lost
cluster) is finished by the next one without redoing the tiles that were complete
(:func:`finished_tile`).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glaciermap.regions import Bounds, north_up_transform
from glaciermap.stack_format import CHANNELS

if TYPE_CHECKING:
    import numpy as np

    from glaciermap.preprocess.products import ProductRecord

BLOCK_SIZE = 256
"""Internal tile size of the stack's COGs (and of ``stack.vrt``)."""
RESULT_TAG = "GLACIERMAP_TILE"
"""The GeoTIFF tag of a tile file (and of its label) holding, as JSON, :func:`tile_inputs` and the
tile's :class:`TileResult` figures: a finished tile of the same inputs is not made again."""


@dataclass(frozen=True)
class TileTask:
    """Everything :func:`process_tile` needs for one tile; picklable and small.

    Attributes:
        tile_id, bounds: the tile.
        pixel_size: metres. crs: the region's CRS.
        slots: per slot, ``(rtc_products, insar_products)`` overlapping the tile.
        descriptions: band descriptions (``T * C``).
        stack_path: the tile file to write.
        label_path: the label file to write, or None without an inventory.
        outlines_wkb: the inventory outlines clipped to the tile (WKB), or None without an inventory.
        coherence_resampling: resampling of the 40 m coherence onto the 10 m grid.
        inputs: :func:`tile_inputs` of the task, recorded in the files (:data:`RESULT_TAG`).
    """

    tile_id: str
    bounds: Bounds
    pixel_size: float
    crs: str
    slots: tuple[tuple[tuple[ProductRecord, ...], tuple[ProductRecord, ...]], ...]
    descriptions: tuple[str, ...]
    stack_path: Path
    label_path: Path | None = None
    outlines_wkb: tuple[bytes, ...] | None = None
    coherence_resampling: str = "bilinear"
    inputs: str = ""


@dataclass(frozen=True)
class ChannelStats:
    """Streaming statistics of one channel: count, mean and sum of squared deviations (Chan et al.)."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def merge(self, other: ChannelStats) -> ChannelStats:
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        n = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * other.count / n
        m2 = self.m2 + other.m2 + delta * delta * self.count * other.count / n
        return ChannelStats(n, mean, m2)

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / self.count) if self.count else float("nan")

    @classmethod
    def of(cls, values: np.ndarray) -> ChannelStats:
        import numpy as np

        values = values[np.isfinite(values)].astype(np.float64)
        if values.size == 0:
            return cls()
        mean = float(values.mean())
        return cls(int(values.size), mean, float(((values - mean) ** 2).sum()))


@dataclass(frozen=True)
class TileResult:
    """What :func:`process_tile` did for one tile.

    Attributes:
        tile_id: the tile.
        written: False when the stack was NaN everywhere (no file written).
        valid_fraction: share of the tile's pixels observed in at least one band.
        glacier_fraction: share of the tile's pixels labelled glacier (None without an inventory).
        stats: per channel, statistics over the valid pixels of every slot.
    """

    tile_id: str
    written: bool
    valid_fraction: float = 0.0
    glacier_fraction: float | None = None
    stats: tuple[ChannelStats, ...] = ()


def process_tile(_state: None, task: TileTask) -> TileResult:
    """Mosaic every slot onto one tile and write its stack (and label) file.

    The first argument is the worker state of :func:`glaciermap.workers.map_tasks` (none is needed).
    """
    import numpy as np

    from glaciermap.preprocess.mosaic import mosaic_backscatter, mosaic_coherence

    minx, miny, maxx, maxy = task.bounds
    width = round((maxx - minx) / task.pixel_size)
    height = round((maxy - miny) / task.pixel_size)
    n_slots = len(task.slots)
    cube = np.full((n_slots, len(CHANNELS), height, width), np.nan, dtype=np.float32)
    for t, (rtc, insar) in enumerate(task.slots):
        if rtc:
            cube[t, 0] = mosaic_backscatter(list(rtc), task.bounds, task.pixel_size, task.crs)
        if insar:
            cube[t, 1] = mosaic_coherence(
                list(insar),
                task.bounds,
                task.pixel_size,
                task.crs,
                resampling=task.coherence_resampling,
            )
    observed = np.asarray(np.isfinite(cube).any(axis=(0, 1)))
    n_observed = int(observed.sum())
    if n_observed == 0:
        return TileResult(task.tile_id, written=False)
    stats = tuple(ChannelStats.of(cube[:, c]) for c in range(len(CHANNELS)))
    valid_fraction = n_observed / observed.size
    record = {
        "inputs": task.inputs,
        "valid_fraction": valid_fraction,
        "stats": [[s.count, s.mean, s.m2] for s in stats],
    }
    write_tile(
        task.stack_path,
        cube.reshape(n_slots * len(CHANNELS), height, width),
        task.descriptions,
        task.bounds,
        task.pixel_size,
        task.crs,
        tags={RESULT_TAG: json.dumps(record)},
    )
    del cube
    glacier_fraction = None
    if task.label_path is not None:
        from glaciermap.preprocess.labels import GLACIER, rasterize_labels

        label = rasterize_labels(task.outlines_wkb or (), task.bounds, task.pixel_size, observed)
        glacier_fraction = float((label == GLACIER).sum()) / label.size
        tags = {
            RESULT_TAG: json.dumps({"inputs": task.inputs, "glacier_fraction": glacier_fraction})
        }
        write_label(task.label_path, label, task.bounds, task.pixel_size, task.crs, tags=tags)
    return TileResult(
        task.tile_id,
        written=True,
        valid_fraction=valid_fraction,
        glacier_fraction=glacier_fraction,
        stats=stats,
    )


def _recorded(path: Path, inputs: str) -> dict[str, Any] | None:
    """The :data:`RESULT_TAG` record of a file made from ``inputs``, or None (no file, other inputs,
    unreadable)."""
    from glaciermap.errors import InputError
    from glaciermap.io.raster import open_raster

    if not path.is_file():
        return None
    try:
        with open_raster(path) as src:
            text = src.tags().get(RESULT_TAG)
        record = json.loads(text) if text else None
    except (InputError, ValueError):
        return None  # made again
    if not isinstance(record, dict) or record.get("inputs") != inputs:
        return None
    return record


def tile_inputs(task: TileTask) -> str:
    """sha256 of what a tile's files are made from: the tile, its products (by name and size), the
    dates, settings, outlines and glaciermap's version.

    No modification times and no folders: the same inputs give the same bytes, tag included, however
    they were copied. :func:`finished_tile` compares the files' times to the products' instead.
    """
    from glaciermap import __version__

    payload = {
        "version": __version__,
        "tile": [task.tile_id, list(task.bounds), task.pixel_size, task.crs],
        "slots": [
            [[[Path(r.path).name, int(r.size)] for r in group] for group in slot]
            for slot in task.slots
        ],
        "descriptions": list(task.descriptions),
        "labels": task.label_path is not None,
        "outlines": hashlib.sha256(b"".join(task.outlines_wkb or ())).hexdigest(),
        "outline_count": len(task.outlines_wkb or ()),
        "coherence_resampling": task.coherence_resampling,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _newer_than_products(path: Path, task: TileTask) -> bool:
    """Whether ``path`` was written after every product of the task was last changed."""
    newest = max(
        (int(r.mtime_ns) for slot in task.slots for group in slot for r in group), default=0
    )
    return path.stat().st_mtime_ns >= newest


def finished_tile(task: TileTask) -> TileResult | None:
    """The result of a tile whose files a run of the same inputs wrote completely, else None.

    Files reach their final names only when complete (written under a temporary name and renamed),
    so a file whose tag names the task's :func:`tile_inputs` and that was written after its products
    last changed is the file this task would write again.
    """
    if not task.inputs:
        return None
    record = _recorded(task.stack_path, task.inputs)
    if record is None or not _newer_than_products(task.stack_path, task):
        return None
    glacier_fraction = None
    if task.label_path is not None:
        label = _recorded(task.label_path, task.inputs)
        if label is None or not _newer_than_products(task.label_path, task):
            return None
        glacier_fraction = float(label["glacier_fraction"])
    try:
        stats = tuple(ChannelStats(int(c), float(m), float(m2)) for c, m, m2 in record["stats"])
        valid_fraction = float(record["valid_fraction"])
    except (KeyError, TypeError, ValueError):
        return None
    if len(stats) != len(CHANNELS):
        return None
    return TileResult(
        task.tile_id,
        written=True,
        valid_fraction=valid_fraction,
        glacier_fraction=glacier_fraction,
        stats=stats,
    )


def write_tile(
    path: Path,
    data: np.ndarray,
    descriptions: tuple[str, ...],
    bounds: Bounds,
    pixel_size: float,
    crs: str,
    tags: dict[str, str] | None = None,
) -> None:
    """Write a ``(T*C, H, W)`` float32 stack as a COG (NaN no data, band descriptions, ``tags``)."""
    from glaciermap.io.raster import write_cog

    write_cog(
        path,
        data,
        crs=crs,
        transform=north_up_transform(bounds, pixel_size),
        nodata=float("nan"),
        descriptions=descriptions,
        tags=tags,
        blocksize=BLOCK_SIZE,
    )


def write_label(
    path: Path,
    label: np.ndarray,
    bounds: Bounds,
    pixel_size: float,
    crs: str,
    tags: dict[str, str] | None = None,
) -> None:
    """Write an ``(H, W)`` uint8 label as a COG (255 no data, ``tags``)."""
    from glaciermap.io.raster import write_cog

    write_cog(
        path,
        label,
        crs=crs,
        transform=north_up_transform(bounds, pixel_size),
        nodata=255,
        descriptions=("glacier",),
        tags=tags,
        blocksize=BLOCK_SIZE,
        predictor=None,
    )


__all__ = [
    "BLOCK_SIZE",
    "RESULT_TAG",
    "ChannelStats",
    "TileResult",
    "TileTask",
    "finished_tile",
    "process_tile",
    "tile_inputs",
]

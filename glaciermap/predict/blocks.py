"""Predicting a stack as blocks of tiles, one task each (on a Dask cluster), with the bits of one sweep.

A :class:`Block` is a rectangle of the stack raster, ``block_tiles`` tiles of the stack's grid on a side.
Its task sweeps every window of the *global* plan (:func:`~glaciermap.predict.sliding.plan_windows` of
the whole raster) that reaches the block, in the plan's order — the block's own windows and its halo,
those that start up to a window before it — and keeps the block's own pixels. Each pixel so gets the
same windows, added in the same order, as in the one-machine sweep, and every model call has the same
shape (:func:`~glaciermap.predict.engine.sweep`): its Gaussian blend is bit-identical (on CPU, for
the same torch threads: oneDNN splits its sums by thread). Halo windows are predicted by every block
they reach: about ``(1 + (window - stride) / block side)²`` of the one sweep's work, 10 % for blocks
of 4 tiles of 1000 px and 384 px windows at half overlap.

Each task writes its block's probability (float32, NaN no data) to ``.blocks/<digest>/<row>-<col>.tif``
in the output folder under a temporary name, renamed when complete (a worker killed mid-block leaves
nothing under a final name, and the scheduler runs the block again elsewhere). The client streams the
blocks into the COGs, a row of blocks at a time (:func:`assemble`). The folder is named after all that
decides the bits (weights, stack, settings, block side), so the blocks a killed client had finished are
kept by the next run of the same prediction; it is removed once the COGs are published.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from glaciermap.predict.sliding import RowSink, WindowPlan, plan_windows

BLOCKS_DIR = ".blocks"
"""The hidden folder of finished blocks in the output folder."""
ASSEMBLY_ROWS = 512
"""Rows read from the blocks at once while assembling (the COGs' block height)."""


@dataclass(frozen=True)
class Block:
    """Rows ``row0 .. row1 - 1`` and columns ``col0 .. col1 - 1`` of the stack raster, pixels."""

    row0: int
    row1: int
    col0: int
    col1: int

    @property
    def name(self) -> str:
        """The block's file name."""
        return f"{self.row0}-{self.col0}.tif"

    @property
    def shape(self) -> tuple[int, int]:
        return self.row1 - self.row0, self.col1 - self.col0


def plan_blocks(height: int, width: int, side: int) -> list[Block]:
    """Blocks of ``side`` pixels (the last of a row or column shorter) covering the raster, row-major."""
    side = max(1, side)
    return [
        Block(r, min(r + side, height), c, min(c + side, width))
        for r in range(0, height, side)
        for c in range(0, width, side)
    ]


def block_side(tile_pixels: int, block_tiles: int) -> int:
    """A block's side, pixels: ``block_tiles`` tiles of ``tile_pixels`` (the stack's grid)."""
    return max(1, tile_pixels) * max(1, block_tiles)


def _reaching(starts: tuple[int, ...], window: int, first: int, last: int) -> list[int]:
    """The window starts whose window reaches ``[first, last)``."""
    return [s for s in starts if s < last and s + window > first]


def block_plan(plan: WindowPlan, block: Block) -> tuple[WindowPlan, int, int]:
    """The windows of ``plan`` that reach ``block``, as a plan of the region they cover.

    Returns:
        ``(sub-plan, top, left)``: the sub-plan's starts are relative to ``(top, left)``, the raster
        pixel of its first window; its extent ends where its last windows end (clipped to the raster,
        as the global plan's are).
    """
    rows = _reaching(plan.rows, plan.window, block.row0, block.row1)
    cols = _reaching(plan.cols, plan.window, block.col0, block.col1)
    top, left = rows[0], cols[0]
    bottom = min(rows[-1] + plan.window, plan.height)
    right = min(cols[-1] + plan.window, plan.width)
    sub = WindowPlan(
        bottom - top,
        right - left,
        plan.window,
        plan.stride,
        tuple(r - top for r in rows),
        tuple(c - left for c in cols),
    )
    return sub, top, left


def owned_windows(plan: WindowPlan, block: Block) -> int:
    """Windows of ``plan`` that start in ``block``: the blocks' counts add up to ``plan.count``."""
    rows = sum(block.row0 <= r < block.row1 for r in plan.rows)
    cols = sum(block.col0 <= c < block.col1 for c in plan.cols)
    return rows * cols


class OffsetReader:
    """A window reader (:data:`~glaciermap.predict.reader.WindowReader`) seen from ``(top, left)``."""

    def __init__(self, reader: Any, top: int, left: int) -> None:
        self.reader, self.top, self.left = reader, top, left

    def read_region(
        self, row: int, col: int, height: int, width: int, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        where = (self.top + row, self.left + col, height, width)
        if out is None:  # readers need not take `out`
            return self.reader.read_region(*where)  # type: ignore[no-any-return]
        return self.reader.read_region(*where, out)  # type: ignore[no-any-return]

    def __call__(
        self, row: int, col: int, size: int, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.read_region(row, col, size, size, out)


@dataclass(frozen=True)
class BlockJob:
    """What every block task of one prediction shares (the workers' setup argument; small).

    Attributes:
        weights: the weights, ``folder/NAME`` (absolute). vrt, tiles: the stack's ``stack.vrt`` and
            the tiles it reads (absolute). bands: 1-based bands read. n_times: dates per window.
        mean, std: per-channel normalisation. window, overlap, batch_size, sigma_scale, tta, amp,
            channels_last, gdal_cache_mb: as :class:`~glaciermap.predict.engine.PredictConfig`.
        device: torch device on the workers (``cpu``, ``cuda``). threads: torch threads on CPU.
        folder: where the block files go (absolute).
    """

    weights: str
    vrt: str
    tiles: tuple[str, ...]
    bands: tuple[int, ...]
    n_times: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    window: int
    overlap: float
    batch_size: int
    sigma_scale: float
    tta: bool
    amp: bool
    channels_last: bool
    gdal_cache_mb: int
    device: str
    threads: int
    folder: str


@dataclass
class BlockWorker:
    """A worker's state: the prepared model, the stack reader and the global window plan."""

    job: BlockJob
    plan: WindowPlan
    reader: Any
    batch_fn: Callable[[np.ndarray], np.ndarray]
    device_type: str


def open_block_worker(job: BlockJob) -> BlockWorker:
    """Worker setup: load the weights onto the device once, open the stack, plan the windows."""
    import torch

    from glaciermap.models.weights import load_weights
    from glaciermap.predict.network import resolve_device, torch_batch_fn
    from glaciermap.predict.reader import StackWindows

    device = resolve_device(job.device)
    if device.type == "cpu":
        torch.set_num_threads(job.threads)
    model, card = load_weights(job.weights, device=device)
    batch_fn = torch_batch_fn(
        model,
        device,
        tta=job.tta,
        amp=job.amp,
        channels_last=job.channels_last,
        temperature=card.temperature,
    )
    reader = StackWindows(
        Path(job.vrt),
        job.bands,
        job.n_times,
        np.asarray(job.mean, dtype=np.float32),
        np.asarray(job.std, dtype=np.float32),
        gdal_cache_mb=job.gdal_cache_mb,
        tiles=[Path(t) for t in job.tiles],
    )
    plan = plan_windows(reader.height, reader.width, job.window, job.overlap)
    return BlockWorker(job, plan, reader, batch_fn, device.type)


@dataclass(frozen=True)
class BlockDone:
    """A finished block: the plan's windows that start in it, and the seconds its model calls took
    (0 for a block an earlier run had finished)."""

    block: Block
    windows: int
    model_seconds: float = 0.0


def predict_block(worker: BlockWorker, block: Block) -> BlockDone:
    """Worker task: sweep the windows reaching ``block``, write its pixels to its block file."""
    from affine import Affine

    from glaciermap.io.files import atomic_output
    from glaciermap.io.raster import RowStream, gdal_env
    from glaciermap.predict.engine import sweep
    from glaciermap.predict.reader import default_prefetch, default_readers

    job = worker.job
    sub, top, left = block_plan(worker.plan, block)
    height, width = block.shape
    transform = worker.reader.transform @ Affine.translation(block.col0, block.row0)
    with (
        gdal_env(GDAL_CACHEMAX=job.gdal_cache_mb),
        atomic_output(Path(job.folder) / block.name) as tmp,
    ):
        stream = RowStream(
            tmp,
            width=width,
            height=height,
            dtype="float32",
            nodata=float("nan"),
            crs=worker.reader.crs,
            transform=transform,
        )
        try:

            def keep(row0: int, values: np.ndarray, valid: np.ndarray) -> None:
                # Rows of the swept region (from `top`) that lie in the block; its columns only.
                first, last = max(top + row0, block.row0), min(top + row0 + len(values), block.row1)
                if first < last:
                    rows = values[first - top - row0 : last - top - row0]
                    stream.write(first - block.row0, rows[:, block.col0 - left : block.col1 - left])

            model_seconds = sweep(
                sub,
                OffsetReader(worker.reader, top, left),
                worker.batch_fn,
                keep,
                batch_size=job.batch_size,
                sigma_scale=job.sigma_scale,
                prefetch=default_prefetch(-1, worker.device_type),
                readers=default_readers(0, worker.device_type),
            )
            stream.close()
        except BaseException:
            stream.close(flush=False)
            raise
    return BlockDone(block, owned_windows(worker.plan, block), model_seconds)


def assemble(
    done: Iterable[BlockDone],
    blocks: list[Block],
    folder: Path,
    sink: RowSink,
    width: int,
    on_block: Callable[[BlockDone], None] | None = None,
) -> float:
    """Stream finished blocks into ``sink`` in raster row order, a row of blocks at a time.

    Args:
        done: the blocks as they finish, in the order of ``blocks`` (row-major).
        blocks: every block of the raster (:func:`plan_blocks`).
        folder: where their files are.
        sink: takes ``(row0, values (n, width) float32, valid (n, width) bool)``, rows in order.
        width: the raster's width.
        on_block: called with each finished block as it arrives.

    Returns:
        The seconds the blocks' model calls took, summed.
    """
    from rasterio.windows import Window

    from glaciermap.io.raster import open_raster

    arriving: Iterator[BlockDone] = iter(done)
    model_seconds = 0.0
    for band in _rows_of_blocks(blocks):
        for _ in band:
            finished = next(arriving)
            model_seconds += finished.model_seconds
            if on_block is not None:
                on_block(finished)
        row0, row1 = band[0].row0, band[0].row1
        with ExitStack() as opened:
            sources = [opened.enter_context(open_raster(folder / b.name)) for b in band]
            for first in range(row0, row1, ASSEMBLY_ROWS):
                n = min(ASSEMBLY_ROWS, row1 - first)
                values = np.empty((n, width), dtype=np.float32)
                for b, src in zip(band, sources, strict=True):
                    window = Window(0, first - row0, b.col1 - b.col0, n)
                    values[:, b.col0 : b.col1] = src.read(1, window=window)
                sink(first, values, np.isfinite(values))
    return model_seconds


def _rows_of_blocks(blocks: list[Block]) -> list[list[Block]]:
    rows: dict[int, list[Block]] = {}
    for block in blocks:
        rows.setdefault(block.row0, []).append(block)
    return [sorted(band, key=lambda b: b.col0) for _, band in sorted(rows.items())]


def halo_work(plan: WindowPlan, blocks: list[Block]) -> float:
    """Windows predicted by all the blocks over the plan's windows (1: no halo)."""
    swept = 0
    for block in blocks:
        sub, _, _ = block_plan(plan, block)
        swept += sub.count
    return swept / max(1, plan.count) if blocks else math.nan


__all__ = [
    "ASSEMBLY_ROWS",
    "BLOCKS_DIR",
    "Block",
    "BlockDone",
    "BlockJob",
    "BlockWorker",
    "OffsetReader",
    "assemble",
    "block_plan",
    "block_side",
    "halo_work",
    "open_block_worker",
    "owned_windows",
    "plan_blocks",
    "predict_block",
]

"""Predict a stack: windows read from ``stack.vrt`` -> model -> Gaussian blending -> COGs -> outlines.

The sweep is MONAI's inferer split by role (splitter -> network -> merger), each in its module:

* :mod:`.reader`: windows read in strips and batched, in a thread a bounded number of batches ahead
  (rasterio releases the GIL while GDAL decodes);
* :mod:`.network`: the device and the prepared model as a batch function, run by the calling thread;
* :mod:`.sliding` and :mod:`.merger`: the Gaussian blending of overlapping windows into finished rows
  (:class:`~glaciermap.predict.sliding.RowBlender`) and the rows streamed into the probability and mask
  rasters as the sweep passes them.

This module wires them: :func:`sweep` in memory, :func:`predict_stack` from a stack folder to COGs, a
record and (when asked) outlines. On one machine the whole raster is one sweep in this process (torch
takes every core); on a Dask cluster it is cut into blocks of tiles, one task each
(:mod:`.blocks`), with the same bits. At the end the rasters become Cloud-Optimised GeoTIFFs under
hidden names and are renamed together; an interrupted run leaves no file under a final name (one
sweep is not resumable: a re-run starts over; a cluster's finished blocks are kept for the next run).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from glaciermap import interrupt
from glaciermap.errors import InputError
from glaciermap.io.files import FULL_HINT, atomic_output, is_write_failure, make_output_folder
from glaciermap.io.lock import OutputLock
from glaciermap.models.card import weight_paths
from glaciermap.predict.blocks import (
    BLOCKS_DIR,
    BlockDone,
    BlockJob,
    assemble,
    block_side,
    halo_work,
    open_block_worker,
    owned_windows,
    plan_blocks,
    predict_block,
)
from glaciermap.predict.merger import MASK_NAME, MASK_NODATA, PROBABILITY_NAME, PredictionRows
from glaciermap.predict.network import BatchFn, resolve_device, torch_batch_fn, use_cpu_threads
from glaciermap.predict.reader import (
    StackWindows,
    WindowReader,
    batches,
    default_prefetch,
    default_readers,
    padded,
    prefetched,
)
from glaciermap.predict.sliding import (
    RowBlender,
    RowSink,
    WindowPlan,
    gaussian_weight,
    plan_windows,
)
from glaciermap.workers import (
    Executor,
    SharedPaths,
    Workers,
    as_executor,
    available_cpus,
    default_workers,
    map_tasks,
)

if TYPE_CHECKING:
    from glaciermap.vectorize.pipeline import VectorizeResult

log = logging.getLogger(__name__)

OUTLINES_NAME = "outlines.gpkg"
RECORD_NAME = "predict.json"


@dataclass
class PredictConfig:
    """How to sweep a stack. ``window`` must be a multiple of the model's stride."""

    window: int = 384
    overlap: float = 0.5
    batch_size: int = 4
    tta: bool = False
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # bf16 (else fp16) autocast on CUDA; ignored on CPU
    # Channels-last weights and activations (NDHWC/NHWC): 1.5-2x faster on CPU (oneDNN) and the layout
    # of cuDNN's tensor-core kernels. Off gives the classic layout, for comparison.
    channels_last: bool = True
    threshold: float = 0.5
    sigma_scale: float = 0.125
    # Batches built ahead of the model: -1 = automatic (1 on CPU, where the model is the bottleneck and
    # each batch held costs its size, 71 MB at 4 x 15 x 2 x 384²; 2 on CUDA).
    prefetch: int = -1
    # Strips read in parallel: 0 = automatic (1 on CPU, where the model needs the cores; on CUDA half
    # the cores, at most 4, since one reader feeds only ~0.6 M px/s). Each adds a strip in memory.
    readers: int = 0
    # GDAL's block cache while reading the stack (GDAL's default is 5 % of RAM): enough for the blocks
    # of neighbouring windows, so each block is decoded about twice, not four times.
    gdal_cache_mb: int = 256
    # Torch threads on CPU: 0 = every CPU this process may use. oneDNN splits a convolution's sums
    # by thread, so results are bit-identical between runs with the same threads (a Dask run gives
    # every worker this process's number).
    threads: int = 0
    # On a Dask cluster: the side of the block of the stack one task predicts, in tiles of the
    # stack's grid. Its halo windows are predicted again by its neighbours: about
    # (1 + (window - stride) / side)² of the work, +10 % at 4 tiles of 1000 px.
    block_tiles: int = 4
    # Also write outlines.gpkg from the mask (glaciermap.vectorize, on default_workers() processes);
    # glaciers and holes smaller than min_area_km2 (km²) are dropped / filled. None: vectorize's
    # default, DEFAULT_MIN_AREA_KM2 (named, not imported here: glaciermap.vectorize costs 30 MB
    # resident, which a run without outlines need not pay).
    vectorize: bool = True
    min_area_km2: float | None = None


@dataclass
class PredictResult:
    """What :func:`predict_stack` wrote and measured.

    ``outlines`` is what vectorising the mask wrote (its ``output`` path, ``count`` of glaciers and
    ``total_area_km2``), or None without ``PredictConfig.vectorize``.
    """

    out_dir: Path
    probability: Path
    mask: Path
    windows: int
    pixels: int
    seconds: float
    model_seconds: float
    device: str
    outlines: VectorizeResult | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def sweep(
    plan: WindowPlan,
    read: WindowReader,
    batch_fn: BatchFn,
    sink: RowSink,
    *,
    batch_size: int = 4,
    sigma_scale: float = 0.125,
    prefetch: int = 2,
    readers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> float:
    """Run every window of ``plan`` through ``batch_fn`` and blend into rows handed to ``sink``.

    Windows without an observed pixel skip the model (every pixel they cover is no data). Every call
    of ``batch_fn`` gets exactly ``batch_size`` windows (the last batch is padded with zeros): a
    window's prediction then does not depend on which windows share its batch (oneDNN picks other
    kernels for other batch sizes, which round differently), so a block of the raster swept on its
    own (:mod:`glaciermap.predict.blocks`) gives the same bits as the whole sweep.

    Returns the seconds spent inside ``batch_fn``.
    """
    blender = RowBlender(plan, gaussian_weight(plan.window, sigma_scale), sink)
    row_index = {row: i for i, row in enumerate(plan.rows)}
    col_index = {col: i for i, col in enumerate(plan.cols)}
    model_seconds = 0.0
    done = 0
    stream = batches(plan, read, batch_size, readers, skip_unobserved=True)
    for places, x, valid in prefetched(stream, prefetch):
        n = len(places)
        began = time.perf_counter()
        out = batch_fn(x if n == batch_size else padded(x, batch_size))
        model_seconds += time.perf_counter() - began
        for (row, col), prediction, ok in zip(places, out[:n], valid, strict=True):
            blender.add(row, col, prediction, ok)
        row, col = places[-1]
        done = row_index[row] * len(plan.cols) + col_index[col] + 1
        if progress is not None:
            progress(done, plan.count)
    blender.close()
    if progress is not None and done < plan.count:
        progress(plan.count, plan.count)  # the windows after the last with data
    return model_seconds


def vectorize_mask(
    mask: Path,
    output: Path,
    min_area_km2: float | None = None,
    *,
    workers: Workers | None = None,
) -> VectorizeResult:
    """Outlines of a predicted ``mask.tif`` (glacier = 1) in ``output``, replaced when complete.

    ``min_area_km2`` None is vectorize's default (``DEFAULT_MIN_AREA_KM2``); the strips are
    polygonised by ``workers`` (default :func:`~glaciermap.workers.default_workers` processes).
    """
    from glaciermap.vectorize import DEFAULT_MIN_AREA_KM2, vectorize_raster

    return vectorize_raster(
        mask,
        output,
        threshold=1,
        min_area_km2=DEFAULT_MIN_AREA_KM2 if min_area_km2 is None else min_area_km2,
        overwrite=True,
        workers=workers if workers is not None else default_workers(),
    )


def predict_stack(
    weights: str | os.PathLike[str],
    stack_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: PredictConfig | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    workers: Workers | None = None,
) -> PredictResult:
    """Predict glacier probability and mask over a whole stack with the given weights.

    Args:
        weights: ``name``, ``name.safetensors`` or ``name.json`` (tensors + card).
        stack_dir: a stack folder from ``glaciermap preprocess``.
        out_dir: folder for ``probability.tif``, ``mask.tif`` (COGs in the stack's grid),
            ``predict.json`` and, with ``config.vectorize``, ``outlines.gpkg`` (created; files in it
            are replaced only when the new ones are complete).
        config: window, overlap, batch size, TTA, device, threshold, outlines.
        progress: called ``(windows_done, windows_total)`` after each batch (each block on a cluster).
        workers: where the work runs. None or a number: the sweep in this process (the number is the
            processes vectorising the outlines, default :func:`~glaciermap.workers.default_workers`);
            a distributed :class:`~glaciermap.workers.Executor` (Dask): blocks of tiles as tasks on
            its workers, which must see the stack, the weights and ``out_dir`` at the same paths;
            tasks on CUDA ask for a ``GPU`` resource.

    Raises:
        InputError: the card does not fit the stack (T, channels), tiles are missing, the window is not
            a multiple of the model's stride, CUDA is asked for without one (here, or on a cluster
            without GPU workers), or a cluster's worker cannot see the files.
    """
    from glaciermap.calendar import select_acquisitions
    from glaciermap.io.raster import StreamedCogs, gdal_env, open_raster
    from glaciermap.models.weights import check_card_against_stack, load_weights
    from glaciermap.stack_format import StackMeta

    cfg = config or PredictConfig()
    executor = as_executor(workers) if workers is not None else None
    on_cluster = executor is not None and executor.distributed
    stack = Path(stack_dir).absolute()
    meta = StackMeta.read(stack)
    meta.check_files(labels=False)
    if on_cluster:
        assert executor is not None
        # The model runs on the workers: here it is only read for its card and stride.
        device_name = _cluster_device(cfg.device, executor)
        model, card = load_weights(weights, device="cpu")
    else:
        device = resolve_device(cfg.device)
        device_name = str(device)
        model, card = load_weights(weights, device=device)
    mismatch = card.stack_dates_mismatch(meta, weights)

    channels = list(meta.channels)
    n_times = int(card.n_times or meta.n_slots)
    indices = select_acquisitions(meta.dates, n_times, missing=meta.missing_slots)
    check_card_against_stack(card, len(indices), channels)
    means, stds = card.input_statistics(meta)  # the card's, or the stack's own (per-stack cards)
    mean = np.asarray(means, dtype=np.float32)
    std = np.asarray(stds, dtype=np.float32)
    stride = int(getattr(model, "stride", 1) or 1)
    if cfg.window % stride:
        raise InputError(
            f"--window {cfg.window} is not a multiple of the model's stride {stride}",
            f"use e.g. {cfg.window + (-cfg.window) % stride}",
        )
    if cfg.batch_size < 1:
        raise InputError(f"--batch-size {cfg.batch_size} must be >= 1", "")
    threads = cfg.threads if cfg.threads > 0 else available_cpus()

    reader = StackWindows(
        meta.vrt_path,
        meta.bands(indices),
        len(indices),
        mean,
        std,
        gdal_cache_mb=cfg.gdal_cache_mb,
        tiles=[meta.tile_path(t) for t in meta.tiles],
    )
    plan = plan_windows(reader.height, reader.width, cfg.window, cfg.overlap)

    out = Path(out_dir).absolute()
    done, published = [0], [False]

    def counted(windows: int, total: int) -> None:
        done[0] = windows
        if progress is not None:
            progress(windows, total)

    def finished() -> str:
        if published[0]:
            return (
                f"{PROBABILITY_NAME} and {MASK_NAME} written, not {RECORD_NAME} or "
                f"{OUTLINES_NAME}; run again (with --overwrite)"
            )
        kept = "; the finished blocks are kept for the next run" if on_cluster else ""
        return f"{done[0]} of {plan.count} windows predicted, nothing written{kept}; run again"

    # A second writer of the folder stops, naming this one; a killed one's files are swept.
    # Over vectorize's own note (when outlines are asked for): the rasters are what counts.
    with OutputLock(out, folder=True), interrupt.noting(finished, replace=True):
        make_output_folder(out)
        if (
            mismatch is not None
        ):  # said once this run holds the folder (a refused one says only that)
            log.warning(
                "%s — predicting on these; build the stack with preprocess --acquisitions 15 (the "
                "whole year) for the dates the weights know",
                mismatch,
            )
        began = time.perf_counter()
        # No record, nor outlines about to be replaced, of an older run beside the new rasters.
        stale = [out / RECORD_NAME, *([out / OUTLINES_NAME] if cfg.vectorize else [])]
        try:
            with gdal_env(GDAL_CACHEMAX=cfg.gdal_cache_mb), StreamedCogs(out) as cogs:
                rows = PredictionRows(
                    cogs,
                    width=reader.width,
                    height=reader.height,
                    crs=reader.crs,
                    transform=reader.transform,
                    threshold=cfg.threshold,
                )
                if on_cluster:
                    assert executor is not None
                    job = _block_job(weights, meta, indices, mean, std, cfg, device_name, threads)
                    side = block_side(
                        round(meta.region.tile_size / meta.region.pixel_size), cfg.block_tiles
                    )
                    model_seconds = _predict_blocks(
                        executor, job, card.sha256, meta, indices, plan, side, out, rows, counted
                    )
                else:
                    use_cpu_threads(device, threads)
                    model_seconds = sweep(
                        plan,
                        reader,
                        torch_batch_fn(
                            model,
                            device,
                            tta=cfg.tta,
                            amp=cfg.amp,
                            channels_last=cfg.channels_last,
                            temperature=card.temperature,
                        ),
                        rows,
                        batch_size=cfg.batch_size,
                        sigma_scale=cfg.sigma_scale,
                        prefetch=default_prefetch(cfg.prefetch, device.type),
                        readers=default_readers(cfg.readers, device.type),
                        progress=counted,
                    )
                cogs.publish(replaces=stale)
                published[0] = True
        except OSError as exc:
            if not is_write_failure(exc):
                raise
            raise InputError(f"cannot write in {out}: {exc.strerror}", FULL_HINT) from exc
        # Finished blocks of this or an older prediction: the COGs hold them now.
        shutil.rmtree(out / BLOCKS_DIR, ignore_errors=True)
        seconds = time.perf_counter() - began

        with open_raster(out / MASK_NAME) as check:
            assert (check.width, check.height) == (reader.width, reader.height)
        result = PredictResult(
            out_dir=out,
            probability=out / PROBABILITY_NAME,
            mask=out / MASK_NAME,
            windows=plan.count,
            pixels=reader.width * reader.height,
            seconds=seconds,
            model_seconds=model_seconds,
            device=device_name,
        )
        if cfg.vectorize and cfg.min_area_km2 is None:
            # Only now: the import costs memory that the sweep, at its peak, need not hold.
            from glaciermap.vectorize import DEFAULT_MIN_AREA_KM2

            cfg = replace(cfg, min_area_km2=DEFAULT_MIN_AREA_KM2)  # recorded as used
        record = {
            "weights": str(weights),
            "weights_sha256": card.sha256,
            "architecture": card.architecture,
            "temperature": card.temperature,
            "stack": str(stack.resolve()),
            "region": meta.region.name,
            "year": meta.year,
            "dates": [meta.dates[i].isoformat() for i in indices],
            "config": asdict(cfg),
            "windows": plan.count,
            "pixels": result.pixels,
            "seconds": round(seconds, 3),
            "model_seconds": round(model_seconds, 3),
            "device": device_name,
            "threads": threads,
            "executor": "dask" if on_cluster else "local",
        }
        with atomic_output(out / RECORD_NAME) as tmp:
            tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if cfg.vectorize:
            result.outlines = vectorize_mask(
                result.mask, out / OUTLINES_NAME, cfg.min_area_km2, workers=workers
            )
        return result


def _block_job(
    weights: str | os.PathLike[str],
    meta: Any,
    indices: list[int],
    mean: np.ndarray,
    std: np.ndarray,
    cfg: PredictConfig,
    device: str,
    threads: int,
) -> BlockJob:
    """What every block task of this prediction shares (paths absolute: workers run elsewhere)."""
    return BlockJob(
        weights=str(Path(weights).absolute()),
        vrt=str(meta.vrt_path),
        tiles=tuple(str(meta.tile_path(t)) for t in meta.tiles),
        bands=tuple(meta.bands(indices)),
        n_times=len(indices),
        mean=tuple(float(v) for v in mean),
        std=tuple(float(v) for v in std),
        window=cfg.window,
        overlap=cfg.overlap,
        batch_size=cfg.batch_size,
        sigma_scale=cfg.sigma_scale,
        tta=cfg.tta,
        amp=cfg.amp,
        channels_last=cfg.channels_last,
        gdal_cache_mb=cfg.gdal_cache_mb,
        device=device,
        threads=threads,
        folder="",
    )


def _cluster_device(asked: str, executor: Executor) -> str:
    """The device of a cluster's workers: ``auto`` is CUDA when a worker offers a ``GPU`` resource
    (``dask worker --resources GPU=1``), else CPU; ``cuda:N`` is left to the worker's own GPUs."""
    import torch

    if asked == "auto":
        return "cuda" if executor.resources().get("GPU", 0.0) > 0 else "cpu"
    try:
        torch.device(asked)
    except RuntimeError:
        raise InputError(f"unknown device {asked!r}", "use auto, cpu, cuda or cuda:N") from None
    return asked


def blocks_digest(
    job: BlockJob, weights_sha256: str, meta: Any, indices: list[int], side: int
) -> str:
    """The name of the blocks folder: sha256 of everything that decides a block's bits."""
    import hashlib

    from glaciermap import __version__

    settings = asdict(job)
    for key in ("weights", "vrt", "tiles", "folder", "gdal_cache_mb"):  # where, not what
        settings.pop(key)
    if not job.device.startswith("cpu"):
        settings.pop("threads")  # CPU threads change CPU bits only
    settings["device"] = job.device.split(":")[0]
    payload = {
        "weights": weights_sha256,
        "stack": meta.inputs_hash,
        "tiles": list(meta.tiles),
        "dates": indices,
        "settings": settings,
        "side": side,
        "version": __version__,
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _predict_blocks(
    executor: Executor,
    job: BlockJob,
    weights_sha256: str,
    meta: Any,
    indices: list[int],
    plan: WindowPlan,
    side: int,
    out: Path,
    rows: RowSink,
    progress: Callable[[int, int], None],
) -> float:
    """Blocks of ``side`` pixels as tasks on ``executor``, streamed into ``rows``; the seconds of
    the blocks' model calls (this run's)."""
    digest = blocks_digest(job, weights_sha256, meta, indices, side)
    root = out / BLOCKS_DIR
    folder = root / digest
    if root.is_dir():
        for other in root.iterdir():  # blocks of another prediction: they cannot be used
            if other.name != digest:
                shutil.rmtree(other, ignore_errors=True)
    make_output_folder(folder)
    job = replace(job, folder=str(folder))
    blocks = plan_blocks(plan.height, plan.width, side)
    kept = {b for b in blocks if (folder / b.name).is_file()}
    todo = [b for b in blocks if b not in kept]
    log.debug(
        "%d blocks of %d px (%d kept from an earlier run), %.2f x the windows of one sweep",
        len(blocks),
        side,
        len(kept),
        halo_work(plan, blocks),
    )
    try:
        computed = map_tasks(
            predict_block,
            todo,
            workers=executor,
            setup=open_block_worker,
            setup_args=(job,),
            ordered=True,
            shared=SharedPaths(folder, (Path(job.vrt), *weight_paths(job.weights))),
            resources={"GPU": 1} if job.device.startswith("cuda") else None,
        )
    except BaseException:
        if not kept:  # nothing to keep for the next run: no empty folder left behind
            shutil.rmtree(root, ignore_errors=True)
        raise

    def in_order() -> Iterator[BlockDone]:
        for block in blocks:
            yield BlockDone(block, owned_windows(plan, block)) if block in kept else next(computed)

    windows = [0]

    def counted(finished: BlockDone) -> None:
        windows[0] += finished.windows
        progress(windows[0], plan.count)

    with closing(computed):
        return assemble(in_order(), blocks, folder, rows, plan.width, on_block=counted)


__all__ = [
    "MASK_NAME",
    "MASK_NODATA",
    "OUTLINES_NAME",
    "PROBABILITY_NAME",
    "RECORD_NAME",
    "BatchFn",
    "PredictConfig",
    "PredictResult",
    "StackWindows",
    "predict_stack",
    "resolve_device",
    "sweep",
    "torch_batch_fn",
    "vectorize_mask",
]

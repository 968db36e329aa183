"""Predict a stack: windows read from ``stack.vrt`` -> model -> Gaussian blending -> COGs -> outlines.

Three parts run overlapped: a reader thread reads and normalises the next batches of windows (rasterio
releases the GIL while GDAL decodes), the calling thread runs the model, and the finished rows are
written to a tiled GeoTIFF as the sweep passes them (:class:`~glaciermap.predict.sliding.RowBlender`).
At the end the GeoTIFFs become Cloud-Optimised GeoTIFFs under temporary names and are renamed; an
interrupted run leaves no file under a final name (and is not resumable: a re-run starts over).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import queue
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from glaciermap.errors import InputError
from glaciermap.io.files import atomic_output
from glaciermap.predict.sliding import RowBlender, WindowPlan, gaussian_weight, plan_windows

log = logging.getLogger(__name__)

PROBABILITY_NAME = "probability.tif"
MASK_NAME = "mask.tif"
OUTLINES_NAME = "outlines.gpkg"
RECORD_NAME = "predict.json"
MASK_NODATA = 255


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


@dataclass
class PredictResult:
    """What :func:`predict_stack` wrote and measured."""

    out_dir: Path
    probability: Path
    mask: Path
    windows: int
    pixels: int
    seconds: float
    model_seconds: float
    device: str
    extra: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------------
# Devices and the model call


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; asking for CUDA without one is an :class:`InputError`."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"unknown device {name!r}", "use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(
            "--device cuda was asked for but torch sees no CUDA GPU here",
            "use --device cpu (or auto), or install a CUDA build of torch",
        )
    if (
        device.type == "cuda"
        and device.index is not None
        and device.index >= torch.cuda.device_count()
    ):
        raise InputError(
            f"there is no {name}: torch sees {torch.cuda.device_count()} GPU(s)",
            "pick an existing index or use --device cuda",
        )
    return device


BatchFn = Callable[[np.ndarray], np.ndarray]
"""``(B, T, C, w, w)`` float32 inputs -> ``(B, w, w)`` float32 outputs (probabilities)."""


def torch_batch_fn(
    model: nn.Module,
    device: torch.device,
    *,
    tta: bool = False,
    amp: bool = True,
    channels_last: bool = True,
) -> BatchFn:
    """The model as a batch function: sigmoid of the logits, averaged over flips with ``tta``.

    The model runs as :func:`~glaciermap.models.inference.for_inference` prepares it (BatchNorms
    folded; channels-last with ``channels_last``), a copy: ``model`` itself is not changed. On CUDA:
    pinned host memory and asynchronous copies, bf16 autocast where supported (fp16 otherwise).
    """
    from glaciermap.models.inference import for_inference

    model = for_inference(model.to(device).eval(), channels_last=channels_last)
    cuda = device.type == "cuda"
    dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float16
    use_amp = amp and cuda
    flips: list[tuple[int, ...]] = [(), (-1,), (-2,), (-2, -1)] if tta else [()]

    def run(batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch)
        if cuda:
            x = x.pin_memory().to(device, non_blocking=True)
        total: torch.Tensor | None = None
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=use_amp):
            for dims in flips:
                inp = x.flip(dims) if dims else x
                prob = torch.sigmoid(model(inp).float())
                prob = prob.flip(dims) if dims else prob
                total = prob if total is None else total + prob
        assert total is not None
        return (total / len(flips))[:, 0].cpu().numpy().astype(np.float32, copy=False)

    return run


# ----------------------------------------------------------------------------------------------------
# Reading windows


WindowReader = Callable[..., tuple[np.ndarray, np.ndarray]]
"""``read(row, col, size[, out])`` -> ``(x (T, C, size, size) float32, valid (size, size) bool)``;
with ``out`` given, ``x`` is written into it."""


class StackWindows:
    """Windows of a stack's ``stack.vrt``, normalised with given statistics, NaN filled with 0.

    Pixels outside the raster (windows larger than a small raster) and in missing tiles are no data.
    One rasterio handle per thread.
    """

    def __init__(
        self,
        vrt: Path,
        bands: Sequence[int],
        n_times: int,
        mean: np.ndarray,
        std: np.ndarray,
        gdal_cache_mb: int = 256,
    ) -> None:
        import rasterio

        self.vrt = vrt
        self.gdal_cache_mb = gdal_cache_mb
        self.bands = list(bands)
        self.n_times = n_times
        self.n_channels = len(mean)
        self.mean = mean.astype(np.float32).reshape(1, -1, 1, 1)
        self.std = std.astype(np.float32).reshape(1, -1, 1, 1)
        self._local = threading.local()
        with rasterio.open(vrt) as src:
            self.height, self.width = src.height, src.width
            self.crs, self.transform = src.crs, src.transform

    def _src(self) -> Any:
        src = getattr(self._local, "src", None)
        if src is None:
            import rasterio

            # rasterio's Env is per thread, and GDAL sizes its block cache from the first thread that
            # uses it: enter one in each reading thread (left open for the thread's life).
            env = rasterio.Env(GDAL_CACHEMAX=self.gdal_cache_mb)
            env.__enter__()
            self._local.env = env
            src = rasterio.open(self.vrt)
            self._local.src = src
        return src

    def __call__(
        self, row: int, col: int, size: int, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Window ``(T, C, size, size)`` at ``(row, col)``, normalised in place into ``out``."""
        return self.read_region(row, col, size, size, out)

    def read_region(
        self, row: int, col: int, height: int, width: int, out: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(T, C, height, width)`` at ``(row, col)`` (NaN-padded past the edges, normalised, no data
        set to 0) and its ``(height, width)`` validity (any finite value)."""
        from rasterio.windows import Window

        h, w = min(height, self.height - row), min(width, self.width - col)
        if out is None:
            out = np.empty((self.n_times, self.n_channels, height, width), dtype=np.float32)
        flat = out.reshape(len(self.bands), height, width)
        if h < height or w < width:
            flat.fill(np.nan)
        # Straight into the buffer (GDAL writes through the view's strides): no strip-sized temporary.
        self._src().read(self.bands, window=Window(col, row, w, h), out=flat[:, :h, :w])
        out -= self.mean
        out /= self.std
        # Band by band, so the temporaries are one band's size, not the strip's (30 x smaller).
        valid = np.zeros((height, width), dtype=bool)
        finite = np.empty((height, width), dtype=bool)
        for band in flat:
            np.isfinite(band, out=finite)
            valid |= finite
            np.logical_not(finite, out=finite)
            band[finite] = 0.0
        return out, valid


STRIP_WIDTH = 2048
"""Columns read at once by :func:`_batches` from readers with ``read_region``: one read serves every
window inside it, instead of one read per window (GDAL reads a 1536 px square 7x faster than the 64
overlapping 384 px windows covering it)."""


def _strips(plan: WindowPlan) -> list[tuple[int, int, int, tuple[int, ...]]]:
    """``(row, col0, width, window columns)`` of every strip, in the plan's order."""
    size, cols = plan.window, plan.cols
    strips = []
    for row in plan.rows:
        i = 0
        while i < len(cols):
            j = i + 1  # windows i..j-1 fit in one strip
            while j < len(cols) and cols[j] + size - cols[i] <= max(STRIP_WIDTH, size):
                j += 1
            strips.append((row, cols[i], cols[j - 1] + size - cols[i], cols[i:j]))
            i = j
    return strips


def _windows(
    plan: WindowPlan, read: WindowReader, readers: int = 1
) -> Iterator[tuple[tuple[int, int], np.ndarray, np.ndarray]]:
    """``((row, col), x, valid)`` for every window, in the plan's order.

    With a reader that has ``read_region``, each row of windows is read in strips of about
    :data:`STRIP_WIDTH` columns and the windows are sliced from them (views into the strip);
    ``readers`` > 1 reads that many strips at once in a thread pool (results still in order; one
    more strip in memory per reader).
    """
    read_region = getattr(read, "read_region", None)
    size = plan.window
    if read_region is None:
        for row, col in plan:
            x, valid = read(row, col, size)
            yield (row, col), x, valid
        return
    strips = _strips(plan)

    def load(strip: tuple[int, int, int, tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray]:
        row, c0, width, _ = strip
        return read_region(row, c0, size, width)  # type: ignore[no-any-return]

    with ThreadPoolExecutor(
        max_workers=max(1, readers), thread_name_prefix="glaciermap-read"
    ) as pool:
        pending: deque[Future[tuple[np.ndarray, np.ndarray]]] = deque()
        ahead = iter(strips)
        for strip in itertools.islice(ahead, max(1, readers)):
            pending.append(pool.submit(load, strip))
        for row, c0, _, cols in strips:
            data, valid = pending.popleft().result()
            following = next(ahead, None)
            if following is not None:
                pending.append(pool.submit(load, following))
            for col in cols:
                yield (
                    (row, col),
                    data[..., col - c0 : col - c0 + size],
                    valid[:, col - c0 : col - c0 + size],
                )
            del data, valid
        for future in pending:
            future.cancel()


def _batches(
    plan: WindowPlan, read: WindowReader, batch_size: int, readers: int = 1
) -> Iterator[tuple[list[tuple[int, int]], np.ndarray, np.ndarray]]:
    """Batches ``(places, x (B, T, C, w, w), valid (B, w, w))`` of the plan's windows, in order.

    ``x`` is stored with ``C`` innermost (the strides of a ``(B, T, w, w, C)`` array): the
    channels-last layout the prepared model convolves (:mod:`glaciermap.models.inference`), so the
    batch needs no second copy to get there. Each window is copied in as it arrives, so the strip it
    was sliced from is released as soon as its last window is taken.
    """
    left = plan.count
    places: list[tuple[int, int]] = []
    x: np.ndarray | None = None
    valid: np.ndarray | None = None
    for place, window, ok in _windows(plan, read, readers):
        if x is None or valid is None:
            t, c, h, w = window.shape
            n = min(batch_size, left)
            x = np.empty((n, t, h, w, c), dtype=np.float32).transpose(0, 1, 4, 2, 3)
            valid = np.empty((n, h, w), dtype=bool)
        x[len(places)] = window
        valid[len(places)] = ok
        places.append(place)
        del window, ok
        if len(places) == len(x):
            left -= len(places)
            yield places, x, valid
            places, x, valid = [], None, None


def _prefetched(iterator: Iterator[Any], depth: int) -> Iterator[Any]:
    """Run ``iterator`` in a thread, at most ``depth`` items ahead of the one the caller holds.

    The producer takes a slot before it builds an item and the caller frees it when it takes one, so
    at most ``depth + 1`` items exist at once (a bounded queue alone would allow ``depth + 2``: one
    more held by the blocked producer). Exceptions are re-raised in the caller.
    """
    if depth < 1:
        yield from iterator
        return
    items: queue.Queue[Any] = queue.Queue()
    slots = threading.Semaphore(depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            while True:
                while not slots.acquire(timeout=0.1):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                item = next(iterator, _END)
                if item is _END:
                    items.put(("end", None))
                    return
                items.put(("item", item))
                del item
        except BaseException as exc:  # handed to the consumer, which re-raises it
            items.put(("error", exc))

    thread = threading.Thread(target=produce, name="glaciermap-reader", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = items.get()
            slots.release()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
            del value
    finally:
        stop.set()
        thread.join(timeout=5)


_END = object()


def sweep(
    plan: WindowPlan,
    read: WindowReader,
    batch_fn: BatchFn,
    sink: Callable[[int, np.ndarray, np.ndarray], None],
    *,
    batch_size: int = 4,
    sigma_scale: float = 0.125,
    prefetch: int = 2,
    readers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> float:
    """Run every window of ``plan`` through ``batch_fn`` and blend into rows handed to ``sink``.

    Returns the seconds spent inside ``batch_fn``.
    """
    blender = RowBlender(plan, gaussian_weight(plan.window, sigma_scale), sink)
    model_seconds = 0.0
    done = 0
    batches = _batches(plan, read, batch_size, readers)
    for places, x, valid in _prefetched(batches, prefetch):
        # A window without any observed pixel needs no model call: validity is a property of the
        # pixel, so every pixel of it is no data whichever window reads it (sea, missing tiles).
        observed = valid.reshape(len(valid), -1).any(axis=1)
        out = np.zeros((len(places), plan.window, plan.window), dtype=np.float32)
        if observed.any():
            began = time.perf_counter()
            out[observed] = batch_fn(x if observed.all() else x[observed])
            model_seconds += time.perf_counter() - began
        for (row, col), prediction, ok in zip(places, out, valid, strict=True):
            blender.add(row, col, prediction, ok)
        done += len(places)
        if progress is not None:
            progress(done, plan.count)
    blender.close()
    return model_seconds


# ----------------------------------------------------------------------------------------------------
# Writing


class _RowWriters:
    """Sink writing finished rows to a float32 probability and a uint8 mask GeoTIFF (tiled, scratch).

    Rows are buffered until a whole row of 512-pixel blocks is complete, so every compressed block is
    written once (rewriting partly filled compressed blocks would re-encode them and grow the file).
    """

    BLOCK = 512

    def __init__(
        self, probability: Path, mask: Path, profile: dict[str, Any], threshold: float
    ) -> None:
        import rasterio

        base = {
            **profile,
            "driver": "GTiff",
            "count": 1,
            "tiled": True,
            "blockxsize": self.BLOCK,
            "blockysize": self.BLOCK,
            "compress": "ZSTD",
            "bigtiff": "IF_SAFER",
        }
        self.threshold = threshold
        self.width = int(profile["width"])
        self.prob = rasterio.open(
            probability, "w", **{**base, "dtype": "float32", "nodata": float("nan")}
        )
        self.mask = rasterio.open(mask, "w", **{**base, "dtype": "uint8", "nodata": MASK_NODATA})
        # One buffer of rows not yet written, reused: no list of chunks, no concatenated copy.
        self.values = np.empty((0, self.width), dtype=np.float32)
        self.masks = np.empty((0, self.width), dtype=np.uint8)
        self.pending_rows = 0
        self.written = 0  # rows on disk

    def _reserve(self, rows: int) -> None:
        if rows <= len(self.values):
            return
        # Room for a block row plus the arriving chunk (one window row of windows at most, usually).
        capacity = max(rows, self.BLOCK + 2 * (rows - self.pending_rows))
        for name in ("values", "masks"):
            old = getattr(self, name)
            grown = np.empty((capacity, self.width), dtype=old.dtype)
            grown[: self.pending_rows] = old[: self.pending_rows]
            setattr(self, name, grown)

    def __call__(self, row0: int, values: np.ndarray, valid: np.ndarray) -> None:
        if row0 != self.written + self.pending_rows:
            raise ValueError(f"rows must arrive in order: got {row0}")
        n, p = len(values), self.pending_rows
        self._reserve(p + n)
        self.values[p : p + n] = values
        masks = self.masks[p : p + n]
        np.greater_equal(values, self.threshold, out=masks, casting="unsafe")
        masks[~valid] = MASK_NODATA
        self.pending_rows += n
        if self.pending_rows >= self.BLOCK:
            self._write(self.pending_rows - self.pending_rows % self.BLOCK)

    def _write(self, n: int) -> None:
        from rasterio.windows import Window

        window = Window(0, self.written, self.width, n)
        self.prob.write(self.values[:n], 1, window=window)
        self.mask.write(self.masks[:n], 1, window=window)
        self.written += n
        left = self.pending_rows - n  # < BLOCK <= n, so the two ranges do not overlap
        self.values[:left] = self.values[n : n + left]
        self.masks[:left] = self.masks[n : n + left]
        self.pending_rows = left

    def close(self) -> None:
        if self.pending_rows and not self.prob.closed:
            self._write(self.pending_rows)
        self.prob.close()
        self.mask.close()


def _to_cog(src_path: Path, dst_path: Path, resampling: str, description: str) -> None:
    """Copy a tiled GeoTIFF to a COG; GDAL streams it block by block (flat memory)."""
    import rasterio
    from rasterio.shutil import copy as rio_copy

    with rasterio.open(src_path, "r+") as src:
        src.set_band_description(1, description)
        floating = src.dtypes[0].startswith("float")
    rio_copy(
        src_path,
        dst_path,
        driver="COG",
        compress="DEFLATE",
        predictor=3 if floating else 2,
        blocksize=512,
        overview_resampling=resampling,
        bigtiff="IF_SAFER",
    )


# ----------------------------------------------------------------------------------------------------
# The whole stack


def _readers(asked: int, device: torch.device) -> int:
    if asked > 0:
        return asked
    if device.type != "cuda":
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(4, (cores or 2) // 2))


def predict_stack(
    weights: str | os.PathLike[str],
    stack_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    config: PredictConfig | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> PredictResult:
    """Predict glacier probability and mask over a whole stack with the given weights.

    Args:
        weights: ``name``, ``name.safetensors`` or ``name.json`` (tensors + card).
        stack_dir: a stack folder from ``glaciermap preprocess``.
        out_dir: folder for ``probability.tif``, ``mask.tif`` (COGs in the stack's grid) and
            ``predict.json`` (created; files in it are replaced only when the new ones are complete).
        config: window, overlap, batch size, TTA, device, threshold.
        progress: called ``(windows_done, windows_total)`` after each batch.

    Raises:
        InputError: the card does not fit the stack (T, channels), tiles are missing, the window is not
            a multiple of the model's stride, or CUDA is asked for without one.
    """
    import rasterio

    from glaciermap.calendar import select_acquisitions
    from glaciermap.models.weights import check_card_against_stack, load_weights
    from glaciermap.stack_format import StackMeta

    cfg = config or PredictConfig()
    stack = Path(stack_dir)
    meta = StackMeta.read(stack)
    meta.check_files(labels=False)
    device = resolve_device(cfg.device)
    model, card = load_weights(weights, device=device)

    channels = list(meta.channels)
    n_times = int(card.n_times or meta.n_slots)
    indices = select_acquisitions(meta.dates, n_times, missing=meta.missing_slots)
    check_card_against_stack(card, len(indices), channels)
    means, stds = card.statistics(channels)
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

    reader = StackWindows(
        meta.vrt_path, meta.bands(indices), len(indices), mean, std, gdal_cache_mb=cfg.gdal_cache_mb
    )
    plan = plan_windows(reader.height, reader.width, cfg.window, cfg.overlap)
    if device.type == "cpu":  # all the cores this process may use (not the machine's count)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        torch.set_num_threads(max(1, cores or 1))

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    profile = {
        "width": reader.width,
        "height": reader.height,
        "crs": reader.crs,
        "transform": reader.transform,
    }
    began = time.perf_counter()
    # Scratch files: row-streamed tiled GeoTIFFs, then COGs; all hidden, renamed together at the end.
    tag = uuid.uuid4().hex[:8]
    stream = {n: out / f".{n}.{tag}.stream.tif" for n in (PROBABILITY_NAME, MASK_NAME)}
    cogs = {n: out / f".{n}.{tag}.partial.tif" for n in (PROBABILITY_NAME, MASK_NAME)}
    try:
        with rasterio.Env(GDAL_CACHEMAX=cfg.gdal_cache_mb):
            writers = _RowWriters(
                stream[PROBABILITY_NAME], stream[MASK_NAME], profile, cfg.threshold
            )
            try:
                model_seconds = sweep(
                    plan,
                    reader,
                    torch_batch_fn(
                        model, device, tta=cfg.tta, amp=cfg.amp, channels_last=cfg.channels_last
                    ),
                    writers,
                    batch_size=cfg.batch_size,
                    sigma_scale=cfg.sigma_scale,
                    prefetch=cfg.prefetch
                    if cfg.prefetch >= 0
                    else (2 if device.type == "cuda" else 1),
                    readers=_readers(cfg.readers, device),
                    progress=progress,
                )
            finally:
                writers.close()
            _to_cog(
                stream[PROBABILITY_NAME], cogs[PROBABILITY_NAME], "AVERAGE", "glacier probability"
            )
            _to_cog(stream[MASK_NAME], cogs[MASK_NAME], "NEAREST", "glacier")
            (out / RECORD_NAME).unlink(
                missing_ok=True
            )  # no record of an older run beside new rasters
            for name, path in cogs.items():
                path.replace(out / name)
    except OSError as exc:
        raise InputError(
            f"cannot write in {out}: {exc}", "free some space or choose another folder"
        ) from exc
    finally:
        for path in (*stream.values(), *cogs.values()):
            path.unlink(missing_ok=True)
    seconds = time.perf_counter() - began

    with rasterio.open(out / MASK_NAME) as check:
        assert (check.width, check.height) == (reader.width, reader.height)
    result = PredictResult(
        out_dir=out,
        probability=out / PROBABILITY_NAME,
        mask=out / MASK_NAME,
        windows=plan.count,
        pixels=reader.width * reader.height,
        seconds=seconds,
        model_seconds=model_seconds,
        device=str(device),
    )
    record = {
        "weights": str(weights),
        "weights_sha256": card.sha256,
        "architecture": card.architecture,
        "stack": str(stack.resolve()),
        "region": meta.region.name,
        "year": meta.year,
        "dates": [meta.dates[i].isoformat() for i in indices],
        "config": asdict(cfg),
        "windows": plan.count,
        "pixels": result.pixels,
        "seconds": round(seconds, 3),
        "model_seconds": round(model_seconds, 3),
        "device": str(device),
    }
    with atomic_output(out / RECORD_NAME) as tmp:
        tmp.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return result


__all__ = [
    "BatchFn",
    "PredictConfig",
    "PredictResult",
    "StackWindows",
    "predict_stack",
    "resolve_device",
    "sweep",
    "torch_batch_fn",
]

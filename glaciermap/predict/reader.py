"""The splitter of the sweep: windows of a stack read in strips, batched, built ahead in a thread.

* :class:`StackWindows` reads normalised windows (or wider regions) of ``stack.vrt``, one dataset per
  reading thread (GDAL releases the GIL while it decodes).
* :func:`batches` cuts each row of windows into strips of about :data:`STRIP_WIDTH` columns, reads each
  strip once (``readers`` strips at a time) and packs the windows sliced from it into batches laid out
  channels-innermost, the layout the prepared model convolves.
* :func:`prefetched` builds those batches in a thread, a bounded number ahead of the model.
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from glaciermap.predict.sliding import WindowPlan
from glaciermap.stack_format import REBUILD_STACK
from glaciermap.workers import available_cpus

WindowReader = Callable[..., tuple[np.ndarray, np.ndarray]]
"""``read(row, col, size[, out])`` -> ``(x (T, C, size, size) float32, valid (size, size) bool)``;
with ``out`` given, ``x`` is written into it."""

Strip = tuple[int, int, int, tuple[int, ...]]
"""``(row, col0, width, window columns)``: one read serving the windows that start at those columns."""


class StackWindows:
    """Windows of a stack's ``stack.vrt``, normalised with given statistics, NaN filled with 0.

    Pixels outside the raster (windows larger than a small raster) and in missing tiles are no data.
    One open dataset per reading thread. A read that fails names the damaged file among ``tiles``
    (the files the VRT reads).
    """

    def __init__(
        self,
        vrt: Path,
        bands: Sequence[int],
        n_times: int,
        mean: np.ndarray,
        std: np.ndarray,
        gdal_cache_mb: int = 256,
        tiles: Sequence[Path] = (),
    ) -> None:
        from glaciermap.io.raster import open_raster

        self.vrt = vrt
        self.tiles = list(tiles)
        self.gdal_cache_mb = gdal_cache_mb
        self.bands = list(bands)
        self.n_times = n_times
        self.n_channels = len(mean)
        self.mean = mean.astype(np.float32).reshape(1, -1, 1, 1)
        self.std = std.astype(np.float32).reshape(1, -1, 1, 1)
        self._local = threading.local()
        with open_raster(vrt) as src:
            self.height, self.width = src.height, src.width
            self.crs, self.transform = src.crs, src.transform

    def _src(self) -> Any:
        src = getattr(self._local, "src", None)
        if src is None:
            from glaciermap.io.raster import gdal_env, open_dataset

            # GDAL options are per thread, and GDAL sizes its block cache from the first thread that
            # uses it: set them in each reading thread (left set for the thread's life).
            env = gdal_env(GDAL_CACHEMAX=self.gdal_cache_mb)
            env.__enter__()
            self._local.env = env
            src = open_dataset(self.vrt)
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

        from glaciermap.io.raster import read_errors_as_input

        h, w = min(height, self.height - row), min(width, self.width - col)
        if out is None:
            out = np.empty((self.n_times, self.n_channels, height, width), dtype=np.float32)
        flat = out.reshape(len(self.bands), height, width)
        if h < height or w < width:
            flat.fill(np.nan)
        # Straight into the buffer (GDAL writes through the view's strides): no strip-sized temporary.
        with read_errors_as_input(self.vrt, parts=self.tiles, hint=REBUILD_STACK):
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
"""Columns read at once by :func:`batches` from readers with ``read_region``: one read serves every
window inside it, instead of one read per window (GDAL reads a 1536 px square 7x faster than the 64
overlapping 384 px windows covering it)."""


def strips(plan: WindowPlan) -> list[Strip]:
    """Every strip of the plan, in the plan's order."""
    size, cols = plan.window, plan.cols
    found = []
    for row in plan.rows:
        i = 0
        while i < len(cols):
            j = i + 1  # windows i..j-1 fit in one strip
            while j < len(cols) and cols[j] + size - cols[i] <= max(STRIP_WIDTH, size):
                j += 1
            found.append((row, cols[i], cols[j - 1] + size - cols[i], cols[i:j]))
            i = j
    return found


def windows(
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
    todo = strips(plan)

    def load(strip: Strip) -> tuple[np.ndarray, np.ndarray]:
        row, c0, width, _ = strip
        return read_region(row, c0, size, width)  # type: ignore[no-any-return]

    with ThreadPoolExecutor(
        max_workers=max(1, readers), thread_name_prefix="glaciermap-read"
    ) as pool:
        pending: deque[Future[tuple[np.ndarray, np.ndarray]]] = deque()
        ahead = iter(todo)
        for strip in itertools.islice(ahead, max(1, readers)):
            pending.append(pool.submit(load, strip))
        for row, c0, _, cols in todo:
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


def batches(
    plan: WindowPlan,
    read: WindowReader,
    batch_size: int,
    readers: int = 1,
    *,
    skip_unobserved: bool = False,
) -> Iterator[tuple[list[tuple[int, int]], np.ndarray, np.ndarray]]:
    """Batches ``(places, x (B, T, C, w, w), valid (B, w, w))`` of the plan's windows, in order.

    ``x`` is stored with ``C`` innermost (the strides of a ``(B, T, w, w, C)`` array): the
    channels-last layout the prepared model convolves (:mod:`glaciermap.models.inference`), so the
    batch needs no second copy to get there. Each window is copied in as it arrives, so the strip it
    was sliced from is released as soon as its last window is taken.

    With ``skip_unobserved``, windows without a single observed pixel are left out (they need no
    model call: every pixel they cover is no data whichever window reads it), so every batch but
    the last holds ``batch_size`` windows with data.
    """
    left = plan.count
    places: list[tuple[int, int]] = []
    x: np.ndarray | None = None
    valid: np.ndarray | None = None
    for place, window, ok in windows(plan, read, readers):
        left -= 1
        if skip_unobserved and not ok.any():
            continue
        if x is None or valid is None:
            t, c, h, w = window.shape
            n = batch_size if skip_unobserved else min(batch_size, left + 1)
            x = np.empty((n, t, h, w, c), dtype=np.float32).transpose(0, 1, 4, 2, 3)
            valid = np.empty((n, h, w), dtype=bool)
        x[len(places)] = window
        valid[len(places)] = ok
        places.append(place)
        del window, ok
        if len(places) == len(x):
            yield places, x, valid
            places, x, valid = [], None, None
    if places and x is not None and valid is not None:
        yield places, x[: len(places)], valid[: len(places)]


def padded(x: np.ndarray, size: int) -> np.ndarray:
    """``x`` ``(n, T, C, w, w)`` (C innermost) followed by ``size - n`` windows of zeros, same layout."""
    n, t, c, h, w = x.shape
    full = np.zeros((size, t, h, w, c), dtype=x.dtype).transpose(0, 1, 4, 2, 3)
    full[:n] = x
    return full


_END = object()


def prefetched(iterator: Iterator[Any], depth: int) -> Iterator[Any]:
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


def default_prefetch(asked: int, device_type: str) -> int:
    """Batches built ahead of the model: ``asked`` if >= 0, else 1 on CPU (the model is the
    bottleneck; each batch held costs its size) and 2 on CUDA."""
    if asked >= 0:
        return asked
    return 2 if device_type == "cuda" else 1


def default_readers(asked: int, device_type: str) -> int:
    """Strips read in parallel: ``asked`` if > 0, else 1 on CPU (the model needs the cores) and on
    CUDA half the CPUs this process may use, at most 4 (one reader feeds only ~0.6 M px/s)."""
    if asked > 0:
        return asked
    if device_type != "cuda":
        return 1
    return max(1, min(4, available_cpus() // 2))


__all__ = [
    "STRIP_WIDTH",
    "StackWindows",
    "Strip",
    "WindowReader",
    "batches",
    "default_prefetch",
    "default_readers",
    "padded",
    "prefetched",
    "strips",
    "windows",
]

"""Sliding-window inference with Gaussian blending, one band of rows at a time.

The raster (``H`` x ``W`` pixels) is covered by square windows of side ``window`` whose starts are
``0, s, 2s, ...`` along each axis with ``s = int(window * (1 - overlap))``, the last one moved back to end
exactly at the raster's edge (MONAI's placement, so the two agree window for window). A raster smaller
than the window gets one window, padded with no data.

Each window's prediction is weighted by a Gaussian centred on the window (``sigma = sigma_scale *
window``, peak 1, floored at ``1e-3`` so a pixel seen only by window corners still gets a defined value)
and the output is ``sum(w * p) / sum(w)``. Windows arrive row of windows by row of windows; once every
window starting at row ``r`` has been added, rows above the next window row can no longer change: they
are handed to the writer and their memory reused (:class:`RowBlender`). Memory is therefore about
``2 * window * W`` floats of accumulators, whatever ``H``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

WEIGHT_FLOOR = 1e-3


def window_starts(length: int, window: int, stride: int) -> list[int]:
    """Start offsets covering ``[0, length)`` with windows of ``window`` every ``stride`` pixels."""
    if length <= window:
        return [0]
    starts = list(range(0, length - window + 1, stride))
    if starts[-1] != length - window:
        starts.append(length - window)
    return starts


@dataclass(frozen=True)
class WindowPlan:
    """Where the windows of a ``height`` x ``width`` raster lie (row and column starts)."""

    height: int
    width: int
    window: int
    stride: int
    rows: tuple[int, ...]
    cols: tuple[int, ...]

    @property
    def count(self) -> int:
        return len(self.rows) * len(self.cols)

    def __iter__(self) -> Iterator[tuple[int, int]]:
        """``(row, col)`` of every window, row of windows by row of windows."""
        for row in self.rows:
            for col in self.cols:
                yield row, col


def plan_windows(height: int, width: int, window: int, overlap: float) -> WindowPlan:
    """Window starts for a raster; ``overlap`` in ``[0, 1)`` is the shared fraction of a window."""
    if height < 1 or width < 1:
        raise ValueError(f"empty raster {height} x {width}")
    if window < 1:
        raise ValueError(f"window must be >= 1, not {window}")
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must be in [0, 1), not {overlap}")
    stride = max(1, int(window * (1.0 - overlap)))
    return WindowPlan(
        height,
        width,
        window,
        stride,
        tuple(window_starts(height, window, stride)),
        tuple(window_starts(width, window, stride)),
    )


def gaussian_weight(window: int, sigma_scale: float = 0.125) -> np.ndarray:
    """``(window, window)`` float32 Gaussian weights, peak 1 at the centre, floored at 1e-3."""
    centre = (window - 1) / 2.0
    sigma = max(sigma_scale * window, 1e-6)
    line = np.exp(-0.5 * ((np.arange(window) - centre) / sigma) ** 2)
    weight = np.outer(line, line)
    weight /= weight.max()
    return np.maximum(weight, WEIGHT_FLOOR).astype(np.float32)


RowSink = Callable[[int, np.ndarray, np.ndarray], None]
"""``sink(row0, values (n, W) float32, valid (n, W) bool)``: finished rows from ``row0`` down."""


class RowBlender:
    """Accumulate weighted window predictions and hand finished rows to a sink, in order.

    Windows must be added with non-decreasing row starts (as :class:`WindowPlan` yields them). The
    buffers span one window of rows; rows above the current window row are flushed when a window of a
    new row arrives, and everything left on :meth:`close`.
    """

    def __init__(self, plan: WindowPlan, weight: np.ndarray, sink: RowSink) -> None:
        self.plan = plan
        self.weight = weight.astype(np.float32)
        self.sink = sink
        span = min(plan.window, plan.height)
        self.acc = np.zeros((span, plan.width), dtype=np.float32)
        self.wsum = np.zeros((span, plan.width), dtype=np.float32)
        self.valid = np.zeros((span, plan.width), dtype=bool)
        self.top = 0  # raster row of buffer row 0
        self.emitted = 0  # rows handed to the sink so far

    def add(self, row: int, col: int, prediction: np.ndarray, valid: np.ndarray) -> None:
        """Add one window's ``(window, window)`` prediction and input validity at ``(row, col)``."""
        if row < self.top:
            raise ValueError(f"window row {row} comes after row {self.top} was started")
        if row > self.top:
            self._flush_until(row)
        h = min(self.plan.window, self.plan.height - row)
        w = min(self.plan.window, self.plan.width - col)
        r = row - self.top
        weight = self.weight[:h, :w]
        self.acc[r : r + h, col : col + w] += weight * prediction[:h, :w]
        self.wsum[r : r + h, col : col + w] += weight
        self.valid[r : r + h, col : col + w] |= valid[:h, :w]

    def _flush_until(self, row: int) -> None:
        """Emit raster rows ``[top, row)`` and move the buffers down so they start at ``row``."""
        n = row - self.top
        self._emit(n)
        keep = max(0, self.acc.shape[0] - n)
        for buf in (self.acc, self.wsum, self.valid):
            buf[:keep] = buf[n : n + keep]
            buf[keep:] = 0
        self.top = row

    def _emit(self, n: int) -> None:
        n = min(n, self.plan.height - self.top)
        if n <= 0:
            return
        held = min(n, self.acc.shape[0])
        with np.errstate(invalid="ignore", divide="ignore"):
            values = self.acc[:held] / self.wsum[:held]
        valid = self.valid[:held] & (self.wsum[:held] > 0)
        values = np.where(valid, values, np.float32(np.nan)).astype(np.float32)
        self.sink(self.top, values, valid.copy())
        # Rows below the buffer that no window reached (windows without data are not added): no
        # data, handed over a buffer's height at a time.
        for row0 in range(self.top + held, self.top + n, self.acc.shape[0]):
            rows = min(self.acc.shape[0], self.top + n - row0)
            width = self.plan.width
            self.sink(
                row0,
                np.full((rows, width), np.nan, dtype=np.float32),
                np.zeros((rows, width), dtype=bool),
            )
        self.emitted = self.top + n

    def close(self) -> None:
        """Emit every row not yet handed over."""
        self._emit(self.plan.height - self.top)
        self.top = self.plan.height


__all__ = [
    "RowBlender",
    "RowSink",
    "WindowPlan",
    "gaussian_weight",
    "plan_windows",
    "window_starts",
]

"""The three aligned grids a landscape is built on, and interpolation between them.

The scene grid has the landscape's pixels; the *shape* grid is 4x coarser and also covers a padding ring
around the scene (valleys and glaciers may start outside the scene and reach into it); the *planning*
grid groups shape cells into at most ~300 cells a side, for distance transforms and flow routing.
:class:`Grid` holds all three and samples arrays of one on another (bilinear, or Catmull-Rom where the
result is hillshaded).
"""

from __future__ import annotations

import math

import numpy as np
from affine import Affine

from glaciermap.errors import InputError


def as_generator(rng: np.random.Generator | int) -> np.random.Generator:
    """The caller's generator, or a new one seeded with an int."""
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


class Grid:
    """The fine scene grid, and the shape and planning grids that share its origin.

    The shape grid has cells ``k = 4`` pixels wide and extends ``pad_cells`` cells beyond the scene on every
    side; the planning grid groups ``kp`` x ``kp`` shape cells (at most ~300 cells a side). Cell edges of all
    three grids line up, so a block of fine pixels maps onto whole coarse cells.
    """

    k = 4

    def __init__(self, bounds: tuple[float, float, float, float], pixel_size: float) -> None:
        minx, miny, maxx, maxy = (float(b) for b in bounds)
        ps = float(pixel_size)
        if not (ps > 0 and maxx > minx and maxy > miny):
            raise InputError(f"empty scene bounds {bounds} or pixel size {pixel_size}")
        self.ps = ps
        self.minx, self.maxy = minx, maxy
        self.width = math.ceil((maxx - minx) / ps - 1e-6)
        self.height = math.ceil((maxy - miny) / ps - 1e-6)
        if min(self.width, self.height) < 32:
            raise InputError(
                f"scene of {self.width} x {self.height} pixels is too small for a landscape",
                "give bounds at least 32 pixels wide and high",
            )
        self.transform = Affine(ps, 0.0, minx, 0.0, -ps, maxy)
        self.cell = self.k * ps
        extent = max(self.width, self.height) * ps
        pad_m = min(max(0.3 * extent, 1500.0), 6000.0)
        self.kp = max(1, math.ceil((extent + 2 * pad_m) / (self.cell * 300)))
        self.plan_cell = self.cell * self.kp
        self.pad_cells = math.ceil(pad_m / self.plan_cell) * self.kp
        self.pad_m = self.pad_cells * self.cell
        nx = 2 * self.pad_cells + math.ceil(self.width / self.k)
        ny = 2 * self.pad_cells + math.ceil(self.height / self.k)
        self.nx = math.ceil(nx / self.kp) * self.kp
        self.ny = math.ceil(ny / self.kp) * self.kp
        self.x0 = minx - self.pad_m
        self.y1 = maxy + self.pad_m
        self.scene = (minx, maxy - self.height * ps, minx + self.width * ps, maxy)

    @property
    def plan_shape(self) -> tuple[int, int]:
        """(rows, columns) of the planning grid."""
        return (self.ny // self.kp, self.nx // self.kp)

    @property
    def domain(self) -> tuple[float, float, float, float]:
        """(minx, miny, maxx, maxy) covered by the shape grid, metres."""
        return (self.x0, self.y1 - self.ny * self.cell, self.x0 + self.nx * self.cell, self.y1)

    def shape_xy(self, r0: int = 0, r1: int | None = None, c0: int = 0, c1: int | None = None):
        """1D cell-centre x (columns c0:c1) and y (rows r0:r1) of the shape grid, metres."""
        r1 = self.ny if r1 is None else r1
        c1 = self.nx if c1 is None else c1
        xs = self.x0 + (np.arange(c0, c1) + 0.5) * self.cell
        ys = self.y1 - (np.arange(r0, r1) + 0.5) * self.cell
        return xs, ys

    def window_at(
        self, bbox: tuple[float, float, float, float], cell: float
    ) -> tuple[int, int, int, int]:
        """(r0, r1, c0, c1) of the cells of size ``cell`` covering ``bbox`` plus one, clipped."""
        ny, nx = round(self.ny * self.cell / cell), round(self.nx * self.cell / cell)
        xmin, ymin, xmax, ymax = bbox
        c0 = max(0, math.floor((xmin - self.x0) / cell) - 1)
        c1 = min(nx, math.ceil((xmax - self.x0) / cell) + 1)
        r0 = max(0, math.floor((self.y1 - ymax) / cell) - 1)
        r1 = min(ny, math.ceil((self.y1 - ymin) / cell) + 1)
        return r0, max(r1, r0 + 2), c0, max(c1, c0 + 2)

    def coords_at(self, cell: float, r0: int, r1: int, c0: int, c1: int):
        """1D cell-centre x (columns c0:c1) and y (rows r0:r1) of the grid of cell size ``cell``."""
        xs = self.x0 + (np.arange(c0, c1) + 0.5) * cell
        ys = self.y1 - (np.arange(r0, r1) + 0.5) * cell
        return xs, ys

    def sample_at(
        self,
        values: np.ndarray,
        cell: float,
        origin: tuple[int, int],
        xs: np.ndarray,
        ys: np.ndarray,
    ) -> np.ndarray:
        """Bilinear samples of a window (starting at cell ``origin``) of the grid of size ``cell``."""
        qc = (xs - self.x0) / cell - 0.5 - origin[1]
        qr = (self.y1 - ys) / cell - 0.5 - origin[0]
        return bilinear(values, qr, qc)

    def plan_xy(self):
        """1D cell-centre x and y of the planning grid, metres."""
        ny, nx = self.plan_shape
        xs = self.x0 + (np.arange(nx) + 0.5) * self.plan_cell
        ys = self.y1 - (np.arange(ny) + 0.5) * self.plan_cell
        return xs, ys

    def fine_xy(self, r0: int, r1: int, c0: int, c1: int):
        """1D pixel-centre x (columns c0:c1) and y (rows r0:r1) of the scene grid, metres."""
        xs = self.minx + (np.arange(c0, c1) + 0.5) * self.ps
        ys = self.maxy - (np.arange(r0, r1) + 0.5) * self.ps
        return xs, ys

    def fine_window(self, bbox: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
        """(r0, r1, c0, c1) of the scene pixels inside ``bbox`` (possibly empty)."""
        xmin, ymin, xmax, ymax = bbox
        c0 = min(max(0, math.floor((xmin - self.minx) / self.ps)), self.width)
        c1 = min(max(0, math.ceil((xmax - self.minx) / self.ps)), self.width)
        r0 = min(max(0, math.floor((self.maxy - ymax) / self.ps)), self.height)
        r1 = min(max(0, math.ceil((self.maxy - ymin) / self.ps)), self.height)
        return r0, max(r1, r0), c0, max(c1, c0)

    def sample_shape(
        self,
        values: np.ndarray,
        xs: np.ndarray,
        ys: np.ndarray,
        origin: tuple[int, int] = (0, 0),
        *,
        smooth: bool = False,
    ) -> np.ndarray:
        """Samples of a shape-grid array (whose [0, 0] is cell ``origin``) at xs x ys.

        Bilinear, or Catmull-Rom with ``smooth`` (for terrain that will be hillshaded).
        """
        qc = (xs - self.x0) / self.cell - 0.5 - origin[1]
        qr = (self.y1 - ys) / self.cell - 0.5 - origin[0]
        return bicubic(values, qr, qc) if smooth else bilinear(values, qr, qc)

    def sample_plan(self, values: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Bilinear samples of a planning-grid array at xs x ys."""
        qc = (xs - self.x0) / self.plan_cell - 0.5
        qr = (self.y1 - ys) / self.plan_cell - 0.5
        return bilinear(values, qr, qc)

    def plan_points(self, values: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Bilinear values of a planning-grid array at points (x[i], y[i])."""
        ny, nx = values.shape
        qc = np.clip((np.asarray(x) - self.x0) / self.plan_cell - 0.5, 0, nx - 1)
        qr = np.clip((self.y1 - np.asarray(y)) / self.plan_cell - 0.5, 0, ny - 1)
        i0 = np.minimum(np.floor(qr).astype(np.intp), ny - 2)
        j0 = np.minimum(np.floor(qc).astype(np.intp), nx - 2)
        fr, fc = qr - i0, qc - j0
        top = values[i0, j0] * (1 - fc) + values[i0, j0 + 1] * fc
        bottom = values[i0 + 1, j0] * (1 - fc) + values[i0 + 1, j0 + 1] * fc
        return top * (1 - fr) + bottom * fr

    def plan_at(self, values: np.ndarray, x: float, y: float) -> float:
        """Bilinear value of a planning-grid array at one point."""
        return float(self.plan_points(values, np.array([x]), np.array([y]))[0])

    def plan_from_shape(self, values: np.ndarray) -> np.ndarray:
        """Block mean of a shape-grid array onto the planning grid."""
        ny, nx = self.plan_shape
        return values.reshape(ny, self.kp, nx, self.kp).mean(axis=(1, 3)).astype(np.float32)

    def plan_from_fine(self, mask: np.ndarray) -> np.ndarray:
        """Planning cells that hold at least one True pixel of a scene-grid mask."""
        ny, nx = self.plan_shape
        block = self.k * self.kp
        off = self.pad_cells // self.kp
        rows, cols = math.ceil(self.height / block), math.ceil(self.width / block)
        padded = np.zeros((rows * block, cols * block), dtype=bool)
        padded[: self.height, : self.width] = mask
        out = np.zeros((ny, nx), dtype=bool)
        out[off : off + rows, off : off + cols] = padded.reshape(rows, block, cols, block).any(
            axis=(1, 3)
        )
        return out

    def inside_scene(self, x: float, y: float, margin: float = 0.0) -> bool:
        """Whether (x, y) lies in the scene, at least ``margin`` metres from its edges."""
        minx, miny, maxx, maxy = self.scene
        return minx + margin <= x <= maxx - margin and miny + margin <= y <= maxy - margin

    def inside_domain(self, x: float, y: float, margin: float = 0.0) -> bool:
        """Whether (x, y) lies in the padded domain, at least ``margin`` metres from its edges."""
        minx, miny, maxx, maxy = self.domain
        return minx + margin <= x <= maxx - margin and miny + margin <= y <= maxy - margin


def bilinear(values: np.ndarray, qr: np.ndarray, qc: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of ``values`` at fractional row indices ``qr`` x column indices ``qc``.

    Args:
        values: (ny, nx) array, at least 2 x 2.
        qr: (h,) fractional row indices; clamped to the array.
        qc: (w,) fractional column indices.

    Returns:
        (h, w) float32.
    """
    ny, nx = values.shape
    i0 = np.clip(np.floor(qr), 0, ny - 2).astype(np.intp)
    fr = np.clip(qr - i0, 0.0, 1.0).astype(np.float32)[:, None]
    j0 = np.clip(np.floor(qc), 0, nx - 2).astype(np.intp)
    fc = np.clip(qc - j0, 0.0, 1.0).astype(np.float32)
    src = values.astype(np.float32, copy=False)
    out = np.empty((len(qr), len(qc)), dtype=np.float32)
    # Row strips keep the (h, nx) intermediate small on large scenes.
    for s in range(0, len(qr), 1024):
        rows = (
            src[i0[s : s + 1024]] * (1 - fr[s : s + 1024])
            + src[i0[s : s + 1024] + 1] * fr[s : s + 1024]
        )
        out[s : s + 1024] = rows[:, j0] * (1 - fc) + rows[:, j0 + 1] * fc
    return out


def _cubic_weights(f: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Catmull-Rom weights of the four taps around fractional offsets ``f`` in [0, 1)."""
    f2, f3 = f * f, f * f * f
    return (
        (-0.5 * f3 + f2 - 0.5 * f),
        (1.5 * f3 - 2.5 * f2 + 1.0),
        (-1.5 * f3 + 2.0 * f2 + 0.5 * f),
        (0.5 * f3 - 0.5 * f2),
    )


def bicubic(values: np.ndarray, qr: np.ndarray, qc: np.ndarray) -> np.ndarray:
    """Catmull-Rom interpolation of ``values`` at fractional rows ``qr`` x columns ``qc``.

    Unlike bilinear interpolation its slopes are continuous across cell edges, so a hillshade of an
    upsampled terrain shows no grid of facets.

    Args:
        values: (ny, nx) array, at least 4 x 4.
        qr: (h,) fractional row indices; clamped to the array.
        qc: (w,) fractional column indices.

    Returns:
        (h, w) float32.
    """
    ny, nx = values.shape
    qr = np.clip(qr, 0, ny - 1)
    qc = np.clip(qc, 0, nx - 1)
    i1 = np.clip(np.floor(qr), 0, ny - 2).astype(np.intp)
    j1 = np.clip(np.floor(qc), 0, nx - 2).astype(np.intp)
    wr = [w.astype(np.float32)[:, None] for w in _cubic_weights(qr - i1)]
    wc = [w.astype(np.float32) for w in _cubic_weights(qc - j1)]
    ri = [np.clip(i1 + k, 0, ny - 1) for k in (-1, 0, 1, 2)]
    ci = [np.clip(j1 + k, 0, nx - 1) for k in (-1, 0, 1, 2)]
    src = values.astype(np.float32, copy=False)
    out = np.empty((len(qr), len(qc)), dtype=np.float32)
    for s in range(0, len(qr), 512):
        e = s + 512
        rows = sum(src[ri[k][s:e]] * wr[k][s:e] for k in range(4))
        out[s:e] = sum(rows[:, ci[k]] * wc[k] for k in range(4))
    return out


def strips(height: int, rows: int = 512) -> list[tuple[int, int]]:
    """Row ranges that cover ``height`` rows in blocks: full-scene work in bounded memory."""
    return [(r, min(r + rows, height)) for r in range(0, height, rows)]

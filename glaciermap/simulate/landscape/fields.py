"""Operations on 2-D fields: distance transforms, flood fill, box filters and ramp shapes (numpy only)."""

from __future__ import annotations

import numpy as np

from glaciermap.simulate.landscape.grid import strips


def smoothstep(x: np.ndarray | float) -> np.ndarray:
    """3x^2 - 2x^3 on [0, 1], clamped outside."""
    t = np.clip(x, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def wall_shape(r: np.ndarray) -> np.ndarray:
    """How far a U-shaped valley wall has risen at ``r`` wall widths from its foot (0 → 1)."""
    return -np.expm1(-(r * r))


def distance_to(mask: np.ndarray, cell_m: float) -> np.ndarray:
    """Exact Euclidean distance from every cell centre to the nearest True cell, metres.

    Separable: a 1D sweep down the columns, then a brute-force lower envelope across the rows. That costs
    O(ny nx^2), fine for planning grids of a few hundred cells.

    Args:
        mask: (ny, nx) bool.
        cell_m: cell size, metres.

    Returns:
        (ny, nx) float32; 0 on the mask, inf everywhere when the mask is empty.
    """
    ny, nx = mask.shape
    if not mask.any():
        return np.full((ny, nx), np.inf, dtype=np.float32)
    big = np.float32(ny + nx + 1)
    g = np.where(mask, np.float32(0), big).astype(np.float32)
    for i in range(1, ny):
        np.minimum(g[i], g[i - 1] + 1, out=g[i])
    for i in range(ny - 2, -1, -1):
        np.minimum(g[i], g[i + 1] + 1, out=g[i])
    g2 = g * g
    out = np.full((ny, nx), np.inf, dtype=np.float32)
    cols = np.arange(nx, dtype=np.float32)
    for j in range(nx):
        np.minimum(out, g2[:, j : j + 1] + (cols - j) ** 2, out=out)
    return np.sqrt(out) * np.float32(cell_m)


def connected_to_edge(mask: np.ndarray) -> np.ndarray:
    """The cells of ``mask`` 4-connected to a masked cell on the array's edge (flood fill by dilation)."""
    reached = np.zeros_like(mask)
    reached[0, :], reached[-1, :] = mask[0, :], mask[-1, :]
    reached[:, 0] |= mask[:, 0]
    reached[:, -1] |= mask[:, -1]
    while True:
        grown = reached.copy()
        grown[1:, :] |= reached[:-1, :]
        grown[:-1, :] |= reached[1:, :]
        grown[:, 1:] |= reached[:, :-1]
        grown[:, :-1] |= reached[:, 1:]
        grown &= mask
        if np.array_equal(grown, reached):
            return reached
        reached = grown


def box_blur(values: np.ndarray, passes: int = 2) -> np.ndarray:
    """3 x 3 mean filter applied ``passes`` times (edges replicated)."""
    out = values.astype(np.float32)
    for _ in range(passes):
        p = np.pad(out, 1, mode="edge")
        out = p[:-2, :-2] + p[:-2, 1:-1] + p[:-2, 2:] + p[1:-1, :-2] + p[1:-1, 1:-1] + p[1:-1, 2:]
        out += p[2:, :-2] + p[2:, 1:-1] + p[2:, 2:]
        out /= 9.0
    return out


def _box_sum(values: np.ndarray, radius: int) -> np.ndarray:
    """Sum over the (2r+1)^2 window around each cell (zero outside), via cumulative sums."""
    out = values.astype(np.float64)
    for axis in (0, 1):
        c = np.cumsum(out, axis=axis)
        n = out.shape[axis]
        hi = np.minimum(np.arange(n) + radius, n - 1)
        lo = np.arange(n) - radius - 1
        upper = np.take(c, hi, axis=axis)
        lower = np.take(c, np.maximum(lo, 0), axis=axis)
        shape = [1, 1]
        shape[axis] = n
        out = upper - np.where((lo >= 0).reshape(shape), lower, 0.0)
    return out


def masked_smooth(values: np.ndarray, mask: np.ndarray, radius: int) -> np.ndarray:
    """Mean of ``values`` over the ``mask`` pixels in a (2r+1)^2 window, in row strips.

    Used on the ice surface: it softens the steps where two glaciers' surfaces meet (ice divides)
    without mixing in the rock around them. Pixels outside the mask are returned unchanged.
    """
    out = values.copy()
    height = values.shape[0]
    for r0, r1 in strips(height, 1024):
        a0, a1 = max(r0 - radius, 0), min(r1 + radius, height)
        m = mask[a0:a1]
        if not m[r0 - a0 : r1 - a0].any():
            continue
        v = np.where(m, values[a0:a1], 0.0)
        total = _box_sum(v, radius)[r0 - a0 : r1 - a0]
        weight = _box_sum(m.astype(np.float32), radius)[r0 - a0 : r1 - a0]
        inside = mask[r0:r1]
        out[r0:r1][inside] = (total[inside] / np.maximum(weight[inside], 1.0)).astype(out.dtype)
    return out

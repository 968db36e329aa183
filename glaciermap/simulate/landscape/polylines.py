"""Polylines (valley centre lines, fjords): distance fields, chainage, smoothing and resampling."""

from __future__ import annotations

import math

import numpy as np


def polyline_distance(
    xy: np.ndarray, xs: np.ndarray, ys: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """Distance to a polyline and chainage of the nearest point on it, for a grid window.

    Each segment only updates the cells within ``radius`` of its bounding box, so long lines on big grids
    stay cheap.

    Args:
        xy: (N, 2) vertices, metres.
        xs: (w,) cell-centre x of the window's columns (increasing).
        ys: (h,) cell-centre y of the window's rows (decreasing).
        radius: how far from the line the distance is needed, metres.

    Returns:
        ``(d, t)``: (h, w) float32 distance (1e7 beyond ``radius``) and chainage along the line from its
        first vertex, metres.
    """
    d = np.full((len(ys), len(xs)), 1e7, dtype=np.float32)
    t = np.zeros((len(ys), len(xs)), dtype=np.float32)
    seg = np.diff(xy, axis=0)
    seg_len = np.hypot(seg[:, 0], seg[:, 1])
    chain = np.concatenate([[0.0], np.cumsum(seg_len)])
    neg_ys = -ys
    for i in range(len(seg)):
        (ax, ay), (bx, by) = xy[i], xy[i + 1]
        c0 = int(np.searchsorted(xs, min(ax, bx) - radius))
        c1 = int(np.searchsorted(xs, max(ax, bx) + radius, side="right"))
        r0 = int(np.searchsorted(neg_ys, -(max(ay, by) + radius)))
        r1 = int(np.searchsorted(neg_ys, -(min(ay, by) - radius), side="right"))
        if c1 <= c0 or r1 <= r0 or seg_len[i] == 0:
            continue
        px = (xs[c0:c1] - ax)[None, :]
        py = (ys[r0:r1] - ay)[:, None]
        dx, dy = seg[i]
        u = np.clip((px * dx + py * dy) / (seg_len[i] ** 2), 0.0, 1.0)
        dist = np.hypot(px - u * dx, py - u * dy).astype(np.float32)
        sub_d = d[r0:r1, c0:c1]
        better = dist < sub_d
        sub_d[better] = dist[better]
        t[r0:r1, c0:c1][better] = (chain[i] + u * seg_len[i])[better]
    return d, t


def chainage(xy: np.ndarray) -> np.ndarray:
    """(N,) cumulative length along a polyline, metres."""
    return np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])


def wrap_angle(a: float) -> float:
    """Angle wrapped to [-pi, pi)."""
    return (a + math.pi) % (2 * math.pi) - math.pi


def smooth_polyline(xy: np.ndarray, fixed: int, passes: int = 3) -> np.ndarray:
    """Moving-average smoothing of a grid path; the first ``fixed`` vertices and the last stay put."""
    out = xy.astype(float).copy()
    for _ in range(passes):
        if len(out) - fixed < 3:
            break
        inner = (out[fixed - 1 : -2] + out[fixed:-1] + out[fixed + 1 :]) / 3
        out[fixed:-1] = inner
    return out


def resample_polyline(xy: np.ndarray, spacing: float) -> np.ndarray:
    """Vertices every ``spacing`` metres along a polyline (ends kept), same chainage."""
    chain = chainage(xy)
    if chain[-1] <= spacing:
        return xy
    n = math.ceil(chain[-1] / spacing)
    at = np.linspace(0.0, chain[-1], n + 1)
    return np.column_stack([np.interp(at, chain, xy[:, 0]), np.interp(at, chain, xy[:, 1])])

"""Joining the polygons of consecutive strips into whole glaciers.

:class:`SeamMerger` keeps the polygons that touch the strip's bottom seam "open". When the next strip
arrives, open polygons and the new polygons touching its top seam are grouped (pairs that intersect,
found with an STRtree), each group is unioned and split into its parts again — parts that touch only at
a corner fall apart, as 4-connectivity demands. Only polygons at the current seam are held, so memory
follows the seam, not the raster. :func:`iter_pixel_polygons` feeds it the strips of a raster.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import shapely

from glaciermap.vectorize.strips import (
    DEFAULT_STRIP_BUDGET_BYTES,
    DEFAULT_THRESHOLD,
    ProgressCallback,
    ScanStats,
    iter_strips,
    strip_height,
)
from glaciermap.workers import Workers, worker_slots

if TYPE_CHECKING:
    from glaciermap.io.raster import DatasetReader


def _connected_groups(n_nodes: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Label the connected components of a graph given as edge lists (union-find).

    Args:
        n_nodes: number of nodes.
        a, b: (E,) node indices of the edges.

    Returns:
        (n_nodes,) component label of each node (the index of its root).
    """
    parent = list(range(n_nodes))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # path halving keeps the trees flat
            i = parent[i]
        return i

    for i, j in zip(a.tolist(), b.tolist(), strict=True):
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    return np.fromiter((find(i) for i in range(n_nodes)), dtype=np.intp, count=n_nodes)


class SeamMerger:
    """Join polygons of consecutive strips into whole glaciers.

    Feed it the polygons of each strip, top to bottom, with :meth:`add_strip`; it returns the polygons that
    are complete. Call :meth:`finish` after the last strip. Only polygons touching the current seam are
    held, so memory follows the seam, not the raster.
    """

    def __init__(self) -> None:
        self._open = np.empty(0, dtype=object)
        self._seam_row: int | None = None

    def add_strip(self, polygons: np.ndarray, row_start: int, row_end: int) -> np.ndarray:
        """Merge one strip's polygons with those waiting at its top seam.

        Args:
            polygons: (N,) polygons of rows ``row_start`` to ``row_end`` in whole-raster pixel coordinates.
            row_start: the strip's first row (its top seam).
            row_end: one past its last row (its bottom seam).

        Returns:
            (M,) polygons that no longer touch the bottom seam and so are complete.
        """
        if self._seam_row is not None and row_start != self._seam_row:
            raise ValueError(
                f"strips must be consecutive: expected row {self._seam_row}, got {row_start}"
            )
        self._seam_row = row_end
        current = self._merge_across_seam(polygons, row_start)
        if current.size == 0:
            return current
        still_open = shapely.bounds(current)[:, 3] == row_end
        self._open = current[still_open]
        return current[~still_open]

    def finish(self) -> np.ndarray:
        """Return the polygons still open after the last strip (they touch the raster's bottom edge)."""
        done, self._open = self._open, np.empty(0, dtype=object)
        return done

    def _merge_across_seam(self, polygons: np.ndarray, row_start: int) -> np.ndarray:
        """Union open polygons with the new polygons they touch across the seam at ``row_start``."""
        opened = self._open
        if opened.size == 0 or polygons.size == 0:
            return np.concatenate([opened, polygons])
        top = np.flatnonzero(shapely.bounds(polygons)[:, 1] == row_start)
        if top.size == 0:
            return np.concatenate([opened, polygons])
        # Candidate pairs: an open polygon and a new top-seam polygon that share a point. Sharing only a
        # corner also counts here; the union below splits those again.
        open_idx, top_pos = shapely.STRtree(polygons[top]).query(opened, predicate="intersects")
        if open_idx.size == 0:
            return np.concatenate([opened, polygons])
        # Nodes: open polygons first, then the new ones (all of them, so indices stay simple).
        n_open = opened.size
        new_idx = n_open + top[top_pos]
        labels = _connected_groups(n_open + polygons.size, open_idx, new_idx)
        nodes = np.concatenate([opened, polygons])
        in_pair = np.zeros(nodes.size, dtype=bool)
        in_pair[open_idx] = True
        in_pair[new_idx] = True
        pair_labels = labels[in_pair]
        order = np.argsort(pair_labels, kind="stable")
        _, starts = np.unique(pair_labels[order], return_index=True)
        merged: list[np.ndarray] = []
        for group in np.split(nodes[in_pair][order], starts[1:]):
            union = shapely.union_all(group)
            # Drop the collinear vertices the union leaves where the seam crossed a straight edge.
            merged.append(shapely.get_parts(shapely.simplify(union, 0.0)))
        return np.concatenate([nodes[~in_pair], *merged])


def iter_pixel_polygons(
    src: DatasetReader,
    *,
    band: int = 1,
    threshold: float = DEFAULT_THRESHOLD,
    strip_rows: int | None = None,
    workers: Workers = 1,
    stats: ScanStats | None = None,
    progress: ProgressCallback | None = None,
) -> Iterator[np.ndarray]:
    """Yield complete glacier polygons of a raster, strip by strip, in pixel coordinates.

    Args:
        src: an open raster.
        band: 1-based band to read.
        threshold: glacier from this value up.
        strip_rows: rows per strip; by default :data:`DEFAULT_STRIP_BUDGET_BYTES` of input shared by the
            workers. Small values force many seams (tests use this).
        workers: processes polygonising strips in parallel (1 does everything in this process), or an
            :class:`~glaciermap.workers.Executor`.
        stats: filled with pixel counts as the raster is read.
        progress: called after each strip with (rows done, total rows).

    Yields:
        (N,) arrays of Polygons in (column, row) pixel-corner coordinates; each glacier appears once, in
        the batch of the strip where it ends. Batches may be empty.
    """
    stats = stats if stats is not None else ScanStats()
    if strip_rows is None:
        itemsize = np.dtype(src.dtypes[band - 1]).itemsize
        budget = DEFAULT_STRIP_BUDGET_BYTES // worker_slots(workers)
        strip_rows = strip_height(src.width, itemsize, src.block_shapes[band - 1][0], budget)
    if strip_rows < 1:
        raise ValueError(f"strip_rows must be at least 1, got {strip_rows}")
    merger = SeamMerger()
    for strip in iter_strips(src, band, threshold, strip_rows, workers):
        stats.valid_pixels += strip.valid_pixels
        stats.glacier_pixels += strip.glacier_pixels
        stats.value_min = min(stats.value_min, strip.value_min)
        stats.value_max = max(stats.value_max, strip.value_max)
        stats.strips += 1
        yield merger.add_strip(strip.polygons(), strip.row_start, strip.row_end)
        if progress is not None:
            progress(strip.row_end, src.height)
    yield merger.finish()

"""Training and evaluation samples read from a stack (``stack.json`` + ``tiles/`` + labels).

* The dates are chosen with :func:`glaciermap.calendar.select_acquisitions` (around the ablation peak).
* :class:`StackPatches` draws random square patches from the tiles of one split, reading only the
  windows it needs with rasterio (never whole stacks), across tile borders.
* :class:`StackTiles` yields whole tiles for evaluation.

Samples are ``x`` ``(T, C, P, P)`` float32, normalised per channel (``(v - mean) / std``) with
stack.json's statistics (or a model card's), NaN (no data) replaced by 0 afterwards; ``label``
``(P, P)`` uint8, 1 glacier, 0 not glacier, 255 ignored (never observed, all selected acquisitions
nodata, or outside the split).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch
from torch.utils.data import Dataset

from glaciermap.calendar import select_acquisitions
from glaciermap.errors import InputError
from glaciermap.stack_format import REBUILD_STACK, StackMeta
from glaciermap.training.augment import Transform
from glaciermap.training.losses import IGNORE_INDEX

# ----------------------------------------------------------------------------------------------------
# The stack on disk


@dataclass(frozen=True)
class _TilePlace:
    """A tile file placed on the stack's pixel grid (row grows southwards)."""

    tile_id: str
    col0: int
    row0: int
    width: int
    height: int


class _StackReader:
    """The stack's metadata, the selected bands, and rasterio handles opened lazily (one set per
    process)."""

    def __init__(
        self,
        stack_dir: str | os.PathLike[str],
        acquisitions: int | Sequence[int],
        statistics: tuple[Sequence[float], Sequence[float]] | None = None,
    ) -> None:
        self.meta = StackMeta.read(stack_dir)
        self.stack_dir = Path(stack_dir)
        self.channels: list[str] = list(self.meta.channels)
        self.all_dates = list(self.meta.dates)
        if isinstance(acquisitions, int):
            self.indices = select_acquisitions(
                self.all_dates, acquisitions, missing=self.meta.missing_slots
            )
        else:
            self.indices = [int(i) for i in acquisitions]
            if not self.indices or not all(0 <= i < len(self.all_dates) for i in self.indices):
                raise InputError(
                    f"acquisition indices {self.indices} are outside the stack's "
                    f"{len(self.all_dates)} slots",
                    "give indices into stack.json's dates",
                )
        self.dates = [self.all_dates[i] for i in self.indices]
        self.bands = self.meta.bands(self.indices)
        mean, std = statistics if statistics is not None else self.meta.statistics()
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        self.labels_dir: Path | None = self.meta.labels_dir
        self._handles: dict[Path, Any] = {}
        self._pid = os.getpid()

    def place(self, tile_id: str) -> _TilePlace:
        """Where a tile lies on the grid, from its id ``<PREFIX>-<col>-<row>``."""
        col0, row0 = self.meta.region.tile_place(tile_id)
        side = self.meta.region.tile_pixels
        return _TilePlace(tile_id, col0, row0, side, side)

    def tiles_of(self, split: str | None) -> list[str]:
        return self.meta.tiles_of(split)

    def _open(self, path: Path) -> Any:
        from glaciermap.io.raster import open_dataset

        if self._pid != os.getpid():  # forked into a DataLoader worker: never share handles
            self._handles = {}
            self._pid = os.getpid()
        handle = self._handles.get(path)
        if handle is None:
            try:
                handle = open_dataset(path)
            except InputError as exc:  # a stack's file: rebuilt by preprocess, not by hand
                raise InputError(exc.message, REBUILD_STACK) from exc
            self._handles[path] = handle
        return handle

    def close(self) -> None:
        for handle in self._handles.values():
            handle.close()
        self._handles = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handles"] = {}
        return state

    def read_window(
        self, places: Sequence[_TilePlace], row0: int, col0: int, height: int, width: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(T, C, height, width)`` raw values (NaN outside ``places``) and the ``(H, W)`` label."""
        from rasterio.windows import Window

        from glaciermap.io.raster import read_errors_as_input

        n_t, n_c = len(self.indices), len(self.channels)
        x = np.full((n_t * n_c, height, width), np.nan, dtype=np.float32)
        label = np.full((height, width), IGNORE_INDEX, dtype=np.uint8)
        for p in places:
            r0, r1 = max(row0, p.row0), min(row0 + height, p.row0 + p.height)
            c0, c1 = max(col0, p.col0), min(col0 + width, p.col0 + p.width)
            if r0 >= r1 or c0 >= c1:
                continue
            window = Window(c0 - p.col0, r0 - p.row0, c1 - c0, r1 - r0)
            out = (slice(None), slice(r0 - row0, r1 - row0), slice(c0 - col0, c1 - col0))
            tile = self.meta.tile_path(p.tile_id)
            with read_errors_as_input(tile, hint=REBUILD_STACK):
                x[out] = self._open(tile).read(self.bands, window=window, out_dtype="float32")
            if self.labels_dir is not None:
                label_path = self.meta.label_path(p.tile_id)
                with read_errors_as_input(label_path, hint=REBUILD_STACK):
                    label[out[1:]] = self._open(label_path).read(1, window=window)
        return x.reshape(n_t, n_c, height, width), label

    def finish(self, x: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalise (NaN kept) and set the label to 255 wherever every selected band is nodata."""
        x = (x - self.mean[None, :, None, None]) / self.std[None, :, None, None]
        observed = np.isfinite(x).any(axis=(0, 1))
        label = np.where(observed, label, np.uint8(IGNORE_INDEX)).astype(np.uint8)
        return x.astype(np.float32, copy=False), label


class StackPatches(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Random ``patch`` x ``patch`` samples from the tiles of one split of a stack (``split=None``:
    every tile, for a stack that is a training scene as a whole).

    Sampling: a tile of the split is drawn uniformly (tiles have equal sizes, so pixels are equally
    likely), then a centre pixel uniformly inside it; the window around that centre is shifted to lie
    within the bounding box of the split's tiles when that box is at least a patch wide. Windows read
    across tile borders (tile by tile, only the window's part of each file); pixels of tiles outside the
    split (other splits, or no tile) are nodata with label 255, so validation and test pixels never
    reach training. Tiles smaller than the patch (the example's 2 km tiles) are thus fine.

    Sample ``i`` of epoch ``e`` depends on ``(seed, e, i)`` only, so any number of DataLoader workers
    gives the same batches; call :meth:`set_epoch` before each epoch (with ``persistent_workers=False``,
    the workers pick the new epoch up when they start).

    Returns ``(x, label)``: ``x`` ``(T, C, patch, patch)`` float32, ``label`` ``(patch, patch)`` uint8.

    Args:
        stack_dir: the stack folder (stack.json, tiles/).
        split: ``"train"``, ``"val"``, ``"test"`` (or ``"none"``), as in stack.json's splits.
        patch: side of the square patch in pixels.
        samples_per_epoch: length of the dataset.
        acquisitions: how many acquisitions (:func:`~glaciermap.calendar.select_acquisitions`; slots
            without data are skipped while enough remain), or explicit slot indices.
        augment: a transform ``(x, label, rng) -> (x, label)`` (see :mod:`.augment`), or None.
        seed: base seed.
        statistics: per-channel ``(means, stds)`` to normalise with instead of the stack's own.
    """

    def __init__(
        self,
        stack_dir: str | os.PathLike[str],
        split: str | None = "train",
        patch: int = 384,
        samples_per_epoch: int = 1000,
        acquisitions: int | Sequence[int] = 15,
        augment: Transform | None = None,
        seed: int = 0,
        statistics: tuple[Sequence[float], Sequence[float]] | None = None,
    ) -> None:
        if patch < 1 or samples_per_epoch < 1:
            raise InputError(
                f"patch {patch} / samples_per_epoch {samples_per_epoch} must be positive", ""
            )
        self.reader = _StackReader(stack_dir, acquisitions, statistics)
        if self.reader.labels_dir is None:
            raise InputError(
                f"the stack in {stack_dir} has no labels", "rebuild it with --inventory to train"
            )
        self.split = split
        self.tiles = self.reader.tiles_of(split)
        if not self.tiles:
            raise InputError(
                f"the stack in {stack_dir} has no {split!r} tile",
                "check stack.json's splits (tiles without glacier are never in a split)",
            )
        self.places = [self.reader.place(t) for t in self.tiles]
        self.patch = int(patch)
        self.samples_per_epoch = int(samples_per_epoch)
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0
        rows = [p.row0 for p in self.places] + [p.row0 + p.height for p in self.places]
        cols = [p.col0 for p in self.places] + [p.col0 + p.width for p in self.places]
        self._box = (min(rows), min(cols), max(rows), max(cols))

    @property
    def dates(self) -> list[dt.date]:
        """Dates of the selected acquisitions (``T`` of them)."""
        return self.reader.dates

    @property
    def acquisition_indices(self) -> list[int]:
        return self.reader.indices

    @property
    def channels(self) -> list[str]:
        return self.reader.channels

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def window(self, index: int, rng: np.random.Generator | None = None) -> tuple[int, int]:
        """Top-left ``(row, col)`` on the stack's pixel grid of sample ``index`` (draws from ``rng``)."""
        if rng is None:
            rng = self._rng(index)
        place = self.places[int(rng.integers(len(self.places)))]
        row = place.row0 + int(rng.integers(place.height)) - self.patch // 2
        col = place.col0 + int(rng.integers(place.width)) - self.patch // 2
        top, left, bottom, right = self._box
        if bottom - top >= self.patch:
            row = min(max(row, top), bottom - self.patch)
        if right - left >= self.patch:
            col = min(max(col, left), right - self.patch)
        return row, col

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample ``index`` of the current epoch as numpy arrays."""
        if not 0 <= index < self.samples_per_epoch:
            raise IndexError(index)
        return self.draw(index, self._rng(index))

    def draw(self, index: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A sample drawn from ``rng`` (window, then augmentations), as :meth:`sample` does."""
        row, col = self.window(index, rng)
        x, label = self.reader.read_window(self.places, row, col, self.patch, self.patch)
        x, label = self.reader.finish(x, label)
        if self.augment is not None:
            x, label = self.augment(x, label, rng)
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32, copy=False)
        return np.ascontiguousarray(x), np.ascontiguousarray(label, dtype=np.uint8)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, label = self.sample(index)
        return torch.from_numpy(x), torch.from_numpy(label)


class TileSample(NamedTuple):
    """One whole tile: ``x`` ``(T, C, H, W)`` float32 normalised (NaN -> 0), ``label`` ``(H, W)`` uint8
    (all 255 when the stack has no labels), and ``valid`` ``(H, W)`` bool (observed in a selected band)."""

    tile_id: str
    x: torch.Tensor
    label: torch.Tensor
    valid: torch.Tensor


class Tiles(Protocol):
    """Whole tiles to score: :class:`StackTiles`, or several stacks' (``scenes.SceneTiles``)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> TileSample: ...


class StackTiles(Dataset[TileSample]):
    """Whole tiles of one split (``split=None``: every tile), for evaluation; ``stack_dir``, ``split``
    and ``acquisitions`` as for :class:`StackPatches`. ``statistics`` ``(means, stds)`` per channel
    normalise the inputs instead of the stack's own (a model card's, for weights trained elsewhere).
    Iterating yields :class:`TileSample`; use ``batch_size=1`` in a DataLoader."""

    def __init__(
        self,
        stack_dir: str | os.PathLike[str],
        split: str | None = "test",
        acquisitions: int | Sequence[int] = 15,
        statistics: tuple[Sequence[float], Sequence[float]] | None = None,
    ) -> None:
        self.reader = _StackReader(stack_dir, acquisitions, statistics)
        self.tiles = self.reader.tiles_of(split)
        if not self.tiles:
            raise InputError(f"the stack in {stack_dir} has no {split!r} tile", "")
        self.split = split

    @property
    def dates(self) -> list[dt.date]:
        return self.reader.dates

    def __len__(self) -> int:
        return len(self.tiles)

    def __getitem__(self, index: int) -> TileSample:
        tile_id = self.tiles[index]
        place = self.reader.place(tile_id)
        x, label = self.reader.read_window(
            [place], place.row0, place.col0, place.height, place.width
        )
        x, label = self.reader.finish(x, label)
        valid = np.isfinite(x).any(axis=(0, 1))
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        return TileSample(
            tile_id, torch.from_numpy(x), torch.from_numpy(label), torch.from_numpy(valid)
        )

    def __iter__(self):  # type: ignore[no-untyped-def]
        for i in range(len(self)):
            yield self[i]


__all__ = ["StackPatches", "StackTiles", "TileSample", "Tiles"]

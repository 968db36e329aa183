"""Training and evaluation samples read from a stack (``stack.json`` + ``tiles/`` + labels).

* :func:`select_acquisitions` picks the ``n`` acquisitions around the peak of the ablation season.
* :class:`StackPatches` draws random square patches from the tiles of one split, reading only the
  windows it needs with rasterio (never whole stacks), across tile borders.
* :class:`StackTiles` yields whole tiles for evaluation.

Samples are ``x`` ``(T, C, P, P)`` float32, normalised per channel with stack.json's statistics
(``(v - mean) / std``), NaN (no data) replaced by 0 afterwards; ``label`` ``(P, P)`` uint8, 1 glacier,
0 not glacier, 255 ignored (never observed, all selected acquisitions nodata, or outside the split).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from glaciermap.errors import InputError
from glaciermap.training.augment import Transform
from glaciermap.training.losses import IGNORE_INDEX

ABLATION_PEAK = (8, 1)
"""(month, day) taken as the peak of the ablation season (Svalbard: late July to early August)."""


def _as_date(value: dt.date | str) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def select_acquisitions(
    dates: Sequence[dt.date | str],
    n: int,
    *,
    missing: Sequence[int] = (),
    peak: tuple[int, int] = ABLATION_PEAK,
) -> list[int]:
    """Indices (ascending) of the ``n`` acquisitions around the peak of the ablation season.

    The rule: the centre is the acquisition nearest to ``peak`` (1 August) of its own year (ties go
    to the earlier date); the selection is the ``n`` consecutive acquisitions around it,
    ``(n - 1) // 2`` before and the rest after (an even ``n`` leans to later in the season), shifted
    to stay within the year. Slots listed in ``missing`` (no data) are skipped as long as enough
    slots with data remain. ``n >= len(dates)`` selects every slot, missing ones included, so ``T``
    stays the stack's.

    With the default 15 slots of 2016 (…, 18 Jun, 12 Jul, 5 Aug, 29 Aug, 22 Sep, …): n=1 -> 5 Aug;
    n=3 -> 12 Jul, 5 Aug, 29 Aug; n=5 -> 18 Jun to 22 Sep; n=15 -> all.
    """
    parsed = [_as_date(d) for d in dates]
    if n < 1:
        raise InputError(f"{n} acquisitions cannot be selected", "give at least 1")
    if n >= len(parsed):
        return list(range(len(parsed)))
    skip = set(missing)
    candidates = [i for i in range(len(parsed)) if i not in skip]
    if len(candidates) < n:
        candidates = list(range(len(parsed)))

    def distance(i: int) -> tuple[int, int]:
        d = parsed[i]
        return abs((d - dt.date(d.year, *peak)).days), i

    centre = candidates.index(min(candidates, key=distance))
    start = min(max(centre - (n - 1) // 2, 0), len(candidates) - n)
    return sorted(candidates[start : start + n])


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
    """stack.json, the tile geometry, and rasterio handles opened lazily (one set per process)."""

    def __init__(
        self,
        stack_dir: str | os.PathLike[str],
        labels_dir: str | os.PathLike[str] | None,
        acquisitions: int | Sequence[int],
        skip_missing: bool,
    ) -> None:
        self.stack_dir = Path(stack_dir)
        meta_path = self.stack_dir / "stack.json"
        try:
            self.meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(
                f"cannot read {meta_path}: {exc}", "build the stack first (glaciermap preprocess)"
            ) from None
        self.channels: list[str] = list(self.meta["channels"])
        self.all_dates = [dt.date.fromisoformat(d) for d in self.meta["dates"]]
        if isinstance(acquisitions, int):
            missing = self.meta.get("missing_slots", []) if skip_missing else []
            self.indices = select_acquisitions(self.all_dates, acquisitions, missing=missing)
        else:
            self.indices = [int(i) for i in acquisitions]
            if not self.indices or not all(0 <= i < len(self.all_dates) for i in self.indices):
                raise InputError(
                    f"acquisition indices {self.indices} are outside the stack's "
                    f"{len(self.all_dates)} slots",
                    "give indices into stack.json's dates",
                )
        self.dates = [self.all_dates[i] for i in self.indices]
        n_channels = len(self.channels)
        self.bands = [t * n_channels + c + 1 for t in self.indices for c in range(n_channels)]
        norm = self.meta["normalisation"]
        self.mean = np.array([norm[c]["mean"] for c in self.channels], dtype=np.float32)
        self.std = np.array([norm[c]["std"] for c in self.channels], dtype=np.float32)
        if not np.all(np.isfinite(self.std) & (self.std > 0)):
            raise InputError(
                f"{meta_path} has unusable normalisation statistics", "rebuild the stack"
            )
        labels = labels_dir if labels_dir is not None else self.meta.get("labels_dir")
        self.labels_dir: Path | None = None
        if self.meta.get("labels"):
            for folder in (labels, self.stack_dir / "labels"):
                if folder is not None and Path(folder).is_dir():
                    self.labels_dir = Path(folder)
                    break
        region = self.meta["region"]
        self.pixel_size = float(region["pixel_size"])
        self.origin = (float(region["origin"][0]), float(region["origin"][1]))
        self.tile_size = float(region["tile_size"])
        self._handles: dict[Path, Any] = {}
        self._pid = os.getpid()

    def place(self, tile_id: str) -> _TilePlace:
        """Where a tile lies on the grid, from its id ``<PREFIX>-<col>-<row>``."""
        try:
            col, row = (int(v) for v in tile_id.rsplit("-", 2)[1:])
        except ValueError:
            raise InputError(f"tile id {tile_id!r} is not <PREFIX>-<col>-<row>", "") from None
        side = round(self.tile_size / self.pixel_size)
        # Column 0 / row 0 of the pixel grid is the region's origin; rows count southwards, so the
        # tile's top edge (origin_y + (row + 1) * tile_size) lies at pixel row -(row + 1) * side.
        return _TilePlace(tile_id, col * side, -(row + 1) * side, side, side)

    def tiles_of(self, split: str | None) -> list[str]:
        tiles = list(self.meta["tiles"])
        if split is None:
            return tiles
        splits = self.meta.get("splits", {})
        return [t for t in tiles if splits.get(t) == split]

    def _open(self, path: Path) -> Any:
        import rasterio

        if self._pid != os.getpid():  # forked into a DataLoader worker: never share handles
            self._handles = {}
            self._pid = os.getpid()
        handle = self._handles.get(path)
        if handle is None:
            handle = rasterio.open(path)
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
            x[out] = self._open(self.stack_dir / "tiles" / f"{p.tile_id}.tif").read(
                self.bands, window=window, out_dtype="float32"
            )
            if self.labels_dir is not None:
                label[out[1:]] = self._open(self.labels_dir / f"{p.tile_id}.tif").read(
                    1, window=window
                )
        return x.reshape(n_t, n_c, height, width), label

    def finish(self, x: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalise (NaN kept) and set the label to 255 wherever every selected band is nodata."""
        x = (x - self.mean[None, :, None, None]) / self.std[None, :, None, None]
        observed = np.isfinite(x).any(axis=(0, 1))
        label = np.where(observed, label, np.uint8(IGNORE_INDEX)).astype(np.uint8)
        return x.astype(np.float32, copy=False), label


class StackPatches(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Random ``patch`` x ``patch`` samples from the tiles of one split of a stack.

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
        acquisitions: how many acquisitions (:func:`select_acquisitions`), or explicit slot indices.
        augment: a transform ``(x, label, rng) -> (x, label)`` (see :mod:`.augment`), or None.
        seed: base seed.
        labels_dir: the labels folder (default: stack.json's, else ``stack_dir/labels``).
        skip_missing: skip slots without data when selecting fewer acquisitions than slots.
    """

    def __init__(
        self,
        stack_dir: str | os.PathLike[str],
        split: str = "train",
        patch: int = 384,
        samples_per_epoch: int = 1000,
        acquisitions: int | Sequence[int] = 15,
        augment: Transform | None = None,
        seed: int = 0,
        labels_dir: str | os.PathLike[str] | None = None,
        skip_missing: bool = True,
    ) -> None:
        if patch < 1 or samples_per_epoch < 1:
            raise InputError(
                f"patch {patch} / samples_per_epoch {samples_per_epoch} must be positive", ""
            )
        self.reader = _StackReader(stack_dir, labels_dir, acquisitions, skip_missing)
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
        rng = self._rng(index)
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


class StackTiles(Dataset[TileSample]):
    """Whole tiles of one split (``split=None``: every tile), for evaluation; same arguments as
    :class:`StackPatches`. Iterating yields :class:`TileSample`; use ``batch_size=1`` in a DataLoader."""

    def __init__(
        self,
        stack_dir: str | os.PathLike[str],
        split: str | None = "test",
        acquisitions: int | Sequence[int] = 15,
        labels_dir: str | os.PathLike[str] | None = None,
        skip_missing: bool = True,
    ) -> None:
        self.reader = _StackReader(stack_dir, labels_dir, acquisitions, skip_missing)
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


__all__ = ["ABLATION_PEAK", "StackPatches", "StackTiles", "TileSample", "select_acquisitions"]

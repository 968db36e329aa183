"""Training on several stacks (scenes: other years or regions) at once.

One simulated or real scene has one set of surface levels; a model trained on one learns its absolute
dB levels. Training across scenes needs:

* :class:`ScenePatches`: one :class:`~glaciermap.training.dataset.StackPatches` per stack; sample ``i``
  of epoch ``e`` draws, from ``(seed, e, i)`` only, a stack uniformly and then a patch of it as
  :class:`~glaciermap.training.dataset.StackPatches` does (with one stack, exactly its samples).
* :class:`SceneTiles`: the val tiles of every stack as one list, so their confusion counts pool.
* :func:`pool_normalisation`: per-channel statistics of all stacks together (pixel-count weighted),
  for inputs normalised alike whatever the stack ("global" normalisation); or each stack normalised
  with its own statistics ("per-stack").
* :func:`check_stacks`: every stack must have the same channels and give the same number of dates.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from glaciermap.errors import InputError
from glaciermap.stack_format import ChannelNorm, StackMeta
from glaciermap.training.augment import Compose, Transform, scene_augment
from glaciermap.training.dataset import StackPatches, StackTiles, TileSample

log = logging.getLogger(__name__)

StackPath = str | os.PathLike[str]
Statistics = tuple[Sequence[float], Sequence[float]]


def stack_list(stacks: StackPath | Sequence[StackPath]) -> list[Path]:
    """The stack folders as a list (one path, or several), the same folder given twice kept once.

    Raises:
        InputError: no stack at all.
    """
    items = [stacks] if isinstance(stacks, str | os.PathLike) else list(stacks)
    seen: dict[Path, Path] = {}
    for item in items:
        path = Path(item)
        key = path.resolve()
        if key in seen:
            log.warning("the stack %s is given twice; it is used once", path)
            continue
        seen[key] = path
    if not seen:
        raise InputError("no stack given", "pass --stack DIR (repeatable) or --stacks FILE")
    return list(seen.values())


def check_stacks(
    names: Sequence[str | os.PathLike[str]],
    channels: Sequence[Sequence[str]],
    n_times: Sequence[int] | None = None,
) -> None:
    """Raise :class:`InputError` naming the first stack whose channels (or ``T``) differ from the
    first stack's."""
    for name, chans in zip(names, channels, strict=True):
        if list(chans) != list(channels[0]):
            raise InputError(
                f"the stack in {name} has channels [{', '.join(chans)}], the stack in {names[0]} "
                f"[{', '.join(channels[0])}]",
                "train on stacks with the same channels",
            )
    if n_times is None:
        return
    for name, t in zip(names, n_times, strict=True):
        if t != n_times[0]:
            raise InputError(
                f"the stack in {name} gives T={t} acquisitions, the stack in {names[0]} "
                f"T={n_times[0]}",
                "give stacks with at least --acquisitions dates each, or lower --acquisitions",
            )


def pool_normalisation(metas: Sequence[StackMeta]) -> dict[str, Any]:
    """Per-channel mean and std of all the stacks' pixels together, in ``stack.json``'s form.

    Each stack's ``(mean, std, count)`` is combined exactly (law of total variance), weighted by its
    pixel count; when a stack has no count (0), the stacks weigh equally (``count`` 0 then). One stack
    gives its own statistics unchanged. Pooling several stacks adds ``stacks`` (how many) and
    ``weighting`` (``"pixels"`` or ``"equal"``).

    Raises:
        InputError: a stack lacks usable statistics for a channel.
    """
    first = metas[0]
    for meta in metas:
        meta.statistics(first.channels)  # usable statistics for every channel, or an InputError
    if len(metas) == 1:
        return first.normalisation_json()
    tiles = {m.normalisation_tiles for m in metas}
    doc: dict[str, Any] = {"tiles": tiles.pop() if len(tiles) == 1 else "mixed"}
    weighted = True
    for channel in first.channels:
        norms = [m.normalisation[channel] for m in metas]
        pooled, by_pixels = _pool(norms)
        weighted = weighted and by_pixels
        doc[channel] = {"mean": pooled.mean, "std": pooled.std, "count": pooled.count}
    doc["stacks"] = len(metas)
    doc["weighting"] = "pixels" if weighted else "equal"
    return doc


def _pool(norms: Sequence[ChannelNorm]) -> tuple[ChannelNorm, bool]:
    by_pixels = all(n.count > 0 for n in norms)
    weights = [float(n.count) if by_pixels else 1.0 for n in norms]
    total = sum(weights)
    mean = sum(w * n.mean for w, n in zip(weights, norms, strict=True)) / total
    var = (
        sum(w * (n.std**2 + (n.mean - mean) ** 2) for w, n in zip(weights, norms, strict=True))
        / total
    )
    count = sum(n.count for n in norms) if by_pixels else 0
    return ChannelNorm(mean, math.sqrt(var), count), by_pixels


def normalisation_statistics(doc: Any, channels: Sequence[str]) -> tuple[list[float], list[float]]:
    """``(means, stds)`` in ``channels`` order from statistics in ``stack.json``'s form."""
    return [float(doc[c]["mean"]) for c in channels], [float(doc[c]["std"]) for c in channels]


def _chain(transforms: Sequence[Transform]) -> Transform | None:
    if not transforms:
        return None
    if len(transforms) == 1:
        return transforms[0]
    return Compose(list(transforms), p=1.0)


class ScenePatches(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Random patches from the ``split`` tiles of several stacks.

    Sample ``i`` of epoch ``e`` draws from ``numpy.random.default_rng([seed, e, i])``: first the stack
    (uniformly, so every scene weighs alike whatever its number of tiles; no draw with one stack, so
    one stack gives :class:`StackPatches`'s samples), then the patch as :class:`StackPatches` does,
    then the augmentations. Each stack selects its own dates around the ablation peak (dates may differ
    by year); all must have the same channels and give the same ``T``.

    Args:
        stack_dirs: the stack folders.
        split, patch, samples_per_epoch, acquisitions, seed: as for :class:`StackPatches`.
        augment: a transform applied to every sample (see :mod:`.augment`), or None.
        scene_augment: apply :func:`~glaciermap.training.augment.scene_augment` first, in the units of
            each stack's normalisation.
        statistics: ``(means, stds)`` to normalise every stack with (global normalisation); None
            normalises each stack with its own ``stack.json`` statistics (per-stack).

    Raises:
        InputError: a stack without labels or tiles of the split, or stacks that disagree on channels
            or ``T``.
    """

    def __init__(
        self,
        stack_dirs: StackPath | Sequence[StackPath],
        split: str | None = "train",
        patch: int = 384,
        samples_per_epoch: int = 1000,
        acquisitions: int | Sequence[int] = 15,
        augment: Transform | None = None,
        *,
        scene_augment: bool = False,
        seed: int = 0,
        statistics: Statistics | None = None,
    ) -> None:
        self.stack_dirs = stack_list(stack_dirs)
        metas = [StackMeta.read(d) for d in self.stack_dirs]
        check_stacks(self.stack_dirs, [m.channels for m in metas])
        self.parts = [
            StackPatches(
                d,
                split=split,
                patch=patch,
                samples_per_epoch=samples_per_epoch,
                acquisitions=acquisitions,
                seed=seed,
                statistics=statistics,
            )
            for d in self.stack_dirs
        ]
        check_stacks(
            self.stack_dirs, [p.channels for p in self.parts], [len(p.dates) for p in self.parts]
        )
        for part in self.parts:
            scene = (
                [scene_augment_for(part.channels, part.reader.mean, part.reader.std)]
                if scene_augment
                else []
            )
            part.augment = _chain([*scene, *([augment] if augment is not None else [])])
        self.split = split
        self.samples_per_epoch = int(samples_per_epoch)
        self.seed = int(seed)
        self.epoch = 0

    @property
    def channels(self) -> list[str]:
        return self.parts[0].channels

    @property
    def n_times(self) -> int:
        """``T``, the same for every stack."""
        return len(self.parts[0].dates)

    @property
    def dates(self) -> list[dt.date]:
        """The first stack's selected dates (each stack has its own: ``parts[k].dates``)."""
        return self.parts[0].dates

    @property
    def metas(self) -> list[StackMeta]:
        return [p.reader.meta for p in self.parts]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
        for part in self.parts:
            part.set_epoch(epoch)

    def __len__(self) -> int:
        return self.samples_per_epoch

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def _pick(self, rng: np.random.Generator) -> int:
        return 0 if len(self.parts) == 1 else int(rng.integers(len(self.parts)))

    def stack_of(self, index: int) -> int:
        """Which stack (index into ``stack_dirs``) sample ``index`` of this epoch comes from."""
        return self._pick(self._rng(index))

    def sample(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Sample ``index`` of the current epoch as numpy arrays."""
        if not 0 <= index < self.samples_per_epoch:
            raise IndexError(index)
        rng = self._rng(index)
        return self.parts[self._pick(rng)].draw(index, rng)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        x, label = self.sample(index)
        return torch.from_numpy(x), torch.from_numpy(label)

    def close(self) -> None:
        for part in self.parts:
            part.reader.close()


def scene_augment_for(channels: Sequence[str], mean: np.ndarray, std: np.ndarray) -> Transform:
    """:func:`~glaciermap.training.augment.scene_augment` in the units of one normalisation."""
    return scene_augment(channels, [float(v) for v in mean], [float(v) for v in std])


class SceneTiles(Dataset[TileSample]):
    """The whole tiles of one split of several stacks, as one list (stack by stack, in order).

    ``acquisitions`` and ``statistics`` are given per stack (each stack's selected slots; ``None``
    statistics: the stack's own). Stacks without a tile of the split are left out (listed in
    ``missing``); ``len`` is 0 when none has one.
    """

    def __init__(
        self,
        stack_dirs: Sequence[StackPath],
        split: str | None,
        acquisitions: Sequence[int | Sequence[int]],
        statistics: Sequence[Statistics | None],
    ) -> None:
        self.parts: list[StackTiles] = []
        self.missing: list[Path] = []
        self._index: list[tuple[int, int]] = []
        for stack, acq, stats in zip(stack_dirs, acquisitions, statistics, strict=True):
            meta = StackMeta.read(stack)
            if not meta.tiles_of(split):
                self.missing.append(Path(stack))
                continue
            part = StackTiles(stack, split=split, acquisitions=acq, statistics=stats)
            self._index += [(len(self.parts), i) for i in range(len(part))]
            self.parts.append(part)

    def __len__(self) -> int:
        return len(self._index)

    def __getitem__(self, index: int) -> TileSample:
        part, i = self._index[index]
        return self.parts[part][i]

    def close(self) -> None:
        for part in self.parts:
            part.reader.close()


__all__ = [
    "ScenePatches",
    "SceneTiles",
    "check_stacks",
    "normalisation_statistics",
    "pool_normalisation",
    "scene_augment_for",
    "stack_list",
]

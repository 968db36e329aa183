"""On-the-fly augmentations of one training sample, seeded by a numpy Generator.

Every transform is a callable ``(x, label, rng) -> (x, label)`` on numpy arrays: ``x`` ``(T, C, H, W)``
float32, normalised, with NaN where there is no data (the dataset fills NaN with 0, the normalised mean,
*after* augmenting, so nodata stays nodata through every transform); ``label`` ``(H, W)`` uint8 with
1/0/255. Geometric transforms move the label with the input (nearest neighbour, so 255 stays 255);
radiometric ones touch the input only. The same generator state gives the same output.

:func:`default_augment` is the set used for training; :class:`Compose` applies each transform with
its own probability. :func:`scene_augment` adds scene-level changes that mimic another year or another
scene of the same place (backscatter levels, contrast, per-date offsets, coherence, missing dates,
speckle), in physical units (dB, coherence) converted through the channels' normalisation statistics.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from glaciermap.training.losses import IGNORE_INDEX

Sample = tuple[np.ndarray, np.ndarray]
Transform = Callable[[np.ndarray, np.ndarray, np.random.Generator], Sample]


def _check(x: np.ndarray, label: np.ndarray) -> None:
    if x.ndim != 4 or label.shape != x.shape[-2:]:
        raise ValueError(
            f"expected x (T, C, H, W) and label (H, W), got {x.shape} and {label.shape}"
        )


@dataclass(frozen=True)
class Compose:
    """Apply ``transforms`` in order, each with probability ``p`` (one per transform, or one for all)."""

    transforms: Sequence[Transform]
    p: float | Sequence[float] = 1.0

    def __call__(self, x: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> Sample:
        _check(x, label)
        probs = [self.p] * len(self.transforms) if isinstance(self.p, float | int) else self.p
        for transform, prob in zip(self.transforms, probs, strict=True):
            # Draw for every transform, applied or not, so one transform's draws never shift another's.
            if rng.random() < prob:
                x, label = transform(x, label, rng)
        return np.ascontiguousarray(x, dtype=np.float32), np.ascontiguousarray(
            label, dtype=np.uint8
        )


@dataclass(frozen=True)
class RandomFlip:
    """Flip left-right and/or up-down, each with probability 1/2."""

    def __call__(self, x: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> Sample:
        if rng.random() < 0.5:
            x, label = x[..., ::-1], label[:, ::-1]
        if rng.random() < 0.5:
            x, label = x[..., ::-1, :], label[::-1, :]
        return x, label


@dataclass(frozen=True)
class RandomRot90:
    """Rotate by 0, 90, 180 or 270 degrees (square patches keep their shape)."""

    def __call__(self, x: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> Sample:
        k = int(rng.integers(4))
        return np.rot90(x, k, axes=(-2, -1)), np.rot90(label, k, axes=(0, 1))


def _resize(x: np.ndarray, label: np.ndarray, size: tuple[int, int]) -> Sample:
    """Bilinear for x (NaN-aware: nodata where the nearest source pixel is nodata), nearest for label.

    Both sample at pixel centres (``align_corners=False``, ``nearest-exact``), so they stay aligned.
    """
    import torch
    import torch.nn.functional as nnf

    t, c, h, w = x.shape
    data = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).reshape(1, t * c, h, w)
    valid = torch.isfinite(data).to(torch.float32)
    filled = torch.nan_to_num(data, nan=0.0)
    num = nnf.interpolate(filled * valid, size=size, mode="bilinear", align_corners=False)
    den = nnf.interpolate(valid, size=size, mode="bilinear", align_corners=False)
    near = nnf.interpolate(valid, size=size, mode="nearest-exact") > 0.5
    out = torch.where(near & (den > 0), num / den.clamp(min=1e-6), torch.full_like(num, np.nan))
    lab = torch.from_numpy(np.ascontiguousarray(label)).reshape(1, 1, h, w).to(torch.float32)
    lab = nnf.interpolate(lab, size=size, mode="nearest-exact").to(torch.uint8)
    return out.reshape(t, c, *size).numpy(), lab.reshape(*size).numpy()


@dataclass(frozen=True)
class RandomResizedCrop:
    """Crop a random square of ``scale`` (fraction of the side) and rescale it back to the full size.

    Zooms in by up to ``1 / scale[0]`` (an area ``scale[0]**2`` of the patch).
    """

    scale: tuple[float, float] = (0.6, 1.0)

    def __call__(self, x: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> Sample:
        h, w = label.shape
        s = float(rng.uniform(*self.scale))
        ch, cw = max(1, round(h * s)), max(1, round(w * s))
        top = int(rng.integers(h - ch + 1))
        left = int(rng.integers(w - cw + 1))
        if (ch, cw) == (h, w):
            return x, label
        return _resize(
            x[..., top : top + ch, left : left + cw],
            label[top : top + ch, left : left + cw],
            (h, w),
        )


@dataclass(frozen=True)
class RandomContrast:
    """Per-channel ``x * a + b`` with ``a`` in ``scale`` and ``b`` in ``shift`` (same for all dates)."""

    scale: tuple[float, float] = (0.9, 1.1)
    shift: tuple[float, float] = (-0.1, 0.1)

    def __call__(self, x: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> Sample:
        c = x.shape[1]
        a = np.asarray(rng.uniform(*self.scale, size=c), dtype=np.float32)
        b = np.asarray(rng.uniform(*self.shift, size=c), dtype=np.float32)
        return x * a[None, :, None, None] + b[None, :, None, None], label


@dataclass(frozen=True)
class GaussianNoise:
    """Add N(0, sigma) noise, sigma drawn in ``sigma`` (in normalised units); NaN stays NaN."""

    sigma: tuple[float, float] = (0.0, 0.1)

    def __call__(self, x: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> Sample:
        sigma = float(rng.uniform(*self.sigma))
        noise = rng.standard_normal(size=x.shape, dtype=np.float32) * np.float32(sigma)
        return x + noise, label


@dataclass(frozen=True)
class RectangularDropout:
    """Blank up to ``max_boxes`` rectangles of sides up to ``max_size`` (fraction of the patch side).

    The rectangles become nodata (NaN, which the dataset turns into 0, the normalised mean), in every
    acquisition, or with ``per_acquisition`` in one random acquisition each (a missing scene). The label
    is kept, so the model learns to fill gaps from context; ``ignore_label`` sets it to 255 instead.
    """

    max_boxes: int = 3
    max_size: float = 0.25
    per_acquisition: bool = False
    ignore_label: bool = False

    def __call__(self, x: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> Sample:
        x = np.array(x, dtype=np.float32, copy=True)
        label = np.array(label, copy=True)
        t, _, h, w = x.shape
        for _ in range(int(rng.integers(1, self.max_boxes + 1))):
            bh = int(rng.integers(1, max(2, round(h * self.max_size) + 1)))
            bw = int(rng.integers(1, max(2, round(w * self.max_size) + 1)))
            top = int(rng.integers(h - bh + 1))
            left = int(rng.integers(w - bw + 1))
            times = slice(None) if not self.per_acquisition else int(rng.integers(t))
            x[times, :, top : top + bh, left : left + bw] = np.nan
            if self.ignore_label and not self.per_acquisition:
                label[top : top + bh, left : left + bw] = IGNORE_INDEX
        return x, label


def default_augment() -> Compose:
    """Flips and rotations always; crop-and-rescale, contrast, noise and dropout half the time."""
    return Compose(
        [
            RandomFlip(),
            RandomRot90(),
            RandomResizedCrop(),
            RandomContrast(),
            GaussianNoise(),
            RectangularDropout(),
        ],
        p=[1.0, 1.0, 0.5, 0.5, 0.5, 0.5],
    )


# ----------------------------------------------------------------------------------------------------
# Scene-level augmentations: what changes from one year (or scene) of a place to another.
#
# They work on normalised samples ((v - mean) / std per channel), so a change of d physical units of
# channel c is d / std[c] normalised units. Each acts on whole channels of the whole patch (one draw per
# sample, or per date), never on the label. NaN (no data) stays NaN.


def _as_floats(values: Sequence[float]) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


@dataclass(frozen=True)
class SceneOffset:
    """Add one dB offset per dB channel to every date and pixel: ``x[:, c] += d / std[c]``.

    ``d`` is drawn uniformly in ``db`` for each of ``channels`` (indices into C) independently;
    ``stds`` are those channels' normalisation std in dB.
    """

    channels: tuple[int, ...]
    stds: tuple[float, ...]
    db: tuple[float, float] = (-3.0, 3.0)

    def __call__(self, x: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> Sample:
        x = np.array(x, dtype=np.float32, copy=True)
        for c, std in zip(self.channels, self.stds, strict=True):
            x[:, c] += np.float32(rng.uniform(*self.db) / std)
        return x, label


@dataclass(frozen=True)
class SceneGain:
    """Scale each of ``channels`` by ``g`` in ``gain`` around the sample's mean of that channel.

    ``x' = m + g (x - m)``, ``m`` the mean over the observed dates and pixels of the channel, so the
    level is kept (the offset is :class:`SceneOffset`'s job) and only the contrast changes, as it does in
    dB between glacier zones and land when melt, snow cover or roughness differ. The same in
    normalised and physical units (an affine change).
    """

    channels: tuple[int, ...]
    gain: tuple[float, float] = (0.8, 1.2)

    def __call__(self, x: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> Sample:
        x = np.array(x, dtype=np.float32, copy=True)
        for c in self.channels:
            g = np.float32(rng.uniform(*self.gain))
            values = x[:, c]
            finite = np.isfinite(values)
            if not finite.any():
                continue
            m = np.float32(values[finite].mean())
            x[:, c] = m + g * (values - m)
        return x, label


@dataclass(frozen=True)
class DateOffset:
    """Add one dB offset per date and dB channel: ``x[t, c] += d[t] / std[c]``, ``d`` uniform in
    ``db``."""

    channels: tuple[int, ...]
    stds: tuple[float, ...]
    db: tuple[float, float] = (-1.0, 1.0)

    def __call__(self, x: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> Sample:
        x = np.array(x, dtype=np.float32, copy=True)
        t = x.shape[0]
        for c, std in zip(self.channels, self.stds, strict=True):
            d = np.asarray(rng.uniform(*self.db, size=t), dtype=np.float32) / np.float32(std)
            x[:, c] += d[:, None, None]
        return x, label


@dataclass(frozen=True)
class CoherenceScale:
    """Multiply coherence by ``k`` in ``factor`` in physical units, clipped to [0, 1].

    ``x' = (clip((x * std + mean) * k, 0, 1) - mean) / std`` for each of ``channels`` (coherence
    channels), one ``k`` per channel for the whole sample.
    """

    channels: tuple[int, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]
    factor: tuple[float, float] = (0.7, 1.3)

    def __call__(self, x: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> Sample:
        x = np.array(x, dtype=np.float32, copy=True)
        for c, mean, std in zip(self.channels, self.means, self.stds, strict=True):
            k = float(rng.uniform(*self.factor))
            physical = np.clip((x[:, c] * std + mean) * k, 0.0, 1.0)
            x[:, c] = ((physical - mean) / std).astype(np.float32)
        return x, label


@dataclass(frozen=True)
class DropDates:
    """Blank 1 to ``floor(T * max_fraction)`` random dates: every channel and pixel becomes NaN, as a
    slot without any acquisition reads (the dataset turns it into 0, the normalised mean, as it does
    for the stack's missing slots). Samples of fewer than ``min_dates`` dates are left alone. The label
    is kept: the other dates still show the glacier.
    """

    max_fraction: float = 1.0 / 3.0
    min_dates: int = 3

    def __call__(self, x: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> Sample:
        t = x.shape[0]
        most = int(t * self.max_fraction)
        if t < self.min_dates or most < 1:
            return x, label
        n = int(rng.integers(1, most + 1))
        dates = rng.choice(t, size=n, replace=False)
        x = np.array(x, dtype=np.float32, copy=True)
        x[dates] = np.nan
        return x, label


@dataclass(frozen=True)
class Speckle:
    """Multiplicative speckle in linear power for each of ``channels`` (dB channels).

    Power is multiplied by ``G ~ Gamma(L, 1/L)`` (mean 1, an ``L``-look intensity), i.e.
    ``10 log10 G`` dB is added, whose std is about ``4.34 / sqrt(L)`` dB; ``L`` is drawn log-uniformly
    in ``looks`` per sample (the default 8 to 200 looks: about 1.5 to 0.3 dB), independently per date
    and pixel, and divided by the channel's ``std`` into normalised units.
    """

    channels: tuple[int, ...]
    stds: tuple[float, ...]
    looks: tuple[float, float] = (8.0, 200.0)

    def __call__(self, x: np.ndarray, label: np.ndarray, rng: np.random.Generator) -> Sample:
        x = np.array(x, dtype=np.float32, copy=True)
        lo, hi = math.log(self.looks[0]), math.log(self.looks[1])
        looks = math.exp(float(rng.uniform(lo, hi)))
        shape = (x.shape[0], *x.shape[2:])
        for c, std in zip(self.channels, self.stds, strict=True):
            g = rng.gamma(looks, 1.0 / looks, size=shape)
            x[:, c] += (10.0 * np.log10(np.maximum(g, 1e-12)) / std).astype(np.float32)
        return x, label


def is_db_channel(name: str) -> bool:
    """Whether a channel holds backscatter in dB (``copol_db``, ``crosspol_db``, ...)."""
    return name.endswith("_db")


def is_coherence_channel(name: str) -> bool:
    return name.startswith("coherence")


SCENE_PROBABILITIES = (0.8, 0.5, 0.5, 0.5, 0.3, 0.3)
"""How often :func:`scene_augment` applies each of its transforms, in its order."""


def scene_augment(
    channels: Sequence[str], means: Sequence[float], stds: Sequence[float]
) -> Compose:
    """Scene-level changes that mimic another year of the same place, for one sample at a time.

    ``channels`` are the sample's channel names (``copol_db``, ``coherence``, see
    :data:`glaciermap.stack_format.CHANNELS`); ``means`` and ``stds`` the statistics it was normalised
    with (per channel, physical units), which turn the ranges below into normalised units. Applied in
    this order, each with its probability:

    * :class:`SceneOffset` (p 0.8), +-3 dB on every date: from year to year the whole scene's level
      moves with the state of the snow and firn at the acquisitions (wet snow drops backscatter by
      3 dB and more, refrozen or dry snow raises it), with melt timing relative to the fixed dates,
      and with calibration and processing (terrain flattening, reference DEM) of different years.
    * :class:`SceneGain` (p 0.5), contrast x0.8-1.2 around the sample's mean: how far glacier zones
      (wet snow, firn, bare ice) and land differ depends on how far melt has gone, on snow cover of the
      land and on surface roughness.
    * :class:`DateOffset` (p 0.5), +-1 dB per date: weather of one acquisition (rain, wind roughening a
      wet snow surface, overnight refreeze) and Sentinel-1's absolute calibration (about 1 dB).
    * :class:`CoherenceScale` (p 0.5), x0.7-1.3 in coherence units, clipped to [0, 1]: wind, snowfall
      and melt between the two dates of a 12-day pair decorrelate whole scenes more or less from one
      year to another.
    * :class:`DropDates` (p 0.3), 1 to T/3 dates become no data: acquisitions missing in other years
      (Sentinel-1B's end in December 2021, orbits not acquired, failed processing).
    * :class:`Speckle` (p 0.3), extra multiplicative speckle of 8-200 looks (0.3-1.5 dB): other
      multi-looking, resolution or processing, and fewer independent looks over small glaciers.

    Channels neither dB (``*_db``) nor coherence are left alone by the radiometric transforms.
    """
    names = list(channels)
    mean = _as_floats(means)
    std = _as_floats(stds)
    if not (len(names) == len(mean) == len(std)):
        raise ValueError(f"{len(names)} channels but {len(mean)} means and {len(std)} stds")
    db = tuple(i for i, n in enumerate(names) if is_db_channel(n))
    coh = tuple(i for i, n in enumerate(names) if is_coherence_channel(n))
    return Compose(
        [
            SceneOffset(db, tuple(std[i] for i in db)),
            SceneGain(db),
            DateOffset(db, tuple(std[i] for i in db)),
            CoherenceScale(coh, tuple(mean[i] for i in coh), tuple(std[i] for i in coh)),
            DropDates(),
            Speckle(db, tuple(std[i] for i in db)),
        ],
        p=list(SCENE_PROBABILITIES),
    )

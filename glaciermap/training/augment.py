"""On-the-fly augmentations of one training sample, seeded by a numpy Generator.

Every transform is a callable ``(x, label, rng) -> (x, label)`` on numpy arrays: ``x`` ``(T, C, H, W)``
float32, normalised, with NaN where there is no data (the dataset fills NaN with 0, the normalised mean,
*after* augmenting, so nodata stays nodata through every transform); ``label`` ``(H, W)`` uint8 with
1/0/255. Geometric transforms move the label with the input (nearest neighbour, so 255 stays 255);
radiometric ones touch the input only. The same generator state gives the same output.

:func:`default_augment` is the set used for training; :class:`Compose` applies each transform with
its own probability.
"""

from __future__ import annotations

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

"""Confusion counts of the glacier class, accumulated over batches, tiles or processes.

Works on torch tensors and numpy arrays alike. Labels ``(..., H, W)``: 1 glacier, 0 not glacier, 255
ignored. Scores: logits (``logits=True``), probabilities, or boolean/integer masks, shaped like the
labels or with a singleton channel axis (``(B, 1, H, W)`` against ``(B, H, W)``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from glaciermap.training.losses import IGNORE_INDEX


def _to_numpy(array: Any) -> np.ndarray:
    if hasattr(array, "detach"):  # a torch tensor, on any device (bfloat16 has no numpy type)
        array = array.detach().cpu()
        return np.asarray((array.float() if array.is_floating_point() else array).numpy())
    return np.asarray(array)


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan


@dataclass
class ConfusionCounts:
    """tp, fp, fn, tn of the glacier class (Python ints, summed as int64); 255 labels are skipped.

    Ratios whose denominator is 0 are NaN (e.g. IoU over pixels holding no glacier and none predicted).
    """

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0

    def update(
        self,
        scores: Any,
        labels: Any,
        threshold: float = 0.5,
        *,
        logits: bool = False,
        ignore_index: int = IGNORE_INDEX,
    ) -> ConfusionCounts:
        """Add one batch; returns self.

        Args:
            scores: probabilities (or logits with ``logits=True``), or a bool/integer mask.
            labels: uint8/long labels.
            threshold: a pixel is glacier when its probability is > threshold (for logits, when the
                logit is > logit(threshold)); bool and integer masks are used as they are.
            logits: whether float scores are logits.
            ignore_index: label value skipped.
        """
        if hasattr(scores, "detach") and hasattr(labels, "detach"):
            self._update_torch(scores, labels, threshold, logits, ignore_index)
            return self
        s = _to_numpy(scores)
        y = _to_numpy(labels)
        if s.ndim == y.ndim + 1 and s.shape[-3] == 1:
            s = s.squeeze(-3)
        if s.shape != y.shape:
            raise ValueError(f"scores {s.shape} do not match labels {y.shape}")
        if s.dtype == np.bool_ or np.issubdtype(s.dtype, np.integer):
            pred = s.astype(bool)
        else:
            cut = math.log(threshold / (1 - threshold)) if logits else threshold
            pred = s > cut
        valid = y != ignore_index
        truth = y == 1
        self.tp += int(np.count_nonzero(pred & truth & valid))
        self.fp += int(np.count_nonzero(pred & ~truth & valid))
        self.fn += int(np.count_nonzero(~pred & truth & valid))
        self.tn += int(np.count_nonzero(~pred & ~truth & valid))
        return self

    def _update_torch(
        self, scores: Any, labels: Any, threshold: float, logits: bool, ignore_index: int
    ) -> None:
        import torch

        s = scores.detach()
        y = labels.detach().to(s.device)
        if s.dim() == y.dim() + 1 and s.shape[-3] == 1:
            s = s.squeeze(-3)
        if s.shape != y.shape:
            raise ValueError(f"scores {tuple(s.shape)} do not match labels {tuple(y.shape)}")
        if s.is_floating_point():
            cut = math.log(threshold / (1 - threshold)) if logits else threshold
            pred = s > cut
        else:
            pred = s.bool()
        valid = y != ignore_index
        truth = y == 1
        counts = torch.stack(
            [
                (pred & truth & valid).sum(dtype=torch.int64),
                (pred & ~truth & valid).sum(dtype=torch.int64),
                (~pred & truth & valid).sum(dtype=torch.int64),
                (~pred & ~truth & valid).sum(dtype=torch.int64),
            ]
        ).tolist()
        self.tp += counts[0]
        self.fp += counts[1]
        self.fn += counts[2]
        self.tn += counts[3]

    def merge(self, other: ConfusionCounts) -> ConfusionCounts:
        """Add another accumulator's counts into this one; returns self."""
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.tn += other.tn
        return self

    def __add__(self, other: ConfusionCounts) -> ConfusionCounts:
        return ConfusionCounts(
            self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, self.tn + other.tn
        )

    def reset(self) -> None:
        self.tp = self.fp = self.fn = self.tn = 0

    def as_tensor(self, device: Any = None) -> Any:
        """``int64`` tensor ``[tp, fp, fn, tn]``, e.g. for ``torch.distributed.all_reduce``."""
        import torch

        return torch.tensor([self.tp, self.fp, self.fn, self.tn], dtype=torch.int64, device=device)

    @classmethod
    def from_tensor(cls, tensor: Any) -> ConfusionCounts:
        tp, fp, fn, tn = (int(v) for v in tensor.tolist())
        return cls(tp, fp, fn, tn)

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    @property
    def precision(self) -> float:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def f1(self) -> float:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    @property
    def iou(self) -> float:
        return _ratio(self.tp, self.tp + self.fp + self.fn)

    @property
    def accuracy(self) -> float:
        return _ratio(self.tp + self.tn, self.total)

    def as_dict(self) -> dict[str, float]:
        """Counts and ratios, e.g. for a metrics.csv row."""
        return {
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "iou": self.iou,
            "accuracy": self.accuracy,
        }


@dataclass
class ReliabilityBins:
    """How well glacier probabilities match glacier frequencies: pixels binned by P(glacier).

    ``n_bins`` equal-width bins over [0, 1]; per bin the pixel count, the sum of probabilities and
    the number of glacier pixels (labels 255 skipped). The expected calibration error is
    ``sum_b n_b / N * |frequency_b - mean probability_b|`` over the glacier class's probability
    (for a binary map this is the reliability diagram of ``probability.tif`` itself).
    """

    n_bins: int = 15
    count: np.ndarray = field(init=False)  # (n_bins,) int64 pixels
    prob_sum: np.ndarray = field(init=False)  # (n_bins,) float64 sum of probabilities
    positives: np.ndarray = field(init=False)  # (n_bins,) int64 glacier pixels

    def __post_init__(self) -> None:
        self.count = np.zeros(self.n_bins, np.int64)
        self.prob_sum = np.zeros(self.n_bins, np.float64)
        self.positives = np.zeros(self.n_bins, np.int64)

    def update(
        self, probabilities: Any, labels: Any, *, ignore_index: int = IGNORE_INDEX
    ) -> ReliabilityBins:
        """Add pixels: ``probabilities`` in [0, 1] shaped like ``labels``; returns self."""
        prob = _to_numpy(probabilities).astype(np.float64, copy=False).reshape(-1)
        label = _to_numpy(labels).reshape(-1)
        keep = (label != ignore_index) & np.isfinite(prob)
        prob, label = prob[keep], label[keep]
        index = np.minimum((prob * self.n_bins).astype(np.int64), self.n_bins - 1)
        self.count += np.bincount(index, minlength=self.n_bins)
        self.prob_sum += np.bincount(index, weights=prob, minlength=self.n_bins)
        self.positives += np.bincount(index, weights=(label == 1), minlength=self.n_bins).astype(
            np.int64
        )
        return self

    def merge(self, other: ReliabilityBins) -> ReliabilityBins:
        """Add another accumulator's bins (same ``n_bins``) into this one; returns self."""
        self.count += other.count
        self.prob_sum += other.prob_sum
        self.positives += other.positives
        return self

    def table(self) -> list[dict[str, float]]:
        """Per bin: ``low``, ``high``, ``count``, ``mean_probability``, ``frequency`` (NaN if empty)."""
        rows = []
        for b in range(self.n_bins):
            n = int(self.count[b])
            rows.append(
                {
                    "low": b / self.n_bins,
                    "high": (b + 1) / self.n_bins,
                    "count": n,
                    "mean_probability": self.prob_sum[b] / n if n else math.nan,
                    "frequency": self.positives[b] / n if n else math.nan,
                }
            )
        return rows

    @property
    def ece(self) -> float:
        """Expected calibration error (NaN without pixels)."""
        total = int(self.count.sum())
        if not total:
            return math.nan
        filled = self.count > 0
        gap = np.abs(self.positives[filled] - self.prob_sum[filled])  # n_b * |freq_b - conf_b|
        return float(gap.sum() / total)

"""Calibrated glacier probability: one temperature fitted on validation tiles, stored in the card.

A network trained with focal loss and label smoothing is sure of itself in the wrong places: its
sigmoid is not a frequency. Temperature scaling (Guo et al. 2017) divides the logits by one scalar
``T > 0`` fitted by minimising the binary cross-entropy on pixels the model never trained on (the
validation tiles of one or several scenes). ``T`` keeps the sign of every logit, so the mask, and
every IoU, stay the same; only ``probability.tif`` changes, and then means what it says.

:func:`fit_temperature` works on a sample of pixels (:func:`sample_pixels`), so memory stays small
however many tiles there are; predict and evaluate read ``T`` from the card
(:attr:`glaciermap.models.card.ModelCard.temperature`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as nnf
from torch import nn

from glaciermap.errors import InputError
from glaciermap.training.dataset import StackTiles
from glaciermap.training.evaluate import labelled_tiles, predict_tile, stack_identity
from glaciermap.training.losses import IGNORE_INDEX
from glaciermap.training.metrics import ReliabilityBins

MAX_PIXELS = 2_000_000
"""Pixels kept for the fit (a uniform sample of the labelled pixels; plenty for one scalar)."""


def sample_pixels(
    model: nn.Module,
    tiles: Sequence[StackTiles],
    *,
    device: torch.device | str = "cpu",
    max_pixels: int = MAX_PIXELS,
    seed: int = 0,
    progress: Callable[[int, int, str], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels ``(N,)`` of labelled pixels of every tile (a seeded sample when there are
    more than ``max_pixels``: each tile keeps the same share)."""
    model.eval()
    total = sum(len(t) for t in tiles)
    logits: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    done = 0
    for dataset in tiles:
        for i in range(len(dataset)):
            sample = dataset[i]
            out = predict_tile(model, sample.x, device).numpy().reshape(-1)
            label = np.asarray(sample.label).reshape(-1)
            keep = label != IGNORE_INDEX
            logits.append(out[keep].astype(np.float32))
            labels.append(label[keep].astype(np.uint8))
            done += 1
            if progress is not None:
                progress(done, total, sample.tile_id)
    all_logits = np.concatenate(logits) if logits else np.zeros(0, np.float32)
    all_labels = np.concatenate(labels) if labels else np.zeros(0, np.uint8)
    if len(all_logits) > max_pixels:
        pick = np.random.default_rng(seed).choice(len(all_logits), max_pixels, replace=False)
        all_logits, all_labels = all_logits[pick], all_labels[pick]
    return all_logits, all_labels


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The ``T`` minimising the binary cross-entropy of ``sigmoid(logits / T)`` against ``labels``.

    Args:
        logits: ``(N,)`` glacier logits. labels: ``(N,)`` 0/1.

    Returns:
        ``T`` in [0.05, 20] (1.0 without pixels, or when they hold a single class).
    """
    y = np.asarray(labels).reshape(-1)
    if len(y) == 0 or y.min() == y.max():
        return 1.0
    z = torch.from_numpy(np.asarray(logits, dtype=np.float64).reshape(-1))
    target = torch.from_numpy(y.astype(np.float64))
    # The loss is convex in 1/T for fixed logits: a bounded 1-D search on log T is robust and exact
    # enough (golden section to 1e-4 in log space).
    lo, hi = math.log(0.05), math.log(20.0)

    def loss(log_t: float) -> float:
        return float(nnf.binary_cross_entropy_with_logits(z / math.exp(log_t), target))

    ratio = (math.sqrt(5) - 1) / 2
    a, b = lo, hi
    c, d = b - ratio * (b - a), a + ratio * (b - a)
    fc, fd = loss(c), loss(d)
    while b - a > 1e-4:
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - ratio * (b - a)
            fc = loss(c)
        else:
            a, c, fc = c, d, fd
            d = a + ratio * (b - a)
            fd = loss(d)
    return float(math.exp((a + b) / 2))


def reliability(
    logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0, n_bins: int = 15
) -> ReliabilityBins:
    """Reliability bins of ``sigmoid(logits / temperature)``."""
    prob = 1.0 / (1.0 + np.exp(-np.asarray(logits, np.float64) / temperature))
    return ReliabilityBins(n_bins).update(prob, labels)


def calibration_record(
    logits: np.ndarray, labels: np.ndarray, temperature: float, fitted_on: Sequence[Any]
) -> dict[str, Any]:
    """The card's ``calibration`` entry: ``temperature``, ECE before and after, pixels, scenes."""
    return {
        "method": "temperature",
        "temperature": round(float(temperature), 6),
        "ece_before": round(reliability(logits, labels).ece, 6),
        "ece_after": round(reliability(logits, labels, temperature).ece, 6),
        "pixels": len(labels),
        "fitted_on": list(fitted_on),
    }


def calibrate_weights(
    weights: str | os.PathLike[str],
    stacks: Sequence[str | os.PathLike[str]],
    *,
    split: str = "val",
    acquisitions: int | None = None,
    device: str | None = None,
    record: bool = True,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """Fit the temperature of ``weights`` on the ``split`` tiles of ``stacks`` and (with ``record``)
    write it into the weights' card.

    Args:
        weights: ``name`` of tensors + card. stacks: stack folders with labels (scenes the model did
            not train on, or their validation tiles). split: ``val``, ``test``, ``train`` or ``all``.
        acquisitions: dates per sample (default: the card's ``T``).

    Returns:
        The card's new ``calibration`` entry (temperature, ECE before and after, pixels, stacks).

    Raises:
        InputError: the card does not fit a stack, or a stack lacks labels or tiles of the split.
    """
    from glaciermap.models.card import ModelCard
    from glaciermap.models.weights import load_weights

    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model, card = load_weights(weights, device=dev)
    datasets, fitted_on = [], []
    for stack in stacks:
        meta, tiles = labelled_tiles(card, stack, split, acquisitions)
        datasets.append(tiles)
        fitted_on.append({**stack_identity(meta), "split": split, "name": Path(stack).name})
    try:
        logits, labels = sample_pixels(model, datasets, device=dev, progress=progress)
    finally:
        for dataset in datasets:
            dataset.reader.close()
    if len(labels) == 0:
        raise InputError("no labelled pixel to calibrate on", f"give stacks with {split} tiles")
    entry = calibration_record(logits, labels, fit_temperature(logits, labels), fitted_on)
    if record:
        ModelCard.read(weights).with_calibration(entry).write(weights)
    return entry


__all__ = [
    "MAX_PIXELS",
    "calibrate_weights",
    "calibration_record",
    "fit_temperature",
    "reliability",
    "sample_pixels",
]

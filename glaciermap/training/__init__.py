"""Training primitives: losses, metrics, augmentations, stack datasets and the learning-rate schedule.

Torch is imported by the submodules; import them directly (``from glaciermap.training.losses import
FocalLoss``) or through the names below.
"""

from __future__ import annotations

from glaciermap.training.augment import (
    Compose,
    GaussianNoise,
    RandomContrast,
    RandomFlip,
    RandomResizedCrop,
    RandomRot90,
    RectangularDropout,
    default_augment,
)
from glaciermap.training.dataset import StackPatches, StackTiles, TileSample
from glaciermap.training.losses import IGNORE_INDEX, FocalLoss
from glaciermap.training.metrics import ConfusionCounts
from glaciermap.training.schedule import cycle_ends, warm_restart_schedule

__all__ = [
    "IGNORE_INDEX",
    "Compose",
    "ConfusionCounts",
    "FocalLoss",
    "GaussianNoise",
    "RandomContrast",
    "RandomFlip",
    "RandomResizedCrop",
    "RandomRot90",
    "RectangularDropout",
    "StackPatches",
    "StackTiles",
    "TileSample",
    "cycle_ends",
    "default_augment",
    "warm_restart_schedule",
]

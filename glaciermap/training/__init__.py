"""Training primitives: losses, metrics, augmentations, stack datasets (one stack or several) and the
learning-rate schedule.

Torch is imported by the submodules; import them directly (``from glaciermap.training.losses import
FocalLoss``) or through the names below.
"""

from __future__ import annotations

from glaciermap.training.augment import (
    CoherenceScale,
    Compose,
    DateOffset,
    DropDates,
    GaussianNoise,
    RandomContrast,
    RandomFlip,
    RandomResizedCrop,
    RandomRot90,
    RectangularDropout,
    SceneGain,
    SceneOffset,
    Speckle,
    default_augment,
    scene_augment,
)
from glaciermap.training.dataset import StackPatches, StackTiles, TileSample
from glaciermap.training.losses import IGNORE_INDEX, FocalLoss
from glaciermap.training.metrics import ConfusionCounts
from glaciermap.training.scenes import ScenePatches, SceneTiles, pool_normalisation
from glaciermap.training.schedule import cycle_ends, warm_restart_schedule

__all__ = [
    "IGNORE_INDEX",
    "CoherenceScale",
    "Compose",
    "ConfusionCounts",
    "DateOffset",
    "DropDates",
    "FocalLoss",
    "GaussianNoise",
    "RandomContrast",
    "RandomFlip",
    "RandomResizedCrop",
    "RandomRot90",
    "RectangularDropout",
    "SceneGain",
    "SceneOffset",
    "ScenePatches",
    "SceneTiles",
    "Speckle",
    "StackPatches",
    "StackTiles",
    "TileSample",
    "cycle_ends",
    "default_augment",
    "pool_normalisation",
    "scene_augment",
    "warm_restart_schedule",
]

"""Neural networks that map glaciers from Sentinel-1 time series, their registry and weight files.

Every model takes a batch ``(B, T, C, H, W)`` and returns glacier logits ``(B, 1, H, W)``.

The names below are loaded on first use, so ``glaciermap.models.card`` (the model card, read by stages
that never run a network) can be imported without torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "MODELS": "glaciermap.models.registry",
    "create_model": "glaciermap.models.registry",
    "model_summary": "glaciermap.models.registry",
    "ConvLSTMUNet": "glaciermap.models.convlstm_unet",
    "UNet3D": "glaciermap.models.unet3d",
    "ModelCard": "glaciermap.models.card",
    "check_card_against_stack": "glaciermap.models.weights",
    "load_weights": "glaciermap.models.weights",
    "save_weights": "glaciermap.models.weights",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = sorted(_EXPORTS)

"""The table of model architectures by name, and how to build and measure one."""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from glaciermap.errors import InputError
from glaciermap.models.architectures import ARCHITECTURES
from glaciermap.models.convlstm_unet import ConvLSTMUNet
from glaciermap.models.unet3d import UNet3D

MODELS: dict[str, type[nn.Module]] = {"unet3d": UNet3D, "convlstm": ConvLSTMUNet}
if tuple(MODELS) != ARCHITECTURES:  # the CLI offers ARCHITECTURES without importing torch
    raise RuntimeError(f"models.registry {tuple(MODELS)} and models.architectures disagree")


def create_model(name: str, **kwargs: Any) -> nn.Module:
    """Build the architecture registered as ``name`` with its init arguments ``kwargs``."""
    try:
        cls = MODELS[name]
    except KeyError:
        raise InputError(
            f"unknown model architecture {name!r}", f"choose one of: {', '.join(sorted(MODELS))}"
        ) from None
    return cls(**kwargs)


def architecture_name(model: nn.Module) -> str:
    """The registry name of ``model``'s class."""
    for name, cls in MODELS.items():
        if type(model) is cls:
            return name
    raise InputError(
        f"{type(model).__name__} is not a registered architecture",
        f"use one of: {', '.join(sorted(MODELS))}",
    )


def model_summary(model: nn.Module, t: int, c: int, h: int, w: int) -> dict[str, float | int]:
    """Parameters and FLOPs per output pixel of one forward pass on a ``(1, t, c, h, w)`` input.

    FLOPs are those :class:`torch.utils.flop_counter.FlopCounterMode` counts (convolutions and matrix
    products, a multiply-add being 2), divided by ``h * w``. The pass runs on a copy of the model on the
    ``meta`` device, so it costs no arithmetic and no memory even for full-size patches.
    """
    # Imported here: torch.utils.flop_counter pulls in triton (~100 MB resident) for every user of
    # glaciermap.models otherwise, predict included.
    from torch.utils.flop_counter import FlopCounterMode

    parameters = sum(p.numel() for p in model.parameters())
    shadow = copy.deepcopy(model).to("meta").eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        shadow(torch.empty(1, t, c, h, w, device="meta"))
    return {"parameters": parameters, "flops_per_pixel": counter.get_total_flops() / (h * w)}

"""The model architectures by name, without importing torch.

The command line offers these names as choices (``glaciermap --help`` must not import torch);
:mod:`glaciermap.models.registry` maps each to its class and refuses to load if the two disagree.
"""

from __future__ import annotations

from collections.abc import Sequence

from glaciermap.errors import InputError

ARCHITECTURES = ("unet3d", "convlstm")
"""Registry names, the default first."""
DEFAULT_ARCHITECTURE = ARCHITECTURES[0]


def parse_widths(value: str | Sequence[int]) -> list[int]:
    """Channels per U-Net level from ``"16,32,64"`` (or a list of integers, as a config file gives).

    Raises:
        InputError: not a non-empty list of integers >= 2 (the smallest level the blocks accept).
    """
    parts = value.split(",") if isinstance(value, str) else list(value)
    try:
        widths = [int(str(p).strip()) for p in parts if str(p).strip()]
    except ValueError:
        widths = []
    if not widths or min(widths) < 2:
        raise InputError(
            f"--widths {value!r} is not a list of integers >= 2", "give e.g. --widths 16,32,64"
        )
    return widths


__all__ = ["ARCHITECTURES", "DEFAULT_ARCHITECTURE", "parse_widths"]

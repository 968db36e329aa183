"""Where ``--model NAME`` finds its weights: the shipped ones, or a folder the user points to.

Search order for ``NAME.safetensors`` + ``NAME.json``: ``$GLACIERMAP_WEIGHTS`` (a folder), the
workspace's ``weights/``, then the ``weights/`` folder shipped beside the package (a source checkout or
an editable install).
"""

from __future__ import annotations

import os
from pathlib import Path

from glaciermap.errors import InputError

SHIPPED_WEIGHTS = Path(__file__).resolve().parents[2] / "weights"


def weight_folders(workspace_root: Path | None = None) -> list[Path]:
    """The folders searched, in order."""
    folders: list[Path] = []
    env = os.environ.get("GLACIERMAP_WEIGHTS")
    if env:
        folders.append(Path(env).expanduser())
    if workspace_root is not None:
        folders.append(workspace_root / "weights")
    folders.append(SHIPPED_WEIGHTS)
    return folders


def find_weights(name: str, workspace_root: Path | None = None) -> Path:
    """``folder/NAME`` (stem) of the first folder holding both files of ``NAME``."""
    folders = weight_folders(workspace_root)
    for folder in folders:
        if (folder / f"{name}.safetensors").is_file() and (folder / f"{name}.json").is_file():
            return folder / name
    raise InputError(
        f"no weights named {name!r} in {', '.join(str(f) for f in folders)}",
        "pass --weights PATH, set GLACIERMAP_WEIGHTS to a folder of weights, "
        "or use a model shipped in weights/ (unet3d, convlstm)",
    )


__all__ = ["SHIPPED_WEIGHTS", "find_weights", "weight_folders"]

"""Which weights a spec names: ``unet3d``, ``weights/unet3d``, ``runs/r1/best.safetensors``, ...

One resolver for every command that takes weights (``evaluate``, ``predict``). A spec is tried

1. as a path (``NAME``, ``NAME.safetensors`` or ``NAME.json``), relative to the current folder, then to
   the workspace root;
2. as a name in the weight folders, in order: ``$GLACIERMAP_WEIGHTS``, the workspace's ``weights/``,
   the ``weights/`` folder shipped beside the package (a source checkout or an editable install).
   A leading ``weights/`` is dropped for this step, so ``weights/unet3d`` finds the shipped weights
   from any folder.

The first place holding the tensors or the card wins; loading then says which of the two is missing.
This module does not import torch.
"""

from __future__ import annotations

import os
from pathlib import Path

from glaciermap.errors import InputError
from glaciermap.models.card import weight_paths

SHIPPED_WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
_FOLDER = "weights"


def weight_folders(workspace_root: Path | None = None) -> list[Path]:
    """The folders searched for a weights name, in order."""
    folders: list[Path] = []
    env = os.environ.get("GLACIERMAP_WEIGHTS")
    if env:
        folders.append(Path(env).expanduser())
    if workspace_root is not None:
        folders.append(workspace_root / _FOLDER)
    folders.append(SHIPPED_WEIGHTS)
    return folders


def shipped_names() -> list[str]:
    """Names of the weights shipped in ``weights/`` (``unet3d``, ``ablation/unet3d-1acq``, ...)."""
    if not SHIPPED_WEIGHTS.is_dir():
        return []
    return sorted(
        str(p.relative_to(SHIPPED_WEIGHTS).with_suffix(""))
        for p in SHIPPED_WEIGHTS.rglob("*.safetensors")
        if p.with_suffix(".json").is_file()
    )


def _exists(stem: Path) -> bool:
    return any(p.is_file() for p in weight_paths(stem))


def resolve_weights(spec: str | os.PathLike[str], workspace_root: Path | None = None) -> Path:
    """The weights stem (``folder/NAME``, no suffix) that ``spec`` names; see the module docstring.

    Raises:
        InputError: nothing under that name in any of the places tried.
    """
    tensors, _ = weight_paths(Path(spec).expanduser())
    stem = tensors.with_suffix("")
    candidates = [stem]
    if not stem.is_absolute():
        if workspace_root is not None:
            candidates.append(workspace_root / stem)
        parts = stem.parts
        name = Path(*parts[1:]) if len(parts) > 1 and parts[0] == _FOLDER else stem
        candidates += [folder / name for folder in weight_folders(workspace_root)]
    found = next((c for c in candidates if _exists(c)), None)
    if found is not None:
        return found
    places = ", ".join(dict.fromkeys(str(c.parent) for c in candidates))
    shipped = ", ".join(shipped_names()) or "none found"
    raise InputError(
        f"no weights named {str(spec)!r} (looked in {places})",
        "give the path of NAME.safetensors (its NAME.json card beside it), set GLACIERMAP_WEIGHTS "
        f"to a folder of weights, or name shipped weights: {shipped}",
    )


def find_weights(name: str, workspace_root: Path | None = None) -> Path:
    """``folder/NAME`` of the first weight folder holding ``NAME`` (see :func:`resolve_weights`)."""
    return resolve_weights(name, workspace_root)


__all__ = ["SHIPPED_WEIGHTS", "find_weights", "resolve_weights", "shipped_names", "weight_folders"]

"""Model weights on disk: ``<name>.safetensors`` (no pickle) beside its ``<name>.json`` model card.

The card names the architecture and its init arguments, the dates ``n_times`` and ``channels`` the model
was trained on, the sha256 of the tensors file and whatever the trainer adds (normalisation, training
data, recipe, metrics). Loading checks the hash, rebuilds the model through the registry and loads the
tensors strictly.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from glaciermap.errors import InputError
from glaciermap.io.files import atomic_output
from glaciermap.models.registry import MODELS, architecture_name, create_model

DEFAULT_CHANNELS = ("copol_db", "coherence")
_SUFFIXES = (".safetensors", ".json")


def weight_paths(path_or_stem: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The ``(tensors, card)`` paths for ``weights/name``, ``weights/name.safetensors`` or ``.json``."""
    path = Path(path_or_stem)
    stem = path.with_suffix("") if path.suffix in _SUFFIXES else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def save_weights(
    model: nn.Module, path: str | os.PathLike[str], card: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Write ``model``'s tensors and its card; return the card as written.

    Args:
        model: a registered architecture with a ``config`` dict of its init arguments.
        path: ``weights/name`` (with or without ``.safetensors``/``.json``).
        card: what the caller adds: normalisation, training data, recipe, metrics, and ``channels``
            when they are not the default ``[copol_db, coherence]``.
    """
    tensors_path, card_path = weight_paths(path)
    config = dict(getattr(model, "config", {}))
    full_card: dict[str, Any] = {
        "architecture": architecture_name(model),
        "arguments": config,
        "n_times": config.get("n_times"),
        "channels": list(DEFAULT_CHANNELS),
        **(card or {}),
    }
    n_in = config.get("in_channels", len(full_card["channels"]))
    if len(full_card["channels"]) != n_in:
        raise InputError(
            f"the card lists channels {full_card['channels']} but the model takes {n_in}",
            "pass card={'channels': [...]} naming each input channel in order",
        )
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    with atomic_output(tensors_path) as tmp:
        save_file(state, str(tmp), metadata={"architecture": full_card["architecture"]})
        full_card["sha256"] = file_sha256(tmp)
    with atomic_output(card_path) as tmp:
        tmp.write_text(json.dumps(full_card, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return full_card


def read_card(path_or_stem: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and minimally validate the JSON card of a weights file."""
    _, card_path = weight_paths(path_or_stem)
    if not card_path.is_file():
        raise InputError(
            f"model card {card_path} not found",
            "keep the .json card beside its .safetensors file (save_weights writes both)",
        )
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(
            f"model card {card_path} is not valid JSON ({exc})",
            "re-download or retrain the weights",
        ) from exc
    missing = [k for k in ("architecture", "arguments", "sha256") if k not in card]
    if not isinstance(card, dict) or missing:
        raise InputError(
            f"model card {card_path} lacks {', '.join(missing) or 'a JSON object'}",
            "re-download or retrain the weights",
        )
    return card


def load_weights(
    path_or_stem: str | os.PathLike[str], *, device: str | torch.device = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model a card describes, load its tensors strictly and return ``(model, card)``.

    The model is returned in ``eval`` mode on ``device``. Never unpickles anything.
    """
    tensors_path, _ = weight_paths(path_or_stem)
    card = read_card(path_or_stem)
    if not tensors_path.is_file():
        raise InputError(
            f"weights file {tensors_path} not found", "re-download or retrain the weights"
        )
    if file_sha256(tensors_path) != card["sha256"]:
        raise InputError(
            f"weights file {tensors_path} does not match its card",
            "re-download or retrain",
        )
    try:
        model = create_model(card["architecture"], **card["arguments"])
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"cannot build {card['architecture']!r} from the card's arguments ({exc})",
            "fix the card's arguments or re-download the weights",
        ) from exc
    try:
        state = load_file(str(tensors_path), device="cpu")
    except (SafetensorError, OSError) as exc:
        raise InputError(
            f"cannot read weights file {tensors_path} ({exc})", "re-download or retrain the weights"
        ) from exc
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise InputError(
            f"weights file {tensors_path} does not fit {card['architecture']!r} with arguments "
            f"{card['arguments']} ({first[1].strip() if len(first) > 1 else first[0]})",
            "make the card's arguments match the weights, or retrain",
        ) from exc
    return model.to(device).eval(), card


def check_card_against_stack(
    card: dict[str, Any],
    n_times: int,
    channels: list[str] | tuple[str, ...],
    normalisation: Any = None,
) -> None:
    """Raise :class:`InputError` unless a stack of ``n_times`` dates of ``channels`` suits the weights.

    ``T`` is only checked when the architecture needs the ``T`` it was trained on. ``normalisation`` is
    compared with the card's when both are given (as the same JSON-like description).
    """
    expected_t = card.get("n_times")
    expected_channels = list(card.get("channels", DEFAULT_CHANNELS))
    cls = MODELS.get(card.get("architecture", ""))
    variable_t = bool(getattr(cls, "accepts_variable_t", False))
    t_ok = variable_t or expected_t is None or int(expected_t) == int(n_times)
    if not t_ok or list(channels) != expected_channels:
        expect = f"T={expected_t} acquisitions" if not variable_t else "any number of acquisitions"
        raise InputError(
            f"these weights expect {expect} of [{', '.join(expected_channels)}]; "
            f"the stack has T={n_times} of [{', '.join(channels)}]",
            "rebuild the stack with the weights' dates and channels, or use weights trained on this stack",
        )
    card_norm = card.get("normalisation")
    # Compare through JSON so tuples and lists of the same description agree.
    if (
        normalisation is not None
        and card_norm is not None
        and json.loads(json.dumps(normalisation)) != card_norm
    ):
        raise InputError(
            f"these weights were trained on inputs normalised as {card_norm}; "
            f"the stack is normalised as {normalisation}",
            "normalise the stack with the statistics in the model card",
        )

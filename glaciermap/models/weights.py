"""Model weights on disk: ``<name>.safetensors`` (no pickle) beside its ``<name>.json`` model card.

Loading checks the tensors' sha256 against the card, rebuilds the model through the registry and loads
the tensors strictly. Cards are read and written by :class:`~glaciermap.models.card.ModelCard` only.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from glaciermap.errors import InputError
from glaciermap.io.files import atomic_output, file_digest
from glaciermap.models.card import DEFAULT_CHANNELS, ModelCard, weight_paths
from glaciermap.models.registry import MODELS, architecture_name, create_model


def save_weights(
    model: nn.Module, path: str | os.PathLike[str], card: Mapping[str, Any] | None = None
) -> ModelCard:
    """Write ``model``'s tensors and its card; return the card as written.

    Args:
        model: a registered architecture with a ``config`` dict of its init arguments.
        path: ``weights/name`` (with or without ``.safetensors``/``.json``).
        card: what the caller adds (card keys): normalisation, training_data, recipe, metrics,
            summary, and ``channels`` when they are not the default ``[copol_db, coherence]``.
    """
    tensors_path, _ = weight_paths(path)
    config = dict(getattr(model, "config", {}))
    doc: dict[str, Any] = {
        "architecture": architecture_name(model),
        "arguments": config,
        "n_times": config.get("n_times"),
        "channels": list(DEFAULT_CHANNELS),
        "sha256": "",
        **(card or {}),
    }
    full = ModelCard.from_json(doc, "the new model card")
    n_in = config.get("in_channels", len(full.channels))
    if len(full.channels) != n_in:
        raise InputError(
            f"the card lists channels {list(full.channels)} but the model takes {n_in}",
            "pass card={'channels': [...]} naming each input channel in order",
        )
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    with atomic_output(tensors_path) as tmp:
        save_file(state, str(tmp), metadata={"architecture": full.architecture})
        full = dataclasses.replace(full, sha256=file_digest(tmp))
    full.write(path)
    return full


def read_card(path_or_stem: str | os.PathLike[str]) -> ModelCard:
    """The validated card of a weights file (see :meth:`ModelCard.read`)."""
    return ModelCard.read(path_or_stem)


def load_weights(
    path_or_stem: str | os.PathLike[str], *, device: str | torch.device = "cpu"
) -> tuple[nn.Module, ModelCard]:
    """Rebuild the model a card describes, load its tensors strictly and return ``(model, card)``.

    The model is returned in ``eval`` mode on ``device``. Never unpickles anything.
    """
    tensors_path, _ = weight_paths(path_or_stem)
    card = ModelCard.read(path_or_stem)
    if not tensors_path.is_file():
        raise InputError(
            f"weights file {tensors_path} not found", "re-download or retrain the weights"
        )
    if file_digest(tensors_path) != card.sha256:
        raise InputError(
            f"weights file {tensors_path} does not match its card",
            "re-download or retrain",
        )
    try:
        model = create_model(card.architecture, **card.arguments)
    except (TypeError, ValueError) as exc:
        raise InputError(
            f"cannot build {card.architecture!r} from the card's arguments ({exc})",
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
            f"weights file {tensors_path} does not fit {card.architecture!r} with arguments "
            f"{dict(card.arguments)} ({first[1].strip() if len(first) > 1 else first[0]})",
            "make the card's arguments match the weights, or retrain",
        ) from exc
    return model.to(device).eval(), card


def accepts_variable_t(card: ModelCard) -> bool:
    """Whether the card's architecture runs on any number of dates."""
    return bool(getattr(MODELS.get(card.architecture), "accepts_variable_t", False))


def check_card_against_stack(
    card: ModelCard,
    n_times: int,
    channels: Sequence[str],
    normalisation: Any = None,
) -> None:
    """Raise :class:`InputError` unless a stack of ``n_times`` dates of ``channels`` suits the weights
    (see :meth:`ModelCard.check_inputs`; ``T`` matters only to architectures that need theirs)."""
    card.check_inputs(
        n_times, channels, variable_t=accepts_variable_t(card), normalisation=normalisation
    )


__all__ = [
    "accepts_variable_t",
    "check_card_against_stack",
    "load_weights",
    "read_card",
    "save_weights",
    "weight_paths",
]

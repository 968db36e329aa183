"""The model card: the JSON file beside a weights file that says what the tensors are and how to feed them.

``<name>.json`` next to ``<name>.safetensors``::

    architecture, arguments   the registry name and init arguments that rebuild the network
    n_times, channels         the dates T and channel names it was trained on
    sha256                    of the tensors file (checked before loading)
    normalisation             how inputs are normalised: ``mode`` "global" (per channel mean/std
                              recorded here, stack.json's form; cards without a mode) or "per-stack"
                              (each stack with its own stack.json statistics)
    summary, training_data, recipe, metrics, training_run, init   what the trainer records
                              (training_data: a list of stacks; older cards hold one object)
    evaluation                scores recorded by ``glaciermap evaluate --record``

:class:`ModelCard` is the only type that reads, validates and writes cards; unknown keys are kept, so a
card written by a newer glaciermap survives a round trip. This module does not import torch.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glaciermap.calendar import slot_of, slot_start
from glaciermap.errors import InputError
from glaciermap.io.files import atomic_output
from glaciermap.stack_format import CHANNELS

if TYPE_CHECKING:
    from glaciermap.stack_format import StackMeta

DEFAULT_CHANNELS = CHANNELS
GLOBAL = "global"
"""Normalisation mode: every stack with the statistics recorded in the card (the default)."""
PER_STACK = "per-stack"
"""Normalisation mode: every stack with its own ``stack.json`` statistics."""
NORMALISATION_MODES = (GLOBAL, PER_STACK)
_SUFFIXES = (".safetensors", ".json")
_RETRAIN = "re-download or retrain the weights"
_OPTIONAL = (
    "normalisation",
    "summary",
    "recipe",
    "metrics",
    "training_run",
    "init",
    "calibration",
)
EVALUATION_KEYS = ("precision", "recall", "f1", "iou", "tp", "fp", "fn", "tn", "n_times", "dates")
"""What an evaluation entry records besides its key (stack, split, tiles)."""


def weight_paths(path_or_stem: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The ``(tensors, card)`` paths for ``weights/name``, ``weights/name.safetensors`` or ``.json``."""
    path = Path(path_or_stem)
    stem = path.with_suffix("") if path.suffix in _SUFFIXES else path
    return stem.with_name(stem.name + ".safetensors"), stem.with_name(stem.name + ".json")


def _dates_text(slots: set[int], year: int) -> str:
    """``5 dates, 18 Jun to 22 Sep``: how many slots, from the first's start to the last's."""
    first, last = slot_start(year, min(slots)), slot_start(year, max(slots))
    if len(slots) == 1:
        return f"1 date, {first.day} {first:%b}"
    return f"{len(slots)} dates, {first.day} {first:%b} to {last.day} {last:%b}"


def _same_scoring(entry: Mapping[str, Any], result: Mapping[str, Any]) -> bool:
    return all(entry.get(k) == result.get(k) for k in ("stack", "split", "dates", "tiles"))


@dataclass(frozen=True)
class ModelCard:
    """A model card (see the module docstring); build with :meth:`read`, :meth:`from_json` or directly.

    Attributes:
        architecture: registry name. arguments: init arguments. sha256: of the tensors file.
        n_times: dates the model was trained on (None: not recorded). channels: channel names.
        normalisation: ``{"mode": "global", "tiles": ..., channel: {"mean", "std", "count"}}``,
            ``{"mode": "per-stack", ...}`` or None; no ``mode`` means global.
        training_data: the stacks trained on, a list of objects (region, year, dates, ...); cards
            written before multi-stack training hold one object (see :attr:`training_stacks`).
        summary, recipe, metrics, training_run, init: the trainer's records, or None.
        calibration: ``{"method": "temperature", "temperature", "ece_before", "ece_after", ...}``
            (``glaciermap calibrate``), or None: probabilities are the raw sigmoid.
        evaluation: recorded scores, each keyed by stack (region, year), split, tiles and dates.
        extra: keys this version does not know, kept as they are.
    """

    architecture: str
    arguments: Mapping[str, Any]
    sha256: str = ""
    n_times: int | None = None
    channels: tuple[str, ...] = DEFAULT_CHANNELS
    normalisation: Mapping[str, Any] | None = None
    summary: Mapping[str, Any] | None = None
    training_data: Mapping[str, Any] | list[Mapping[str, Any]] | None = None
    recipe: Mapping[str, Any] | None = None
    metrics: Mapping[str, Any] | None = None
    training_run: Mapping[str, Any] | None = None
    init: Mapping[str, Any] | None = None
    calibration: Mapping[str, Any] | None = None
    evaluation: tuple[Mapping[str, Any], ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------------------------------------
    # What predict and evaluate need

    @property
    def normalisation_mode(self) -> str:
        """``"global"`` (the card's statistics; also cards without a mode) or ``"per-stack"``.

        Raises:
            InputError: the card names a mode this version does not know.
        """
        mode = (self.normalisation or {}).get("mode", GLOBAL)
        if mode not in NORMALISATION_MODES:
            raise InputError(
                f"the model card's normalisation mode {mode!r} is unknown "
                f"(known: {', '.join(NORMALISATION_MODES)})",
                "upgrade glaciermap or retrain",
            )
        return str(mode)

    def input_statistics(self, meta: StackMeta) -> tuple[list[float], list[float]]:
        """Per-channel ``(means, stds)`` to normalise the stack ``meta`` with, in its channel order.

        Global cards give their own statistics, whatever the stack; per-stack cards the stack's
        ``stack.json`` statistics (the model was trained on each stack normalised by its own).
        """
        if self.normalisation_mode == PER_STACK:
            return meta.statistics(meta.channels)
        return self.statistics(meta.channels)

    @property
    def training_stacks(self) -> list[Mapping[str, Any]]:
        """The stacks the weights were trained on: ``training_data`` as a list (old cards: one)."""
        if self.training_data is None:
            return []
        if isinstance(self.training_data, Mapping):
            return [self.training_data]
        return list(self.training_data)

    @property
    def temperature(self) -> float:
        """The logits' divisor before the sigmoid (1.0 for an uncalibrated model)."""
        if not self.calibration:
            return 1.0
        value = self.calibration.get("temperature", 1.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise InputError(
                f"the model card's calibration temperature {value!r} is not a positive number",
                "recalibrate with glaciermap calibrate",
            )
        return float(value)

    def with_calibration(self, record: Mapping[str, Any]) -> ModelCard:
        """This card with ``calibration`` replaced by ``record``."""
        return dataclasses.replace(self, calibration=dict(record))

    def statistics(self, channels: Sequence[str]) -> tuple[list[float], list[float]]:
        """Per-channel ``(means, stds)`` the inputs must be normalised with, in ``channels`` order.

        Raises:
            InputError: the card has no usable statistics for one of the channels, or its inputs are
                normalised per stack (see :meth:`input_statistics`).
        """
        if self.normalisation_mode == PER_STACK:
            raise InputError(
                "these weights normalise each stack with its own statistics (normalisation mode "
                "per-stack); the card has none for all stacks",
                "normalise with the stack's stack.json statistics (ModelCard.input_statistics)",
            )
        norm = self.normalisation or {}
        if not all(
            isinstance(norm.get(c), Mapping) and "mean" in norm[c] and "std" in norm[c]
            for c in channels
        ):
            raise InputError(
                f"the model card has no normalisation statistics for {', '.join(channels)}",
                "use weights trained by glaciermap train (their card records them)",
            )
        means = [float(norm[c]["mean"]) for c in channels]
        stds = [float(norm[c]["std"]) for c in channels]
        if not all(math.isfinite(s) and s > 0 for s in stds):
            raise InputError("the model card's normalisation has unusable std values", "retrain")
        return means, stds

    def check_inputs(
        self,
        n_times: int,
        channels: Sequence[str],
        *,
        variable_t: bool = False,
        normalisation: Any = None,
    ) -> None:
        """Raise :class:`InputError` unless ``n_times`` dates of ``channels`` suit these weights.

        ``T`` is checked only when the architecture needs the ``T`` it was trained on (``variable_t``
        False). ``normalisation`` is compared with the card's when both are given.
        """
        t_ok = variable_t or self.n_times is None or int(self.n_times) == int(n_times)
        if not t_ok or list(channels) != list(self.channels):
            expect = (
                f"T={self.n_times} acquisitions" if not variable_t else "any number of acquisitions"
            )
            raise InputError(
                f"these weights expect {expect} of [{', '.join(self.channels)}]; "
                f"the stack has T={n_times} of [{', '.join(channels)}]",
                "rebuild the stack with the weights' dates and channels, or use weights trained on "
                "this stack",
            )
        # Compare through JSON so tuples and lists of the same description agree.
        if (
            normalisation is not None
            and self.normalisation is not None
            and json.loads(json.dumps(normalisation)) != json.loads(json.dumps(self.normalisation))
        ):
            raise InputError(
                f"these weights were trained on inputs normalised as {dict(self.normalisation)}; "
                f"the stack is normalised as {normalisation}",
                "normalise the stack with the statistics in the model card",
            )

    def training_slots(self) -> set[int] | None:
        """The slots of the year (0-based, :mod:`glaciermap.calendar`) that every training stack's
        dates fall in, or None when the card records no dates."""
        found = None
        for entry in self.training_stacks:
            dates = entry.get("dates") if isinstance(entry, Mapping) else None
            if not dates:
                continue
            try:
                days = [dt.date.fromisoformat(str(d)) for d in dates]
            except ValueError:
                continue  # not this card's concern: what it says of its training is for people
            slots = {slot_of(d, d.year) for d in days}
            found = slots if found is None else found & slots
        return found

    def stack_dates_mismatch(self, meta: StackMeta, weights: str | os.PathLike[str]) -> str | None:
        """Why the stack lacks the dates the weights were trained on, or None when it has them: fewer
        slots than the card's ``T``, or not the slots of the year the training dates fell in (a
        stack of January to April for a model of the summer).

        Models that accept any ``T`` still run on such a stack (``evaluate --acquisitions`` relies
        on it), so this is a warning to print before predicting, not an error.
        """
        have = {slot_of(d, meta.year) for d in meta.dates}
        trained = self.training_slots()
        if self.n_times is not None and self.n_times > meta.n_slots:
            expected = f"{self.n_times} dates"
        elif trained and not trained <= have:
            expected = _dates_text(trained, meta.year)
        else:
            return None
        return (
            f"{weights} was trained on {expected}; the stack in {meta.root} has "
            f"{_dates_text(have, meta.year)}"
        )

    # ------------------------------------------------------------------------------------------------
    # Evaluations

    def evaluation_for(self, result: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """The recorded evaluation of the same stack, split, tiles and dates as ``result``, if any."""
        return next((e for e in self.evaluation if _same_scoring(e, result)), None)

    def with_evaluation(self, result: Mapping[str, Any]) -> ModelCard:
        """A card with ``result`` (from ``training.evaluate.evaluate``) recorded, replacing an earlier
        entry for the same stack (region, year), split, tiles and dates.

        The stack folder's ``name`` (from ``evaluate_stacks``) is kept for the reader: simulated
        scenes of one year can share their dates, and the name (``example-2017-s1007``) says which
        scene it was. It is not part of the key, so a renamed copy of a stack still matches.
        """
        entry = {
            "stack": result["stack"],
            "split": result["split"],
            "tiles": result["tiles"],
            **{k: result[k] for k in EVALUATION_KEYS},
            **({"name": result["name"]} if result.get("name") else {}),
        }
        kept = [e for e in self.evaluation if not _same_scoring(e, result)]
        ordered = sorted(
            [*kept, entry],
            key=lambda e: (str(e.get("stack")), str(e.get("split")), int(e.get("n_times") or 0)),
        )
        return dataclasses.replace(self, evaluation=tuple(ordered))

    # ------------------------------------------------------------------------------------------------
    # JSON

    def to_json(self) -> dict[str, Any]:
        """The card as written (keys sorted on output)."""
        doc: dict[str, Any] = {
            **self.extra,
            "architecture": self.architecture,
            "arguments": dict(self.arguments),
            "n_times": self.n_times,
            "channels": list(self.channels),
            "sha256": self.sha256,
        }
        for key in _OPTIONAL:
            value = getattr(self, key)
            if value is not None:
                doc[key] = value
        if isinstance(self.training_data, Mapping):
            doc["training_data"] = self.training_data
        elif self.training_data is not None:
            doc["training_data"] = [dict(d) for d in self.training_data]
        if self.evaluation:
            doc["evaluation"] = [dict(e) for e in self.evaluation]
        return doc

    @classmethod
    def from_json(cls, doc: Any, where: str = "model card") -> ModelCard:
        """Validate a parsed card; :class:`InputError` naming the first problem."""
        if not isinstance(doc, dict):
            raise InputError(f"{where} is not a JSON object", _RETRAIN)
        missing = [k for k in ("architecture", "arguments", "sha256") if k not in doc]
        if missing:
            raise InputError(f"{where} lacks {', '.join(missing)}", _RETRAIN)
        problems = []
        if not isinstance(doc["architecture"], str):
            problems.append("architecture is not a name")
        if not isinstance(doc["arguments"], dict):
            problems.append("arguments is not an object")
        if not isinstance(doc["sha256"], str):
            problems.append("sha256 is not a string")
        n_times = doc.get("n_times")
        if n_times is not None and (isinstance(n_times, bool) or not isinstance(n_times, int)):
            problems.append("n_times is not a whole number")
        channels = doc.get("channels", list(DEFAULT_CHANNELS))
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            problems.append("channels is not a list of names")
        for key in _OPTIONAL:
            if doc.get(key) is not None and not isinstance(doc[key], dict):
                problems.append(f"{key} is not an object")
        data = doc.get("training_data")
        if data is not None and not (
            isinstance(data, dict)
            or (isinstance(data, list) and all(isinstance(d, dict) for d in data))
        ):
            problems.append("training_data is not an object or a list of objects")
        evaluation = doc.get("evaluation") or []
        if not isinstance(evaluation, list) or not all(isinstance(e, dict) for e in evaluation):
            problems.append("evaluation is not a list of objects")
        if problems:
            raise InputError(f"{where} is invalid: {'; '.join(problems)}", _RETRAIN)
        known = {
            "architecture",
            "arguments",
            "sha256",
            "n_times",
            "channels",
            "evaluation",
            "training_data",
        }
        return cls(
            architecture=doc["architecture"],
            arguments=doc["arguments"],
            sha256=doc["sha256"],
            n_times=n_times,
            channels=tuple(channels),
            evaluation=tuple(evaluation),
            training_data=data,
            extra={k: v for k, v in doc.items() if k not in known and k not in _OPTIONAL},
            **{k: doc.get(k) for k in _OPTIONAL},
        )

    @classmethod
    def read(cls, path_or_stem: str | os.PathLike[str]) -> ModelCard:
        """Read and validate the card of ``weights/name`` (or its ``.safetensors``/``.json``)."""
        _, card_path = weight_paths(path_or_stem)
        if not card_path.is_file():
            raise InputError(
                f"model card {card_path} not found",
                f"keep {card_path.name} beside {card_path.stem}.safetensors "
                "(glaciermap train writes both; shipped weights come with theirs)",
            )
        try:
            doc = json.loads(card_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise InputError(f"model card {card_path} is not valid JSON ({exc})", _RETRAIN) from exc
        return cls.from_json(doc, f"model card {card_path}")

    def write(self, path_or_stem: str | os.PathLike[str]) -> Path:
        """Write the card beside its weights (atomically); returns the card's path."""
        _, card_path = weight_paths(path_or_stem)
        with atomic_output(card_path) as tmp:
            tmp.write_text(
                json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )
        return card_path


__all__ = [
    "DEFAULT_CHANNELS",
    "EVALUATION_KEYS",
    "GLOBAL",
    "NORMALISATION_MODES",
    "PER_STACK",
    "ModelCard",
    "weight_paths",
]

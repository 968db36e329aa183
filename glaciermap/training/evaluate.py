"""Scoring weights on the whole tiles of one split of a stack.

Each tile is predicted in one pass (``(1, T, C, H, W)``, H and W zero-padded up to the model's stride, the
padding cropped off the logits); precision, recall, F1 and IoU of the glacier class are computed over all
pixels of the split's tiles, labels 255 ignored.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as nnf
from torch import nn

from glaciermap.calendar import select_acquisitions
from glaciermap.errors import InputError
from glaciermap.models.card import ModelCard
from glaciermap.stack_format import StackMeta
from glaciermap.training.dataset import StackTiles, Tiles
from glaciermap.training.metrics import ConfusionCounts, ReliabilityBins


def model_stride(model: nn.Module) -> int:
    """The factor H and W must be multiples of (the models' ``stride``; 1 when they declare none)."""
    return int(getattr(model, "stride", 1) or 1)


@torch.no_grad()
def predict_tile(
    model: nn.Module, x: torch.Tensor, device: torch.device | str = "cpu", *, amp: bool = False
) -> torch.Tensor:
    """Glacier logits ``(H, W)`` (float32, on CPU) of one sample ``x`` ``(T, C, H, W)``.

    H and W are zero-padded (normalised "no data") to multiples of the model's stride and cropped back.
    """
    stride = model_stride(model)
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % stride, (-w) % stride
    batch = x.unsqueeze(0).to(device)
    if pad_h or pad_w:
        batch = nnf.pad(batch, (0, pad_w, 0, pad_h))
    dev = torch.device(device)
    if amp and dev.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        with torch.autocast("cuda", dtype=dtype):
            logits = model(batch)
    else:
        logits = model(batch)
    return logits[0, 0, :h, :w].float().cpu()


def score_tiles(
    model: nn.Module,
    tiles: Tiles,
    device: torch.device | str = "cpu",
    *,
    indices: Sequence[int] | None = None,
    amp: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
    reliability: ReliabilityBins | None = None,
    temperature: float = 1.0,
) -> ConfusionCounts:
    """Confusion counts of ``model`` over ``tiles`` (or those at ``indices``); the model is put in eval.

    With ``reliability``, the pixels' probabilities ``sigmoid(logit / temperature)`` are also binned
    into it (for the expected calibration error).
    """
    model.eval()
    counts = ConfusionCounts()
    chosen = list(range(len(tiles))) if indices is None else list(indices)
    for done, i in enumerate(chosen, start=1):
        sample = tiles[i]
        logits = predict_tile(model, sample.x, device, amp=amp)
        counts.update(logits, sample.label, logits=True)
        if reliability is not None:
            reliability.update(torch.sigmoid(logits / temperature), sample.label)
        if progress is not None:
            progress(done, len(chosen), sample.tile_id)
    return counts


def evaluate(
    weights: str | os.PathLike[str],
    stack_dir: str | os.PathLike[str],
    split: str = "test",
    acquisitions: int | Sequence[int] | None = None,
    *,
    device: str | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> dict[str, Any]:
    """Precision, recall, F1 and IoU of ``weights`` on the ``split`` tiles of a stack.

    Args:
        weights: ``name``, ``name.safetensors`` or ``name.json`` (tensors + card).
        stack_dir: the stack folder (stack.json, tiles/, labels/).
        split: ``"train"``, ``"val"``, ``"test"``, or ``"all"`` (every tile of the stack).
        acquisitions: how many acquisitions around the ablation peak (or explicit slot indices);
            default the ``T`` on the card (every slot when the card has none).
        device: torch device; default CUDA when available.
        progress: called ``(done, total, tile_id)`` after each tile.

    Returns:
        ``precision``, ``recall``, ``f1``, ``iou`` (NaN on zero denominators), ``tp``, ``fp``, ``fn``,
        ``tn``, ``ece`` (expected calibration error of the card-calibrated probability),
        ``reliability`` (its bins), ``temperature``, and ``n_times``, ``dates``, ``tiles``,
        ``split``, ``stack`` (region and year).

    Raises:
        InputError: the weights' card does not fit the stack (channels, or ``T`` for models that need
            theirs), or the stack lacks labels or tiles of the split.
    """
    from glaciermap.models.weights import load_weights

    if split not in ("train", "val", "test", "all"):
        raise InputError(f"unknown split {split!r}", "use train, val, test or all")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model, card = load_weights(weights, device=dev)
    result, _ = _score_stack(model, card, stack_dir, split, acquisitions, dev, progress)
    return result


def labelled_tiles(
    card: ModelCard,
    stack_dir: str | os.PathLike[str],
    split: str,
    acquisitions: int | Sequence[int] | None = None,
) -> tuple[StackMeta, StackTiles]:
    """The ``split`` tiles (``all``: every tile) of a labelled stack, as the card's model reads them.

    Dates: ``acquisitions`` around the ablation peak (or explicit slot indices), default the card's
    ``T``; normalised as the model was trained (the card's statistics, or the stack's own when the
    card says per-stack).

    Raises:
        InputError: the stack has no labels or lacks files, or the card does not fit it (channels,
            ``T``).
    """
    from glaciermap.models.weights import check_card_against_stack

    stack = Path(stack_dir)
    meta = StackMeta.read(stack)
    if not meta.has_labels:
        raise InputError(
            f"the stack in {stack} has no labels", "rebuild it with --inventory to evaluate"
        )
    meta.check_files()  # one line naming a missing tile or label, not a failure half-way through
    if acquisitions is None:
        acquisitions = int(card.n_times or meta.n_slots)
    if isinstance(acquisitions, int):
        indices = select_acquisitions(meta.dates, acquisitions, missing=meta.missing_slots)
    else:
        indices = [int(i) for i in acquisitions]
    check_card_against_stack(card, len(indices), meta.channels)
    statistics = card.input_statistics(meta) if card.normalisation is not None else None
    tiles = StackTiles(
        stack,
        split=None if split == "all" else split,
        acquisitions=indices,
        statistics=statistics,
    )
    return meta, tiles


def _score_stack(
    model: nn.Module,
    card: ModelCard,
    stack_dir: str | os.PathLike[str],
    split: str,
    acquisitions: int | Sequence[int] | None,
    device: torch.device,
    progress: Callable[[int, int, str], None] | None,
) -> tuple[dict[str, Any], ReliabilityBins]:
    """:func:`evaluate`'s result for one stack, and its reliability bins (for pooling)."""
    meta, tiles = labelled_tiles(card, stack_dir, split, acquisitions)
    bins = ReliabilityBins()
    try:
        counts = score_tiles(
            model, tiles, device, progress=progress, reliability=bins, temperature=card.temperature
        )
    finally:
        tiles.reader.close()
    result = {
        **counts.as_dict(),
        "ece": bins.ece,
        "reliability": bins.table(),
        "temperature": card.temperature,
        "n_times": len(tiles.dates),
        "dates": [d.isoformat() for d in tiles.dates],
        "tiles": list(tiles.tiles),
        "split": split,
        "stack": stack_identity(meta),
    }
    return result, bins


def evaluate_stacks(
    weights: str | os.PathLike[str],
    stacks: Sequence[str | os.PathLike[str]],
    split: str = "test",
    acquisitions: int | None = None,
    *,
    device: str | None = None,
    progress: Callable[[str, int, int, str], None] | None = None,
) -> dict[str, Any]:
    """:func:`evaluate` on each stack (a scene each), and the scores of all their pixels pooled.

    Returns:
        ``stacks``: one :func:`evaluate` result per stack, with ``name`` (the folder's name);
        ``pooled``: precision, recall, F1, IoU and ECE over every stack's pixels, and ``n_stacks``,
        ``median_iou`` and ``worst_iou`` over the stacks (the scene-level spread a pooled IoU hides).
    """
    import statistics as stats

    from glaciermap.models.weights import load_weights

    if split not in ("train", "val", "test", "all"):
        raise InputError(f"unknown split {split!r}", "use train, val, test or all")
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    model, card = load_weights(weights, device=dev)  # once for every stack
    results = []
    pooled = ConfusionCounts()
    bins = ReliabilityBins()
    for stack in stacks:
        name = Path(stack).name
        step = None if progress is None else (lambda d, t, tile, n=name: progress(n, d, t, tile))
        result, stack_bins = _score_stack(model, card, stack, split, acquisitions, dev, step)
        results.append({"name": name, **result})
        pooled.merge(ConfusionCounts(result["tp"], result["fp"], result["fn"], result["tn"]))
        bins.merge(stack_bins)
    ious = [r["iou"] for r in results if not math.isnan(r["iou"])]
    return {
        "stacks": results,
        "pooled": {
            **pooled.as_dict(),
            "ece": bins.ece,
            "reliability": bins.table(),
            "n_stacks": len(results),
            "median_iou": stats.median(ious) if ious else math.nan,
            "worst_iou": min(ious) if ious else math.nan,
        },
    }


def stack_identity(meta: StackMeta) -> dict[str, Any]:
    """What names a stack in a model card: region and year (with the split's tiles and dates).

    Not the stack's inputs hash, which depends on file paths and times: a benchmark regenerated on
    another machine from the same seed must still match the card.
    """
    return {"region": meta.region.name, "year": meta.year}


def record_evaluation(weights: str | os.PathLike[str], result: Mapping[str, Any]) -> Path:
    """Write ``result`` (from :func:`evaluate`) into the weights' card under ``evaluation``.

    An earlier entry for the same stack (region, year), split, tiles and dates is replaced. The
    tensors and their sha256 are untouched; the card is rewritten atomically. Returns the card's path.
    """
    return ModelCard.read(weights).with_evaluation(result).write(weights)


__all__ = [
    "evaluate",
    "evaluate_stacks",
    "labelled_tiles",
    "model_stride",
    "predict_tile",
    "record_evaluation",
    "score_tiles",
    "stack_identity",
]

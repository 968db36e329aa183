"""The weights shipped in weights/: loadable without pickle, complete cards, and the cards' scores hold."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from glaciermap.models.registry import model_summary  # noqa: E402
from glaciermap.models.weights import load_weights, weight_paths  # noqa: E402

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"
MAIN = ["unet3d", "convlstm"]
ABLATION = {1: "ablation/unet3d-1acq", 3: "ablation/unet3d-3acq", 5: "ablation/unet3d-5acq"}
BENCHMARK = {"region": "synthetic", "year": 2016}
"""The one-scene benchmark the ablation weights were trained and scored on (weights/README.md)."""
DEMO = {"region": "example", "year": 2016}
MIN_UNSEEN_SCENES = 12
MEDIAN_FLOOR = {"unet3d": 0.95, "convlstm": 0.95}
WORST_FLOOR = {"unet3d": 0.84, "convlstm": 0.91}
"""Today's unseen-scene figures rounded down (weights/README.md), not yet issue 14's worst >= 0.92."""


def _card(name: str) -> dict:
    return json.loads((WEIGHTS / f"{name}.json").read_text())


def _entry(card: dict, stack: dict, split: str, n_times: int, dates: list | None = None) -> dict:
    found = [
        e
        for e in card.get("evaluation", [])
        if e["stack"] == stack
        and e["split"] == split
        and e["n_times"] == n_times
        and (dates is None or e["dates"] == dates)
    ]
    assert len(found) == 1, f"no single {split} evaluation with {n_times} acquisitions on {stack}"
    return found[0]


def _scene_names(card: dict) -> set[str]:
    """The training scenes' stack folder names (``example-2017-s14``: region, year and seed)."""
    return {Path(d["stack"]).name for d in card["training_data"]}


def _validation_names(card: dict) -> set[str]:
    return {Path(d["stack"]).name for d in card["metrics"]["validation_data"]}


@pytest.mark.parametrize("name", MAIN + list(ABLATION.values()))
def test_shipped_weights_load_and_cards_are_complete(name):
    tensors, _ = weight_paths(WEIGHTS / name)
    assert tensors.stat().st_size < 20 * 2**20
    head = tensors.read_bytes()[:9]  # safetensors: 8-byte little-endian header length, then JSON
    assert head[8:9] == b"{" and int.from_bytes(head[:8], "little") > 0
    model, loaded = load_weights(WEIGHTS / name)  # checks the sha256, rebuilds, loads strictly
    card = loaded.to_json()
    assert card == _card(name)  # the card type keeps every key of the shipped cards
    assert card["architecture"] in ("unet3d", "convlstm")
    assert card["channels"] == ["copol_db", "coherence"]
    for key in ("arguments", "normalisation", "training_data", "recipe", "summary", "metrics"):
        assert card[key], key
    t, c = card["n_times"], len(card["channels"])
    side = card["summary"]["input"][-1]
    assert card["summary"] == {
        **model_summary(model, t, c, side, side),
        "input": [t, c, side, side],
    }
    assert card["recipe"]["acquisitions"] == t
    x = torch.zeros(1, t, c, 64, 64)
    assert model(x).shape == (1, 1, 64, 64)


@pytest.mark.parametrize("name", MAIN)
def test_main_models_are_trained_across_scenes_and_calibrated_on_others(name):
    """Split by scene: many training scenes, other validation scenes, a fitted temperature."""
    card = _card(name)
    trained = _scene_names(card)
    assert len(trained) == len(card["training_data"]) >= 24 and card["recipe"]["scene_augment"]
    validated = _validation_names(card)
    assert validated and validated.isdisjoint(trained)
    assert card["calibration"]["method"] == "temperature"
    assert card["calibration"]["temperature"] > 0


@pytest.mark.parametrize("name", MAIN)
def test_main_models_hold_on_unseen_scenes(name):
    """The card's scores on whole simulated scenes that no training scene shares (issue 14).

    Recorded with `glaciermap evaluate ... --stacks unseen.txt --split all --record` (weights/README.md).
    The floors are today's figures rounded down, not yet the issue's targets (median >= 0.95,
    worst >= 0.92): newer weights must not fall below them.
    """
    card = _card(name)
    scenes = [
        e
        for e in card["evaluation"]
        if e["split"] == "all" and e["n_times"] == 15 and e["stack"]["region"] == "example"
    ]
    names = {e["name"] for e in scenes}
    assert len(names) == len(scenes) >= MIN_UNSEEN_SCENES + 1  # and the demo scene
    assert not names & (_scene_names(card) | _validation_names(card))
    ious = [e["iou"] for e in scenes]
    assert statistics.median(ious) >= MEDIAN_FLOOR[name], sorted(ious)
    assert min(ious) >= WORST_FLOOR[name], sorted(ious)


def test_ablation_trend_holds_on_their_benchmark():
    """The separately trained 1 < 3 < 5-date models (Table 1) on the one-scene benchmark."""
    trend = [_entry(_card(ABLATION[n]), BENCHMARK, "test", n)["iou"] for n in (1, 3, 5)]
    assert trend[0] < trend[1] < trend[2], trend


@pytest.mark.parametrize("name", MAIN)
def test_predicting_the_example_scene_reaches_the_card_iou(name, example_year_stack, tmp_path):
    """`predict` on the demo's scene scores what `evaluate --split all` recorded in the card, and
    that is at least 0.94 (issue 14's target for the demo scene)."""
    import rasterio
    from rasterio.windows import from_bounds

    from glaciermap.predict.engine import PredictConfig, predict_stack
    from glaciermap.training.metrics import ConfusionCounts

    meta = json.loads((example_year_stack / "stack.json").read_text())
    card = _card(name)
    recorded = _entry(card, DEMO, "all", 15, dates=meta["dates"])
    assert recorded["tiles"] == meta["tiles"]
    assert recorded["iou"] >= 0.94
    result = predict_stack(
        WEIGHTS / name, example_year_stack, tmp_path / name, PredictConfig(device="cpu")
    )
    counts = ConfusionCounts()
    labels = example_year_stack / meta["labels"]
    with rasterio.open(result.mask) as mask:
        for tile in meta["tiles"]:
            with rasterio.open(labels / f"{tile}.tif") as lab:
                window = from_bounds(*lab.bounds, transform=mask.transform)
                predicted = mask.read(1, window=window.round_offsets().round_lengths())
                truth = lab.read(1)
            predicted = np.where(predicted == 255, 0, predicted)
            counts.update(torch.from_numpy(predicted), torch.from_numpy(truth), logits=False)
    assert abs(counts.iou - recorded["iou"]) <= 0.01, (counts.iou, recorded["iou"])

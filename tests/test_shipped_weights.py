"""The weights shipped in weights/: loadable without pickle, complete cards, and the cards' scores hold."""

from __future__ import annotations

import json
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


def _card(name: str) -> dict:
    return json.loads((WEIGHTS / f"{name}.json").read_text())


def _entry(card: dict, stack: dict, split: str, n_times: int) -> dict:
    found = [
        e
        for e in card.get("evaluation", [])
        if e["stack"] == stack and e["split"] == split and e["n_times"] == n_times
    ]
    assert len(found) == 1, f"no single {split} evaluation with {n_times} acquisitions on {stack}"
    return found[0]


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
    assert card["training_data"]["region"] == "synthetic" and card["training_data"]["year"] == 2016
    t, c = card["n_times"], len(card["channels"])
    side = card["summary"]["input"][-1]
    assert card["summary"] == {
        **model_summary(model, t, c, side, side),
        "input": [t, c, side, side],
    }
    assert card["recipe"]["acquisitions"] == t
    x = torch.zeros(1, t, c, 64, 64)
    assert model(x).shape == (1, 1, 64, 64)


def test_main_models_reach_the_target_and_the_acquisition_trend_holds():
    """IoU >= 0.95 on the benchmark's test tiles, and the separately trained 1 < 3 < 5 (Table 1).

    5 vs 15 is not asserted: on this simulated benchmark they tie (see weights/README.md).
    """
    for name in MAIN:
        card = _card(name)
        assert card["n_times"] == 15
        assert _entry(card, BENCHMARK, "test", 15)["iou"] >= 0.95, name
    trend = [_entry(_card(ABLATION[n]), BENCHMARK, "test", n)["iou"] for n in (1, 3, 5)]
    assert trend[0] < trend[1] < trend[2], trend


@pytest.mark.parametrize("name", MAIN)
def test_predicting_the_example_scene_reaches_the_card_iou(name, example_year_stack, tmp_path):
    """`predict` on the demo's scene scores what `evaluate --split all` recorded in the card."""
    import rasterio
    from rasterio.windows import from_bounds

    from glaciermap.predict.engine import PredictConfig, predict_stack
    from glaciermap.training.metrics import ConfusionCounts

    meta = json.loads((example_year_stack / "stack.json").read_text())
    card = _card(name)
    recorded = _entry(card, {"region": "example", "year": 2016}, "all", 15)
    assert recorded["tiles"] == meta["tiles"]
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

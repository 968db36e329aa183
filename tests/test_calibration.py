"""Calibrated probability (temperature in the card), the calibration error, and evaluate across
several stacks (per-stack rows, a pooled row, JSON, a reliability diagram)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from glaciermap.models.card import ModelCard
from glaciermap.training.calibration import fit_temperature, reliability
from glaciermap.training.metrics import ReliabilityBins

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "weights" / "ablation" / "unet3d-3acq"


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_probabilities_that_are_frequencies_have_a_small_ece_and_others_do_not():
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 200_000)
    labels = (rng.uniform(0, 1, p.size) < p).astype(np.uint8)
    assert ReliabilityBins().update(p, labels).ece < 0.01
    squeezed = 0.5 + 0.5 * (p - 0.5)  # an underconfident model: everything pulled towards 0.5
    assert ReliabilityBins().update(squeezed, labels).ece > 0.1
    ignored = labels.copy()
    ignored[: p.size // 2] = 255  # ignored pixels are not counted
    bins = ReliabilityBins().update(p, ignored)
    assert sum(row["count"] for row in bins.table()) == p.size - p.size // 2


def test_the_fitted_temperature_is_the_one_that_made_the_labels():
    rng = np.random.default_rng(1)
    logits = rng.normal(0, 4, 300_000)
    labels = (rng.uniform(0, 1, logits.size) < _sigmoid(logits / 2.5)).astype(np.uint8)
    temperature = fit_temperature(logits, labels)
    assert temperature == pytest.approx(2.5, rel=0.05)
    assert reliability(logits, labels, temperature).ece < reliability(logits, labels).ece / 3
    assert fit_temperature(logits, np.ones_like(labels)) == 1.0  # one class: nothing to fit


def _copy_weights(tmp_path: Path) -> Path:
    for suffix in (".safetensors", ".json"):
        shutil.copy(SHIPPED.with_suffix(suffix), tmp_path / f"mine{suffix}")
    return tmp_path / "mine"


def test_calibrate_writes_the_card_and_predict_changes_probability_not_the_mask(
    run_cli, example_stack, tmp_path
):
    rasterio = pytest.importorskip("rasterio")
    weights = _copy_weights(tmp_path)
    before = run_cli(
        "predict", weights, "--stack", example_stack, "-o", tmp_path / "p0", "--device", "cpu"
    )
    assert before.exit_code == 0, before.stderr

    result = run_cli("calibrate", weights, "--stack", example_stack, "--split", "all")
    assert result.exit_code == 0, result.stderr
    card = ModelCard.read(weights)
    entry = card.calibration
    assert entry is not None and entry["method"] == "temperature"
    assert card.temperature == entry["temperature"] != 1.0
    assert entry["ece_after"] <= entry["ece_before"]
    assert entry["fitted_on"][0]["region"] == "example" and entry["pixels"] > 0
    assert f"temperature {entry['temperature']:.4f}" in result.stdout

    after = run_cli(
        "predict", weights, "--stack", example_stack, "-o", tmp_path / "p1", "--device", "cpu"
    )
    assert after.exit_code == 0, after.stderr
    with (
        rasterio.open(tmp_path / "p0" / "mask.tif") as a,
        rasterio.open(tmp_path / "p1" / "mask.tif") as b,
    ):
        assert np.array_equal(a.read(), b.read())
    with rasterio.open(tmp_path / "p0" / "probability.tif") as a:
        p0 = a.read(1)
    with rasterio.open(tmp_path / "p1" / "probability.tif") as b:
        p1 = b.read(1)
    valid = np.isfinite(p0) & np.isfinite(p1)
    assert not np.allclose(p0[valid], p1[valid])
    record = json.loads((tmp_path / "p1" / "predict.json").read_text())
    assert record["temperature"] == card.temperature


def test_evaluate_several_stacks_gives_a_row_each_and_a_pooled_row(
    run_cli, example_stack, tmp_path
):
    other = tmp_path / "other"
    shutil.copytree(example_stack, other)
    listing = tmp_path / "stacks.txt"
    listing.write_text(f"# the scenes\n{example_stack}\nother   # relative to this file\n")
    plot = tmp_path / "reliability.png"
    args = ["evaluate", SHIPPED, "--stacks", listing, "--split", "all", "--acquisitions", "3"]
    table = run_cli(*args, "--plot", plot)
    assert table.exit_code == 0, table.stderr
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "pooled (2; median IoU" in table.stdout and "ECE" in table.stdout
    assert example_stack.name in table.stdout and "other" in table.stdout

    again = run_cli(*args, "--json")
    assert again.exit_code == 0, again.stderr
    doc = json.loads(again.stdout)
    (run,) = doc["runs"]
    first, second = run["stacks"]
    assert first["iou"] == second["iou"]  # the same scene twice
    assert run["pooled"]["tp"] == first["tp"] + second["tp"]
    assert run["pooled"]["iou"] == pytest.approx(first["iou"])
    assert run["pooled"]["median_iou"] == run["pooled"]["worst_iou"] == pytest.approx(first["iou"])
    assert 0 <= run["pooled"]["ece"] <= 1 and len(run["pooled"]["reliability"]) == 15

    refused = run_cli(*args, "--plot", plot)  # the PNG exists: no --overwrite
    assert refused.exit_code == 2 and "already exists" in refused.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [("# nothing\n\n", "lists no stack"), ("missing-folder\n", "no stack in")],
)
def test_a_bad_stack_list_is_one_line(run_cli, tmp_path, content, message):
    listing = tmp_path / "stacks.txt"
    listing.write_text(content)
    result = run_cli("evaluate", SHIPPED, "--stacks", listing)
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and message in lines[0]

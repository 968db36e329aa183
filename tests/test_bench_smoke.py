"""Every benchmark script runs in its tiny smoke mode, so the benchmarks cannot rot unnoticed.

The figures of a smoke run mean nothing (seconds of work on a loaded machine); what is checked is that
the script still imports, runs end to end against today's library and prints its figures.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _smoke(script: str, *args: str, timeout: float = 300) -> str:
    result = subprocess.run(
        [sys.executable, str(BENCH / script), "--smoke", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result.stdout


def test_bench_preprocess(tmp_path):
    out = _smoke("preprocess.py", "--out", str(tmp_path))
    assert "km²/s" in out and "ratio" in out and "build_stack over  1 tiles" in out
    assert (tmp_path / "results.json").is_file()


def test_bench_train(tmp_path):
    pytest.importorskip("torch")
    out = _smoke("train.py", "--out", str(tmp_path / "train.json"))
    assert "samples/s" in out and "GFLOP/s" in out
    assert (tmp_path / "train.json").is_file()


def test_bench_predict(tmp_path):
    pytest.importorskip("torch")
    out = _smoke("predict.py", "--out", str(tmp_path))
    assert "GFLOP/s" in out and "ratio" in out and "peak RSS" in out
    assert ("monai  skipped" in out) or ("MONAI/glaciermap" in out)
    assert (tmp_path / "share-256" / "probability.tif").is_file()
    assert (tmp_path / "memory-256" / "mask.tif").is_file()


def test_bench_run(tmp_path):
    pytest.importorskip("torch")
    out = _smoke("run.py", "--out", str(tmp_path))
    assert "run overhead" in out and "no-op run" in out and "stages by hand" in out
    results = json.loads((tmp_path / "results.json").read_text())
    from glaciermap.pipeline import PIPELINE

    assert results["noop_cli_s"] > 0
    assert set(results["run_stages_s"]) == set(results["by_hand_stages_s"]) == set(PIPELINE.names)


def test_bench_generalization(tmp_path):
    pytest.importorskip("torch")
    out = _smoke("generalization.py", "--out", str(tmp_path))
    assert "unseen scene(s)" in out and "median IoU" in out
    results = json.loads((tmp_path / "results.json").read_text())
    scenes = results["weights"]["ablation/unet3d-3acq"]["scenes"]
    assert len(scenes) == 1 and all(0 <= s["iou"] <= 1 for s in scenes.values())


def test_bench_separability(tmp_path):
    pytest.importorskip("torch")
    out = _smoke("separability.py", "--out", str(tmp_path), "--init", "ablation/unet3d-3acq")
    assert "own model:" in out and "own-model test IoU" in out and "fine-tuned from" in out
    results = json.loads((tmp_path / "results.json").read_text())
    (scene,) = results["scenes"].values()
    assert 0 <= scene["own_test_iou"] <= 1 and "weights_test_iou" in scene
    assert 0 <= scene["init_test_iou"] <= 1
    card = json.loads(next((tmp_path / "runs").glob("*-init/best.json")).read_text())
    assert card["init"]["name"] == "ablation/unet3d-3acq"


def test_bench_training_scenes(tmp_path):
    """The training recipe's scenes: lists of stacks, split by seed, readable by train --stacks."""
    from glaciermap.cli.options import read_stack_list

    out = _smoke("training_scenes.py", "--out", str(tmp_path))
    assert "stack lists:" in out
    train, val = read_stack_list(tmp_path / "train.txt"), read_stack_list(tmp_path / "val.txt")
    assert len(train) == len(val) == 1
    assert all((s / "stack.json").is_file() for s in [*train, *val])
    seeds = {
        json.loads((s / "stack.json").read_text())["input_dir"].rsplit("-s", 1)[1]
        for s in [*train, *val]
    }
    assert seeds == {"1", "500"}


def test_bench_errors_by_surface(tmp_path):
    pytest.importorskip("torch")
    out = _smoke("errors_by_surface.py", "--out", str(tmp_path))
    assert "mapped as glacier" in out and "recall" in out
    result = json.loads((tmp_path / "results.json").read_text())
    assert 0 <= result["iou"] <= 1 and "glacier" in result["mapped_as_glacier"]
    assert all(0 <= v <= 1 for v in result["glacier_recall_by_elevation"].values())


def test_bench_distributed(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("distributed")
    out = _smoke("distributed.py", "--out", str(tmp_path))
    assert "overhead Dask / pool" in out and "overhead Dask / sweep" in out
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["preprocess"]["dask2_identical"] and results["predict"]["dask1x2_identical"]
    assert results["preprocess"]["overhead"] > 0 and results["predict"]["scaling"] > 0

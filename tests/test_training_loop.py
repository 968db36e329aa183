"""training loop: fit (files, resume, reproducibility), evaluate, the train/evaluate CLI and DDP."""

from __future__ import annotations

import json
import math
import socket
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from conftest import EXAMPLE_STACK_SLOTS  # noqa: E402

from glaciermap.errors import InputError  # noqa: E402
from glaciermap.regions import BUILTIN_REGIONS  # noqa: E402
from glaciermap.training.evaluate import evaluate  # noqa: E402
from glaciermap.training.loop import TrainConfig, fit  # noqa: E402

REGION = BUILTIN_REGIONS["example"]
YEAR = 2016
SLOTS = EXAMPLE_STACK_SLOTS


def tiny(**overrides) -> TrainConfig:
    settings = {
        "model_kwargs": {"widths": (8, 16)},
        "patch": 64,
        "batch_size": 2,
        "samples_per_epoch": 4,
        "epochs": 2,
        "num_workers": 0,
        "seed": 3,
    }
    settings.update(overrides)
    return TrainConfig(**settings)


@pytest.fixture(scope="module")
def stack_dir(example_stack) -> Path:
    """The shared simulated example stack (tests/conftest.py)."""
    return example_stack


@pytest.fixture(scope="module")
def trained(stack_dir, tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "r"
    steps = []
    result = fit(tiny(num_workers=2), stack_dir, run, progress=steps.append)
    return run, result, steps


def _state(path: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(path))


def test_fit_writes_weights_card_and_metrics(trained, stack_dir):
    run, result, steps = trained
    assert result.weights == run / "best.safetensors"
    for name in ("best.safetensors", "best.json", "metrics.csv", "last.pt", "config.json"):
        assert (run / name).is_file(), name
    # TensorBoard events with the same curves as metrics.csv.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard"))
    events.Reload()
    assert {"loss/train", "lr", "iou/val"} <= set(events.Tags()["scalars"])
    assert [e.step for e in events.Scalars("loss/train")] == [1, 2]
    card = json.loads((run / "best.json").read_text())
    assert card["architecture"] == "unet3d"
    assert card["n_times"] == SLOTS
    assert card["channels"] == ["copol_db", "coherence"]
    meta = json.loads((stack_dir / "stack.json").read_text())
    assert card["normalisation"] == {**meta["normalisation"], "mode": "global"}
    [data] = card["training_data"]
    assert data["dates"] == meta["dates"] and data["name"] == "example-2016"
    assert data["train_tiles"] == [t for t in meta["tiles"] if meta["splits"][t] == "train"]
    assert card["recipe"]["scene_augment"] is False and "init" not in card
    assert card["recipe"]["patch"] == 64
    assert "iou" in card["metrics"]["val"]
    # The card states the model's size and cost, as the registry measures them.
    from glaciermap.models.registry import create_model, model_summary

    model = create_model("unet3d", **card["arguments"])
    assert card["summary"]["input"] == [SLOTS, 2, 384, 384]
    assert card["summary"] == {
        **model_summary(model, SLOTS, 2, 384, 384),
        "input": [SLOTS, 2, 384, 384],
    }
    assert card["summary"]["parameters"] == sum(p.numel() for p in model.parameters())
    lines = (run / "metrics.csv").read_text().splitlines()
    assert lines[0] == "epoch,lr,train_loss,val_iou,val_f1,seconds"
    assert [line.split(",")[0] for line in lines[1:]] == ["1", "2"]
    assert 1 <= result.best_epoch <= 2
    assert any(s.phase == "train" and s.loss >= 0 for s in steps)
    assert [s.epoch for s in steps if s.phase == "val"] == [1, 2]


def test_fit_is_reproducible_and_resumes(trained, stack_dir, shifted_stack, tmp_path):
    _, first, _ = trained
    # Same seed, other worker count: same weights.
    again = fit(tiny(), stack_dir, tmp_path / "again", resume=False)
    assert again.model is not None and first.model is not None
    for (k, a), b in zip(
        first.model.state_dict().items(), again.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b), k
    # Resume: 2 epochs done, ask for 3 -> only epoch 3 runs and metrics keep epochs 1, 2.
    more = fit(tiny(epochs=3), stack_dir, tmp_path / "again")
    assert [int(r["epoch"]) for r in more.metrics] == [1, 2, 3]
    straight = fit(tiny(epochs=3), stack_dir, tmp_path / "straight")
    assert straight.model is not None and more.model is not None
    for a, b in zip(
        more.model.state_dict().values(), straight.model.state_dict().values(), strict=True
    ):
        assert torch.allclose(a, b, atol=1e-6)
    # Nothing left to do.
    done = fit(tiny(epochs=3), stack_dir, tmp_path / "again")
    assert done.last_epoch == 3
    # Other settings refuse to resume, and so do other stacks.
    with pytest.raises(InputError, match="other settings"):
        fit(tiny(epochs=4, lr=1e-3), stack_dir, tmp_path / "again")
    with pytest.raises(InputError, match="trained on other stacks"):
        fit(tiny(epochs=4), [stack_dir, shifted_stack], tmp_path / "again")


def test_evaluate_metrics_and_card_mismatch(trained, stack_dir, tmp_path):
    run, _, _ = trained
    metrics = evaluate(run / "best", stack_dir, split="test")
    for key in ("precision", "recall", "f1", "iou"):
        assert math.isnan(metrics[key]) or 0.0 <= metrics[key] <= 1.0
    assert metrics["n_times"] == SLOTS and metrics["tiles"]
    one = evaluate(run / "best.safetensors", stack_dir, acquisitions=1)
    assert one["n_times"] == 1
    # A card naming other channels: an InputError that says what the weights expect.
    import shutil

    for suffix in (".safetensors", ".json"):
        shutil.copy(run / f"best{suffix}", tmp_path / f"other{suffix}")
    card = json.loads((tmp_path / "other.json").read_text())
    card["channels"] = ["copol_db", "crosspol_db"]
    (tmp_path / "other.json").write_text(json.dumps(card))
    with pytest.raises(InputError, match="expect"):
        evaluate(tmp_path / "other", stack_dir)


def test_cli_train_and_evaluate(run_cli, stack_dir, tmp_path):
    out = tmp_path / "cli-run"
    result = run_cli(
        "train",
        "--stack",
        stack_dir,
        "-o",
        out,
        "--epochs",
        "2",
        "--patch",
        "64",
        "--batch-size",
        "2",
        "--samples-per-epoch",
        "2",
        "--widths",
        "8,16",
        "--workers",
        "0",
    )
    assert result.exit_code == 0, result.stderr
    assert "best val IoU" in result.stdout
    assert (out / "best.safetensors").is_file()
    # Off a terminal (a log file, cron): one plain line per epoch, with loss, val IoU and ETA.
    epochs = [line for line in result.stderr.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in epochs] == ["1/2", "2/2"], result.stderr
    assert all(f in epochs[0] for f in ("loss 0.", "val IoU ", "elapsed 0:00:", "ETA 0:00:"))
    # The same command again continues the run (nothing left to do); --overwrite starts it over.
    again = run_cli("train", "--stack", stack_dir, "-o", out, "--epochs", "2", "--patch", "64")
    assert again.exit_code == 2 and "other settings" in again.stderr  # continues, so must match
    fresh = run_cli(
        "train", "--stack", stack_dir, "-o", out, "--epochs", "1", "--patch", "64",
        "--batch-size", "2", "--samples-per-epoch", "2", "--widths", "8,16", "--workers", "0",
        "--overwrite",
    )  # fmt: skip
    assert fresh.exit_code == 0, fresh.stderr
    assert [line.split()[1] for line in fresh.stderr.splitlines() if line.startswith("epoch ")] == [
        "1/1"
    ]
    recipe = json.loads((out / "config.json").read_text())
    assert recipe["focal_alpha"] is None and recipe["first_cycle"] == 10  # the defaults
    sha = json.loads((out / "best.json").read_text())["sha256"]
    result = run_cli(
        "evaluate", out / "best", "--stack", stack_dir, "--acquisitions", "1,3,15", "--record"
    )
    assert result.exit_code == 0, result.stderr
    for word in ("Precision", "Recall", "F1", "IoU"):
        assert word in result.stdout
    assert "Card IoU" not in result.stdout  # nothing recorded before this run
    card = json.loads((out / "best.json").read_text())
    assert card["sha256"] == sha
    recorded = {e["n_times"]: e for e in card["evaluation"]}
    every = EXAMPLE_STACK_SLOTS  # 15 asked, the stack has fewer
    assert sorted(recorded) == [1, 3, every]
    assert recorded[every]["split"] == "test" and recorded[every]["stack"]["region"] == "example"
    # A second evaluation of the same weights, stack, split and dates shows the card's IoU beside its
    # own, and they agree (evaluation is deterministic on CPU).
    result = run_cli("evaluate", out / "best", "--stack", stack_dir, "--acquisitions", "15")
    assert result.exit_code == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.strip("│ ").startswith("15"))
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    # Acquisitions, Precision, Recall, F1, IoU, ECE, Card IoU
    assert "Card IoU" in result.stdout and cells[4] == cells[6] == f"{recorded[every]['iou']:.3f}"
    result = run_cli("evaluate", out / "best")
    assert result.exit_code == 2
    assert "--stack" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_cli_train_recipe_from_config_file(run_cli, stack_dir, tmp_path):
    """[train] in the config file sets the recipe; the command line still wins; typos are errors."""
    config = tmp_path / "glaciermap.toml"
    config.write_text(
        "[train]\nepochs = 1\npatch = 32\nbatch-size = 2\nsamples_per_epoch = 2\n"
        'widths = "4,8"\nworkers = 0\nfocal-alpha = 0.4\nfirst-cycle = 3\nlabel-smoothing = 0.2\n'
    )
    out = tmp_path / "cfg-run"
    result = run_cli("--config", config, "train", "--stack", stack_dir, "-o", out, "--seed", "5")
    assert result.exit_code == 0, result.stderr
    recipe = json.loads((out / "config.json").read_text())
    assert (recipe["patch"], recipe["first_cycle"], recipe["seed"]) == (32, 3, 5)
    assert recipe["focal_alpha"] == 0.4 and recipe["label_smoothing"] == 0.2
    assert recipe["model_kwargs"] == {"widths": [4, 8]}
    config.write_text("[train]\nepoch = 3\n")
    result = run_cli("--config", config, "train", "--stack", stack_dir, "-o", out)
    assert result.exit_code == 2
    assert "no setting 'epoch'" in result.stderr and "epochs" in result.stderr


def _card(path: Path) -> dict:
    return json.loads(Path(path).with_suffix(".json").read_text())


def _train_args(*extra) -> list:
    return [
        "train", "--epochs", "1", "--patch", "64", "--batch-size", "2", "--samples-per-epoch", "2",
        "--workers", "0", *extra,
    ]  # fmt: skip


def test_fit_on_two_stacks_pools_statistics_and_validation(
    trained, stack_dir, shifted_stack, tmp_path
):
    from conftest import SHIFT_DB

    run = tmp_path / "two"
    fit(tiny(epochs=1, scene_augment=True), [stack_dir, shifted_stack], run)
    card = _card(run / "best")
    meta = json.loads((stack_dir / "stack.json").read_text())["normalisation"]
    norm = card["normalisation"]
    assert norm["mode"] == "global" and norm["stacks"] == 2 and norm["weighting"] == "pixels"
    # Same pixels, backscatter SHIFT_DB higher in one: the mean halfway, the spread wider.
    copol = norm["copol_db"]
    assert copol["mean"] == pytest.approx(meta["copol_db"]["mean"] + SHIFT_DB / 2)
    expected_std = math.hypot(meta["copol_db"]["std"], SHIFT_DB / 2)
    assert copol["std"] == pytest.approx(expected_std)
    assert copol["count"] == 2 * meta["copol_db"]["count"]
    assert norm["coherence"]["mean"] == pytest.approx(meta["coherence"]["mean"])
    stacks = card["training_data"]
    assert [d["name"] for d in stacks] == ["example-2016", "example-2016#2"]
    assert [d["stack"] for d in stacks] == [str(stack_dir.resolve()), str(shifted_stack.resolve())]
    assert stacks[1]["normalisation"]["copol_db"]["mean"] == pytest.approx(
        meta["copol_db"]["mean"] + SHIFT_DB
    )
    assert card["recipe"]["scene_augment"] is True
    # Validation pooled the val tiles of both stacks: twice the pixels of one.
    one = _card(trained[0] / "best")["metrics"]["val"]
    two = card["metrics"]["val"]
    total = sum(one[k] for k in ("tp", "fp", "fn", "tn"))
    assert sum(two[k] for k in ("tp", "fp", "fn", "tn")) == 2 * total > 0
    # The best weights were calibrated on those val tiles: a temperature that lowers the ECE.
    calibration = card["calibration"]
    assert calibration["temperature"] > 0 and calibration["pixels"] > 0
    assert calibration["ece_after"] <= calibration["ece_before"]
    assert [f["name"] for f in calibration["fitted_on"]] == ["example-2016", "example-2016#2"]


def test_cli_train_on_several_stacks(run_cli, stack_dir, shifted_stack, tmp_path):
    import os

    lists = tmp_path / "lists"
    lists.mkdir()
    listing = lists / "stacks.txt"
    relative = os.path.relpath(shifted_stack, lists)
    listing.write_text(f"# the other year\n\n{relative}   # shifted by 5 dB\n")
    out = tmp_path / "multi"
    result = run_cli(
        *_train_args("--stack", stack_dir, "--stacks", listing, "-o", out, "--widths", "8,16"),
        "--normalisation", "stack", "--scene-augment",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    card = _card(out / "best")
    assert card["normalisation"] == {"mode": "per-stack", "tiles": "train"}
    assert [d["stack"] for d in card["training_data"]] == [
        str(stack_dir.resolve()),
        str(shifted_stack.resolve()),
    ]
    assert card["recipe"]["normalisation"] == "stack" and card["recipe"]["scene_augment"]
    # The config file's [train] table takes a list of stacks too.
    config = tmp_path / "glaciermap.toml"
    config.write_text(f"[train]\nstack = [{str(stack_dir)!r}, {str(shifted_stack)!r}]\n")
    out2 = tmp_path / "from-config"
    result = run_cli("--config", config, *_train_args("-o", out2, "--widths", "8,16"))
    assert result.exit_code == 0, result.stderr
    assert len(_card(out2 / "best")["training_data"]) == 2
    # Stacks that disagree, and list files that name none: one line each, naming the culprit.
    doc = json.loads((stack_dir / "stack.json").read_text())
    chan = tmp_path / "chan"
    chan.mkdir()
    norm = {**doc["normalisation"], "crosspol_db": doc["normalisation"]["coherence"]}
    (chan / "stack.json").write_text(
        json.dumps(dict(doc, channels=["copol_db", "crosspol_db"], normalisation=norm))
    )
    empty = lists / "empty.txt"
    empty.write_text("# nothing yet\n")
    for args, words in [
        (["--stack", stack_dir, "--stack", chan], [str(chan), "channels"]),
        (["--stacks", empty], ["lists no stack"]),
        (["--stacks", lists / "nosuch.txt"], ["cannot read the stack list"]),
        (["--stack", stack_dir, "--normalisation", "both"], ["both"]),
    ]:
        result = run_cli(*_train_args(*args, "-o", tmp_path / "refused"))
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1, result.stderr
        assert lines[0].startswith("error: ") and all(w in lines[0] for w in words), lines


def test_cli_train_with_validation_scenes(run_cli, stack_dir, shifted_stack, tmp_path):
    """--val-stack splits by scene: every tile of the training stack trains, every tile of the
    validation stack is scored and calibrates the best weights; the card says which."""
    meta = json.loads((stack_dir / "stack.json").read_text())
    out = tmp_path / "by-scene"
    args = _train_args("--stack", stack_dir, "--val-stack", shifted_stack, "--widths", "8,16")
    result = run_cli(*args, "-o", out)
    assert result.exit_code == 0, result.stderr
    card = _card(out / "best")
    (trained_on,) = card["training_data"]
    assert trained_on["train_tiles"] == meta["tiles"]  # every split of a training scene
    (validated,) = card["metrics"]["validation_data"]
    assert validated["stack"] == str(shifted_stack.resolve())
    assert validated["tiles"] == meta["tiles"]
    scored = card["metrics"]["val"]
    assert sum(scored[k] for k in ("tp", "fp", "fn", "tn")) > 0
    assert [f["split"] for f in card["calibration"]["fitted_on"]] == ["all"]
    # Continuing the run with other validation scenes, or a scene on both sides: one line each.
    for extra, words in [
        (["--stack", stack_dir, "-o", out], ["validated on other stacks", str(shifted_stack)]),
        (
            ["--stack", stack_dir, "--val-stack", stack_dir, "-o", tmp_path / "both"],
            ["both a training and a validation stack"],
        ),
    ]:
        result = run_cli(*_train_args(*extra, "--epochs", "2", "--widths", "8,16"))
        lines = result.stderr.strip().splitlines()
        assert result.exit_code == 2 and len(lines) == 1, result.stderr
        assert all(w in lines[0] for w in words), lines
    assert not (tmp_path / "both").exists()


@pytest.fixture(scope="module")
def per_stack_run(stack_dir, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("per-stack") / "r"
    fit(tiny(epochs=1, normalisation="stack"), stack_dir, run)
    return run


def test_per_stack_normalisation_in_evaluate_and_predict(
    trained, per_stack_run, stack_dir, shifted_stack, tmp_path
):
    import numpy as np
    import rasterio

    from glaciermap.models.card import ModelCard
    from glaciermap.predict.engine import PredictConfig, predict_stack

    weights = per_stack_run / "best"
    card = ModelCard.read(weights)
    assert card.normalisation_mode == "per-stack" and "copol_db" not in card.normalisation
    with pytest.raises(InputError, match="per-stack"):
        card.statistics(card.channels)
    # Each stack normalised with its own statistics: a stack 5 dB brighter scores the same...
    here = evaluate(weights, stack_dir, split="all")
    there = evaluate(weights, shifted_stack, split="all")
    for key in ("tp", "fp", "fn", "tn"):
        assert abs(here[key] - there[key]) <= 2, key
    # ... and predicts the same probabilities.
    settings = PredictConfig(window=128, overlap=0.25, device="cpu", vectorize=False)

    def probability(weights: Path, stack: Path, name: str):
        result = predict_stack(weights, stack, tmp_path / name, settings)
        with rasterio.open(result.probability) as src:
            return src.read(1)

    a = probability(weights, stack_dir, "a")
    b = probability(weights, shifted_stack, "b")
    np.testing.assert_allclose(a, b, atol=1e-4)
    # Global weights see the shift (the card's statistics for both stacks), in their logits (the
    # calibration temperature of a one-epoch model squeezes its probabilities towards 0.5).
    glob = trained[0] / "best"
    temperature = ModelCard.read(glob).temperature

    def logits(p):
        p = p.astype(np.float64)
        return temperature * np.log(p / (1 - p))

    c, d = probability(glob, stack_dir, "c"), probability(glob, shifted_stack, "d")
    assert np.nanmax(np.abs(logits(c) - logits(d))) > 1e-2


def test_init_starts_from_the_weights_and_checks_their_card(
    run_cli, trained, per_stack_run, stack_dir, tmp_path
):
    from glaciermap.models.card import ModelCard
    from glaciermap.models.weights import load_weights

    init = trained[0] / "best"
    start, start_card = load_weights(init)
    # lr 0: the parameters stay the init weights' (BatchNorm statistics still move).
    tuned = fit(tiny(epochs=1, lr=0.0, init=str(init)), stack_dir, tmp_path / "ft")
    assert tuned.model is not None
    params = dict(tuned.model.named_parameters())
    for name, value in start.named_parameters():
        assert torch.equal(params[name], value), name
    card = _card(tmp_path / "ft" / "best")
    assert card["init"] == {"name": str(init.resolve()), "sha256": start_card.sha256}
    assert card["normalisation"] == {**start_card.normalisation, "mode": "global"}
    # A per-stack init keeps its mode; asking for the other one is refused.
    fit(tiny(epochs=1, init=str(per_stack_run / "best")), stack_dir, tmp_path / "ft2")
    assert ModelCard.read(tmp_path / "ft2" / "best").normalisation_mode == "per-stack"
    # Incompatible cards and settings are refused, naming the init weights.
    import shutil

    for suffix in (".safetensors", ".json"):
        shutil.copy(init.with_suffix(suffix), tmp_path / f"other{suffix}")
    other = _card(tmp_path / "other")
    (tmp_path / "other.json").write_text(json.dumps(dict(other, channels=["hh_db", "coherence"])))
    for overrides, pattern in [
        ({"model_kwargs": {"widths": (4, 8)}}, r"have widths \[8, 16\], not \(4, 8\)"),
        ({"model": "convlstm"}, "are a unet3d model, not convlstm"),
        ({"normalisation": "stack"}, "differs from the init weights' \\(global\\)"),
        ({"init": str(tmp_path / "other")}, "init weights .*other: these weights expect"),
    ]:
        settings = {"epochs": 1, "init": str(init), **overrides}
        with pytest.raises(InputError, match=pattern):
            fit(tiny(**settings), stack_dir, tmp_path / "refused", resume=False)
    # From the command line: --model and --widths follow the init weights.
    out = tmp_path / "cli-ft"
    result = run_cli(*_train_args("--stack", stack_dir, "--init", init, "-o", out))
    assert result.exit_code == 0, result.stderr
    card = _card(out / "best")
    assert card["arguments"]["widths"] == [8, 16] and card["init"]["sha256"] == start_card.sha256
    result = run_cli(*_train_args("--stack", stack_dir, "--init", init, "--model", "convlstm"))
    assert result.exit_code == 2 and len(result.stderr.strip().splitlines()) == 1
    assert "not convlstm" in result.stderr
    result = run_cli(*_train_args("--stack", stack_dir, "--init", tmp_path / "nosuch"))
    assert result.exit_code == 2 and "no weights named" in result.stderr


def test_runs_begun_before_new_settings_still_resume(tmp_path):
    from glaciermap.training.loop import _check_resumable

    saved = tiny().as_dict()
    for key in ("scene_augment", "normalisation", "init"):
        del saved[key]
    saved = json.loads(json.dumps(saved))
    _check_resumable(saved, tiny(), tmp_path / "last.pt")  # the defaults they ran with
    with pytest.raises(InputError, match="scene_augment"):
        _check_resumable(saved, tiny(scene_augment=True), tmp_path / "last.pt")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ddp_worker(rank: int, world: int, port: int, stack: str, run: str, out: str) -> None:
    import os

    from safetensors.torch import save_file

    from glaciermap.training.distributed import cleanup, init_from_env

    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
    )
    torch.set_num_threads(1)
    ctx = init_from_env(device="cpu")
    try:
        result = fit(tiny(epochs=1), stack, run, dist=ctx)
        assert result.model is not None
        save_file(
            {k: v.contiguous() for k, v in result.model.state_dict().items()},
            str(Path(out) / f"rank{rank}.safetensors"),
        )
    finally:
        cleanup()


def test_ddp_two_cpu_ranks_agree(stack_dir, tmp_path):
    import torch.multiprocessing as mp

    run = tmp_path / "ddp"
    mp.spawn(
        _ddp_worker,
        args=(2, _free_port(), str(stack_dir), str(run), str(tmp_path)),
        nprocs=2,
        join=True,
    )
    a, b = _state(tmp_path / "rank0.safetensors"), _state(tmp_path / "rank1.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert (run / "best.safetensors").is_file() and (run / "metrics.csv").is_file()

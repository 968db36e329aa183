"""The model card type: validated on read, unknown keys kept, evaluations recorded by key; no torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from glaciermap.errors import InputError
from glaciermap.models.card import ModelCard, weight_paths

WEIGHTS = Path(__file__).resolve().parents[1] / "weights"


def test_shipped_cards_round_trip_unchanged():
    for name in ("unet3d", "convlstm"):
        card = ModelCard.read(WEIGHTS / name)
        assert card.to_json() == json.loads((WEIGHTS / f"{name}.json").read_text())
        assert card.n_times == 15 and card.channels == ("copol_db", "coherence")


def test_invalid_cards_are_one_line(tmp_path):
    good = json.loads((WEIGHTS / "unet3d.json").read_text())
    path = tmp_path / "w.json"
    for broken, message in [
        ("[1, 2]", "not a JSON object"),
        ("{nope", "not valid JSON"),
        (json.dumps({k: v for k, v in good.items() if k != "sha256"}), "lacks sha256"),
        (json.dumps({**good, "n_times": "fifteen"}), "n_times is not a whole number"),
        (json.dumps({**good, "channels": "copol_db"}), "channels is not a list"),
        (json.dumps({**good, "normalisation": [1, 2]}), "normalisation is not an object"),
        (json.dumps({**good, "training_data": [1]}), "training_data is not an object or a list"),
        (json.dumps({**good, "init": "unet3d"}), "init is not an object"),
    ]:
        path.write_text(broken)
        with pytest.raises(InputError, match=message):
            ModelCard.read(tmp_path / "w")


def test_unknown_keys_survive_and_statistics_are_checked(tmp_path):
    card = ModelCard.from_json(
        {
            "architecture": "unet3d",
            "arguments": {},
            "sha256": "x",
            "future_key": {"a": 1},
            "normalisation": {"copol_db": {"mean": -12.0, "std": 4.0}},
        }
    )
    assert card.to_json()["future_key"] == {"a": 1}
    path = card.write(tmp_path / "c")
    assert path == weight_paths(tmp_path / "c")[1]
    assert ModelCard.read(tmp_path / "c") == card
    assert card.statistics(["copol_db"]) == ([-12.0], [4.0])
    with pytest.raises(InputError, match="no normalisation statistics for copol_db, coherence"):
        card.statistics(["copol_db", "coherence"])


def test_training_data_old_and_new_and_normalisation_modes(tmp_path):
    from glaciermap.stack_format import ChannelNorm, StackGrid, StackMeta

    old = ModelCard.read(WEIGHTS / "ablation" / "unet3d-5acq")  # one stack, as an object
    [stack] = old.training_stacks
    assert stack["region"] == "synthetic" and stack["year"] == 2016
    assert old.normalisation_mode == "global"
    stacks = [{"name": "a-2016", "region": "a", "year": 2016}, {"name": "a-2017", "year": 2017}]
    new = ModelCard(architecture="unet3d", arguments={}, training_data=stacks)
    new.write(tmp_path / "n")
    read = ModelCard.read(tmp_path / "n")
    assert read == new and read.training_stacks == stacks
    assert json.loads((tmp_path / "n.json").read_text())["training_data"] == stacks
    assert ModelCard(architecture="unet3d", arguments={}).training_stacks == []
    # Global cards normalise every stack with their statistics; per-stack cards with the stack's.
    meta = StackMeta(
        region=StackGrid("r", "EPSG:32633", (0.0, 0.0), 1000.0, 10.0, "R"),
        year=2017,
        dates=(),
        tiles=(),
        splits={},
        normalisation={"copol_db": ChannelNorm(-7.0, 3.0), "coherence": ChannelNorm(0.4, 0.2)},
    )
    norm = {"copol_db": {"mean": -12.0, "std": 4.0}, "coherence": {"mean": 0.5, "std": 0.25}}
    glob = ModelCard(architecture="unet3d", arguments={}, normalisation=norm)
    assert glob.input_statistics(meta) == ([-12.0, 0.5], [4.0, 0.25])
    per = ModelCard(
        architecture="unet3d", arguments={}, normalisation={"mode": "per-stack", "tiles": "train"}
    )
    assert per.normalisation_mode == "per-stack"
    assert per.input_statistics(meta) == ([-7.0, 0.4], [3.0, 0.2])
    with pytest.raises(InputError, match="its own statistics"):
        per.statistics(["copol_db"])
    odd = ModelCard(architecture="unet3d", arguments={}, normalisation={"mode": "weekly"})
    with pytest.raises(InputError, match="mode 'weekly' is unknown"):
        odd.input_statistics(meta)


def test_evaluations_are_replaced_by_key():
    card = ModelCard(architecture="unet3d", arguments={})
    result = {
        "stack": {"region": "example", "year": 2016},
        "split": "all",
        "tiles": ["A"],
        "dates": ["2016-08-05"],
        **{k: 0.5 for k in ("precision", "recall", "f1", "iou")},
        **{k: 1 for k in ("tp", "fp", "fn", "tn", "n_times")},
    }
    once = card.with_evaluation(result)
    twice = once.with_evaluation({**result, "iou": 0.9})
    assert len(twice.evaluation) == 1 and twice.evaluation_for(result)["iou"] == 0.9
    other = twice.with_evaluation({**result, "split": "test"})
    assert len(other.evaluation) == 2


def test_reading_a_card_imports_no_torch():
    code = (
        "import sys; from glaciermap.models.card import ModelCard; "
        f"ModelCard.read({str(WEIGHTS / 'unet3d')!r}); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

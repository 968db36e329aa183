"""One shared test class for every registered architecture (shapes, gradients, weights, learning)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
import torch
from torch import nn

from glaciermap.errors import InputError
from glaciermap.models import (
    MODELS,
    check_card_against_stack,
    create_model,
    load_weights,
    model_summary,
    save_weights,
)
from glaciermap.models.blocks import ConvLSTM, TemporalAttention
from glaciermap.models.card import ModelCard

# Small enough for a CPU test; each architecture only states what differs from the shared tests.
TINY: dict[str, dict[str, Any]] = {
    "unet3d": {"widths": (8, 16), "n_times": 3},
    "convlstm": {"widths": (8, 16), "n_times": 3},
}


@pytest.fixture(autouse=True)
def _seed() -> None:
    torch.manual_seed(0)


def glacier_batch(b: int = 2, t: int = 3, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch whose glacier blob is visible only in the temporal pattern of the backscatter.

    Each pixel's co-pol series is one of two patterns times a random sign: inside the blob the first two
    dates agree, outside they disagree. Every single date (and the mean over time) has the same
    distribution inside and outside, so only comparing dates separates the classes. Coherence is noise.
    """
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    labels = []
    for i in range(b):
        cy, cx, r = 10 + 10 * i, 20 - 8 * i, 7 + i
        labels.append((((yy - cy) ** 2 + (xx - cx) ** 2) < r**2).float())
    label = torch.stack(labels)[:, None]  # (B, 1, H, W), broadcast over T
    inside = torch.tensor([1.0, 1.0, -1.0]).repeat(t)[:t].view(1, t, 1, 1)
    outside = torch.tensor([1.0, -1.0, 1.0]).repeat(t)[:t].view(1, t, 1, 1)
    sign = torch.randint(0, 2, (b, 1, size, size)).float() * 2 - 1
    copol = sign * (label * inside + (1 - label) * outside) + 0.1 * torch.randn(b, t, size, size)
    coherence = 0.5 + 0.1 * torch.randn(b, t, size, size)
    return torch.stack([copol, coherence], dim=2), label[:, 0]


def iou(logits: torch.Tensor, label: torch.Tensor) -> float:
    pred = logits[:, 0] > 0
    truth = label > 0.5
    return float((pred & truth).sum() / (pred | truth).sum().clamp(min=1))


@pytest.fixture(params=sorted(MODELS))
def arch(request: pytest.FixtureRequest) -> str:
    return str(request.param)


class TestModels:
    """Everything a registered architecture must do; parametrised over the registry."""

    def model(self, arch: str) -> nn.Module:
        return create_model(arch, **TINY[arch])

    def test_output_shape(self, arch: str) -> None:
        model = self.model(arch)
        out = model(torch.randn(2, 3, 2, 16, 24))
        assert out.shape == (2, 1, 16, 24)
        if getattr(model, "accepts_variable_t", False):
            assert model(torch.randn(1, 5, 2, 8, 8)).shape == (1, 1, 8, 8)
            assert model(torch.randn(1, 1, 2, 8, 8)).shape == (1, 1, 8, 8)

    def test_bad_size_says_how_to_fix(self, arch: str) -> None:
        model = create_model(arch, widths=(4, 8, 8))
        with pytest.raises(ValueError, match="pad or crop H and W to a multiple of 4"):
            model(torch.randn(1, 3, 2, 16, 18))
        with pytest.raises(ValueError, match=r"\(B, T, C=2, H, W\)"):
            model(torch.randn(1, 3, 16, 16))

    def test_gradient_reaches_every_parameter(self, arch: str) -> None:
        model = self.model(arch)
        x, label = glacier_batch(t=3, size=16)
        loss = nn.functional.binary_cross_entropy_with_logits(model(x)[:, 0], label)
        loss.backward()
        for name, p in model.named_parameters():
            assert p.grad is not None, name
            assert p.grad.abs().sum() > 0, name

    def test_weights_round_trip(self, arch: str, tmp_path) -> None:
        model = self.model(arch)
        x, _ = glacier_batch(t=3, size=16)
        model(x)  # move the BatchNorm running statistics away from their initial values
        model.eval()
        card = save_weights(model, tmp_path / "tiny", {"normalisation": {"copol_db": [-12.0, 4.0]}})
        assert (tmp_path / "tiny.safetensors").is_file()
        on_disk = json.loads((tmp_path / "tiny.json").read_text())
        assert on_disk == card.to_json()
        assert on_disk["architecture"] == arch
        assert on_disk["n_times"] == 3
        assert on_disk["channels"] == ["copol_db", "coherence"]
        loaded, loaded_card = load_weights(tmp_path / "tiny.safetensors")
        assert loaded_card == card
        assert type(loaded) is type(model)
        with torch.no_grad():
            assert torch.equal(loaded(x), model(x))

    def test_tampered_or_mismatched_weights(self, arch: str, tmp_path) -> None:
        model = self.model(arch)
        save_weights(model, tmp_path / "w")
        card_path, tensors_path = tmp_path / "w.json", tmp_path / "w.safetensors"
        card = json.loads(card_path.read_text())

        # Wrong shapes: the card describes another width than the tensors hold.
        card_path.write_text(
            json.dumps({**card, "arguments": {**card["arguments"], "widths": [4, 8]}})
        )
        with pytest.raises(InputError, match="does not fit"):
            load_weights(tmp_path / "w")
        card_path.write_text(json.dumps({**card, "architecture": "resnet"}))
        with pytest.raises(InputError, match="unknown model architecture"):
            load_weights(tmp_path / "w")
        card_path.write_text(json.dumps(card))

        data = bytearray(tensors_path.read_bytes())
        data[-1] ^= 0xFF
        tensors_path.write_bytes(bytes(data))
        with pytest.raises(InputError, match="does not match its card"):
            load_weights(tmp_path / "w")

        card_path.unlink()
        with pytest.raises(InputError, match=r"card .* not found"):
            load_weights(tmp_path / "w")

    def test_card_against_stack(self, arch: str, monkeypatch) -> None:
        card = ModelCard(architecture=arch, arguments={}, n_times=15)
        check_card_against_stack(card, 15, ["copol_db", "coherence"])
        with pytest.raises(InputError, match=r"expect .* of \[copol_db, coherence\]"):
            check_card_against_stack(card, 15, ["copol_db"])
        normalised = dataclasses.replace(card, normalisation={"mean": [0.0]})
        with pytest.raises(InputError, match="normalised"):
            check_card_against_stack(normalised, 15, card.channels, {"mean": [1.0]})
        # A fixed-T architecture must be given the T it was trained on.
        monkeypatch.setattr(MODELS[arch], "accepts_variable_t", False)
        with pytest.raises(InputError, match="expect T=15 acquisitions"):
            check_card_against_stack(card, 12, ["copol_db", "coherence"])

    def test_overfits_one_batch(self, arch: str) -> None:
        model = self.model(arch)
        x, label = glacier_batch(b=2, t=3, size=32)
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
        best = 0.0
        for step in range(300):
            model.train()
            optimiser.zero_grad()
            loss = nn.functional.binary_cross_entropy_with_logits(model(x)[:, 0], label)
            loss.backward()
            optimiser.step()
            if step % 10 == 9:
                model.eval()
                with torch.no_grad():
                    best = iou(model(x), label)
                if best > 0.99:
                    break
        assert best > 0.99, f"IoU {best:.3f} after {step + 1} steps"

    def test_summary_of_default_model(self, arch: str) -> None:
        model = create_model(arch)
        summary = model_summary(model, 15, 2, 384, 384)
        assert summary["parameters"] > 0
        assert summary["flops_per_pixel"] > 0
        assert summary["parameters"] * 4 < 20e6 / 2  # well under 20 MB of float32 weights


def test_unknown_model_lists_known_ones() -> None:
    with pytest.raises(InputError, match="convlstm, unet3d"):
        create_model("segformer")


def test_temporal_attention_is_a_convex_combination_over_any_t() -> None:
    attention = TemporalAttention(4)
    for t in (1, 2, 7):
        x = torch.randn(2, 4, t, 3, 3)
        out = attention(x)
        assert out.shape == (2, 4, 3, 3)
        assert torch.all(out <= x.amax(dim=2) + 1e-6)
        assert torch.all(out >= x.amin(dim=2) - 1e-6)
    same = torch.randn(1, 4, 1, 3, 3).expand(1, 4, 5, 3, 3)
    assert torch.allclose(attention(same), same[:, :, 0], atol=1e-6)


@pytest.mark.parametrize("bidirectional", [False, True])
def test_convlstm_layer_shapes(bidirectional: bool) -> None:
    layer = ConvLSTM(3, 4, 3, bidirectional=bidirectional)
    sequence, last = layer(torch.randn(2, 5, 3, 6, 7))
    d = 2 if bidirectional else 1
    assert sequence.shape == (2, 5, 4 * d, 6, 7)
    assert last.shape == (2, 4 * d, 6, 7)
    assert torch.equal(last[:, :4], sequence[:, -1, :4])
    if bidirectional:
        assert torch.equal(last[:, 4:], sequence[:, 0, 4:])

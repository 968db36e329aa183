"""The prediction-time rewrite of a network (BatchNorms folded, channels-last) keeps its outputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from glaciermap.models import MODELS, create_model
from glaciermap.models.inference import channels_innermost, fold_batch_norms, for_inference


def trained_like(arch: str) -> nn.Module:
    """A small network whose BatchNorms hold non-trivial statistics and affine terms, as after training
    (a fresh BatchNorm is the identity in eval mode, which would make folding trivially exact)."""
    torch.manual_seed(0)
    model = create_model(arch, widths=(8, 16, 32), n_times=4)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d | nn.BatchNorm3d):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n))
            module.running_var.copy_(torch.rand(n) * 2 + 0.2)
            with torch.no_grad():
                module.weight.copy_(torch.randn(n))
                module.bias.copy_(torch.randn(n))
    return model.eval()


@pytest.mark.parametrize("arch", sorted(MODELS))
@pytest.mark.parametrize("channels_last", [False, True])
def test_prepared_model_gives_the_same_logits(arch: str, channels_last: bool) -> None:
    model = trained_like(arch)
    x = torch.randn(2, 4, 2, 32, 40)
    with torch.inference_mode():
        expected = model(x)
        prepared = for_inference(model, channels_last=channels_last)
        got = prepared(x)
    assert got.shape == expected.shape == (2, 1, 32, 40)
    assert torch.allclose(got, expected, atol=1e-4, rtol=1e-4)
    assert not any(isinstance(m, nn.BatchNorm2d | nn.BatchNorm3d) for m in prepared.modules()), (
        "every BatchNorm is folded"
    )
    assert prepared.stride == model.stride


@pytest.mark.parametrize("arch", sorted(MODELS))
def test_the_trained_model_is_left_as_it_was(arch: str) -> None:
    model = trained_like(arch)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    for_inference(model)
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert any(isinstance(m, nn.BatchNorm3d | nn.BatchNorm2d) for m in model.modules())


def test_channels_last_weights_and_activations() -> None:
    prepared = for_inference(trained_like("unet3d"))
    convs3d = [m for m in prepared.modules() if isinstance(m, nn.Conv3d)]
    assert convs3d
    assert all(m.weight.is_contiguous(memory_format=torch.channels_last_3d) for m in convs3d)
    x = torch.randn(1, 3, 2, 8, 8)
    inner = channels_innermost(x)
    assert torch.equal(inner, x)
    assert inner.permute(0, 2, 1, 3, 4).is_contiguous(memory_format=torch.channels_last_3d)
    assert inner.reshape(3, 2, 8, 8).is_contiguous(memory_format=torch.channels_last)
    again = channels_innermost(inner)
    assert again.data_ptr() == inner.data_ptr(), "no copy when the batch is laid out already"


def test_folding_needs_eval_mode() -> None:
    model = create_model("unet3d", widths=(8, 16), n_times=2)
    with pytest.raises(ValueError, match="eval"):
        fold_batch_norms(model.train())

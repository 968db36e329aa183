"""The network of the sweep: the device it runs on and the batch function around the prepared model."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from glaciermap.errors import InputError
from glaciermap.workers import available_cpus

BatchFn = Callable[[np.ndarray], np.ndarray]
"""``(B, T, C, w, w)`` float32 inputs -> ``(B, w, w)`` float32 outputs (probabilities)."""


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; asking for CUDA without one is an :class:`InputError`."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise InputError(f"unknown device {name!r}", "use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise InputError(
            "--device cuda was asked for but torch sees no CUDA GPU here",
            "use --device cpu (or auto), or install a CUDA build of torch",
        )
    if (
        device.type == "cuda"
        and device.index is not None
        and device.index >= torch.cuda.device_count()
    ):
        raise InputError(
            f"there is no {name}: torch sees {torch.cuda.device_count()} GPU(s)",
            "pick an existing index or use --device cuda",
        )
    return device


def use_cpu_threads(device: torch.device, threads: int = 0) -> None:
    """On CPU, let torch use ``threads`` threads (0: every CPU this process may use, not the
    machine's count)."""
    if device.type == "cpu":
        torch.set_num_threads(threads if threads > 0 else available_cpus())


def torch_batch_fn(
    model: nn.Module,
    device: torch.device,
    *,
    tta: bool = False,
    amp: bool = True,
    channels_last: bool = True,
    temperature: float = 1.0,
) -> BatchFn:
    """The model as a batch function: sigmoid of the logits divided by ``temperature`` (the card's
    calibration; 1.0 for none), averaged over flips with ``tta``.

    The model runs as :func:`~glaciermap.models.inference.for_inference` prepares it (BatchNorms
    folded; channels-last with ``channels_last``), a copy: ``model`` itself is not changed. On CUDA:
    pinned host memory and asynchronous copies, bf16 autocast where supported (fp16 otherwise).
    """
    from glaciermap.models.inference import for_inference

    model = for_inference(model.to(device).eval(), channels_last=channels_last)
    cuda = device.type == "cuda"
    dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float16
    use_amp = amp and cuda
    flips: list[tuple[int, ...]] = [(), (-1,), (-2,), (-2, -1)] if tta else [()]

    def run(batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch)
        if cuda:
            x = x.pin_memory().to(device, non_blocking=True)
        total: torch.Tensor | None = None
        with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=use_amp):
            for dims in flips:
                inp = x.flip(dims) if dims else x
                prob = torch.sigmoid(model(inp).float() / temperature)
                prob = prob.flip(dims) if dims else prob
                total = prob if total is None else total + prob
        assert total is not None
        return (total / len(flips))[:, 0].cpu().numpy().astype(np.float32, copy=False)

    return run


__all__ = ["BatchFn", "resolve_device", "torch_batch_fn", "use_cpu_threads"]

"""Benchmark training throughput: samples/s per model, and how close the step gets to the convolutions' speed.

Run by hand (not by pytest); figures go into the issue note. In ONE run, for each registered model:

1. **samples/s** of full training steps (forward, focal loss, backward, Adam step) on random
   ``(B, T, C, P, P)`` batches (data loading excluded: the loader runs in worker processes beside the step);
2. **GFLOP/s of the step**: FLOPs of one forward + backward counted with ``torch.utils.flop_counter``
   divided by the measured step time;
3. **GFLOP/s of the same convolutions in a tight loop**: every convolution layer of the model, captured with
   its real input shape, run alone forward + backward many times; the ratio step/tight says how much of the
   step is spent outside the convolutions (normalisation, activations, LSTM gates, the optimiser, Python).

Usage: python bench/train.py [--patch 128] [--batch 2] [--times 15] [--steps 5] [--device cpu|cuda]
       python bench/train.py --smoke --out /tmp/train.json   (seconds: checks the script runs)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from glaciermap.models import create_model
from glaciermap.models.registry import MODELS
from glaciermap.training.losses import FocalLoss

CONVS = (nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def step_flops(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: nn.Module) -> int:
    """FLOPs of one forward + backward pass."""
    with FlopCounterMode(display=False) as counter:
        loss_fn(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def time_steps(model, x, y, loss_fn, steps: int, device) -> float:  # type: ignore[no-untyped-def]
    """Seconds per full training step (after one warm-up step)."""
    opt = torch.optim.Adam(model.parameters(), lr=5e-4)

    def one() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        opt.step()

    one()
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
        one()
    _sync(device)
    return (time.perf_counter() - start) / steps


def conv_inputs(model: nn.Module, x: torch.Tensor) -> list[tuple[nn.Module, torch.Size]]:
    """Every convolution of the model with the shape of the input it sees (one forward pass)."""
    seen: list[tuple[nn.Module, torch.Size]] = []
    hooks = [
        m.register_forward_hook(lambda mod, inp, out: seen.append((mod, inp[0].shape)))
        for m in model.modules()
        if isinstance(m, CONVS)
    ]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return seen


def tight_loop(convs: list[tuple[nn.Module, torch.Size]], steps: int, device) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """(FLOPs, seconds) of every convolution alone, forward + backward, ``steps`` times each."""
    total_flops, total_s = 0, 0.0
    for conv, shape in convs:
        x = torch.randn(shape, device=device, requires_grad=True)
        with FlopCounterMode(display=False) as counter:
            conv(x).sum().backward()
        flops = int(counter.get_total_flops())
        _sync(device)
        start = time.perf_counter()
        for _ in range(steps):
            conv(x).sum().backward()
        _sync(device)
        total_s += (time.perf_counter() - start) / steps
        total_flops += flops
        conv.zero_grad(set_to_none=True)
    return total_flops, total_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patch", type=int, default=128, help="patch size (384 is the paper's)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--times", type=int, default=15, help="acquisitions T")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "train.json")
    parser.add_argument("--smoke", action="store_true", help="patch 32, T 3, 1 step")
    args = parser.parse_args()
    if args.smoke:
        args.patch, args.batch, args.times, args.steps = 32, 1, 3, 1
    device = torch.device(args.device)
    torch.manual_seed(0)
    results = {}
    for name in MODELS:
        model = create_model(name).to(device).train()
        x = torch.randn(args.batch, args.times, 2, args.patch, args.patch, device=device)
        y = (torch.rand(args.batch, args.patch, args.patch, device=device) > 0.5).to(torch.uint8)
        loss_fn = FocalLoss()
        flops = step_flops(model, x, y, loss_fn)
        seconds = time_steps(model, x, y, loss_fn, args.steps, device)
        conv_flops, conv_s = tight_loop(conv_inputs(model, x), args.steps, device)
        step_gflops = flops / seconds / 1e9
        tight_gflops = conv_flops / conv_s / 1e9
        results[name] = {
            "samples_per_s": args.batch / seconds,
            "step_s": seconds,
            "step_gflop": flops / 1e9,
            "step_gflops_per_s": step_gflops,
            "conv_tight_gflops_per_s": tight_gflops,
            "ratio_step_to_tight": step_gflops / tight_gflops,
        }
        print(
            f"{name:9s} {args.batch / seconds:7.2f} samples/s  step {seconds:6.3f} s  "
            f"{flops / 1e9:7.1f} GFLOP  {step_gflops:6.1f} GFLOP/s  convs alone {tight_gflops:6.1f} "
            f"GFLOP/s  ratio {step_gflops / tight_gflops:.2f}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    args.out.write_text(json.dumps({"config": config, "results": results}, indent=2) + "\n")
    print(f"device {device}, patch {args.patch}, batch {args.batch}, T {args.times} → {args.out}")


if __name__ == "__main__":
    main()

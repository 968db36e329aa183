"""Learning-rate schedule: cosine decay with warm restarts over cycles of 10, 20, 40, 80 epochs.

Step the scheduler once per epoch (``scheduler.step()``), or with a fractional epoch after each batch
(``scheduler.step(epoch + i / iters_per_epoch)``) for a smooth decay within epochs. The learning rate
restarts at the optimizer's initial value at each of :func:`cycle_ends` (10, 30, 70; training ends at 150).
"""

from __future__ import annotations

import torch
from torch.optim.lr_scheduler import CosineAnnealingWarmRestarts


def warm_restart_schedule(
    optimizer: torch.optim.Optimizer,
    first_cycle: int = 10,
    mult: int = 2,
    eta_min: float = 0.0,
) -> CosineAnnealingWarmRestarts:
    """torch's ``CosineAnnealingWarmRestarts(T_0=first_cycle, T_mult=mult)``: cycles 10, 20, 40, 80."""
    if first_cycle < 1 or mult < 1:
        raise ValueError(f"first_cycle and mult must be >= 1, not {first_cycle}, {mult}")
    return CosineAnnealingWarmRestarts(optimizer, T_0=first_cycle, T_mult=mult, eta_min=eta_min)


def cycle_ends(first: int = 10, mult: int = 2, n: int = 4) -> list[int]:
    """Epochs at which the first ``n`` cycles end: ``[10, 30, 70, 150]`` by default."""
    ends: list[int] = []
    length, total = first, 0
    for _ in range(n):
        total += length
        ends.append(total)
        length *= mult
    return ends

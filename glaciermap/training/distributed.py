"""Training across processes with ``torchrun`` (DistributedDataParallel).

``torchrun --nproc-per-node N -m glaciermap train ...`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR`` and ``MASTER_PORT``; :func:`init_from_env` reads them and joins the process group
(``nccl`` on CUDA, ``gloo`` on CPU). Each rank draws its own share of every epoch's patches
(:class:`RankSampler`: samples ``rank, rank + W, rank + 2W, ...`` of the epoch, which
:class:`~glaciermap.training.dataset.StackPatches` makes from ``(seed, epoch, index)``, so no two ranks
see the same patch), gradients are averaged by DDP, and only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
import torch.distributed as tdist
from torch import nn
from torch.utils.data import Sampler


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: ``rank`` of ``world_size``, on ``device``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def is_main(self) -> bool:
        """Whether this process writes files and reports progress (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def launched_by_torchrun() -> bool:
    """Whether the environment names a process group of more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_env(backend: str | None = None, device: str | None = None) -> DistContext:
    """Join the process group the environment describes (no-op for a single process).

    Args:
        backend: ``"nccl"`` or ``"gloo"``; default nccl when CUDA is available (and no CPU device was
            asked for), gloo otherwise.
        device: ``"cpu"`` to force CPU training; default ``cuda:LOCAL_RANK`` when CUDA is available.
    """
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    use_cuda = torch.cuda.is_available() and device != "cpu"
    dev = torch.device(f"cuda:{local}") if use_cuda else torch.device(device or "cpu")
    if use_cuda:
        torch.cuda.set_device(dev)
    if world > 1 and not tdist.is_initialized():
        tdist.init_process_group(backend=backend or ("nccl" if use_cuda else "gloo"))
    return DistContext(rank, world, local, dev)


def current() -> DistContext | None:
    """The context of an already initialised process group, or None."""
    if not (tdist.is_available() and tdist.is_initialized()):
        return None
    rank, world = tdist.get_rank(), tdist.get_world_size()
    local = int(os.environ.get("LOCAL_RANK", str(rank)))
    if torch.cuda.is_available() and tdist.get_backend() == "nccl":
        return DistContext(rank, world, local, torch.device(f"cuda:{local}"))
    return DistContext(rank, world, local, torch.device("cpu"))


@contextlib.contextmanager
def torchrun_group() -> Iterator[DistContext | None]:
    """The process group ``torchrun`` describes, joined for the block and left after it.

    Yields None when the process was not launched by ``torchrun`` (one process, nothing to join).
    """
    if not launched_by_torchrun():
        yield None
        return
    ctx = init_from_env()
    try:
        yield ctx
    finally:
        cleanup()


def cleanup() -> None:
    """Leave the process group, if one was joined."""
    if tdist.is_available() and tdist.is_initialized():
        tdist.destroy_process_group()


class RankSampler(Sampler[int]):
    """Indices ``rank, rank + W, ...`` of a dataset of ``n`` samples, the same count on every rank.

    Every rank gets ``n // world_size`` indices (the remainder is dropped), so all ranks run the same
    number of steps, which DDP requires. The patch dataset makes sample ``i`` of epoch ``e`` from
    ``(seed, e, i)``, so this is all the shuffling needed; call the dataset's ``set_epoch``.
    """

    def __init__(self, n: int, rank: int, world_size: int) -> None:
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in a world of {world_size}")
        self.n, self.rank, self.world_size = int(n), int(rank), int(world_size)

    def __len__(self) -> int:
        return self.n // self.world_size

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, len(self) * self.world_size, self.world_size))


def wrap_model(model: nn.Module, ctx: DistContext) -> nn.Module:
    """``model`` in :class:`~torch.nn.parallel.DistributedDataParallel` when training on several ranks."""
    if not ctx.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    if ctx.device.type == "cuda":
        return DistributedDataParallel(model, device_ids=[ctx.device.index])
    return DistributedDataParallel(model)


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (or ``model`` itself)."""
    inner = getattr(model, "module", None)
    return inner if isinstance(inner, nn.Module) else model


def all_reduce_sum(tensor: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum ``tensor`` over the ranks in place (no-op on one process); returns it."""
    if ctx.distributed:
        tdist.all_reduce(tensor, op=tdist.ReduceOp.SUM)
    return tensor


def sync_buffers(model: nn.Module, ctx: DistContext) -> None:
    """Copy rank 0's buffers (batch-norm running statistics) to every rank.

    DDP broadcasts buffers before each forward pass, so after the last step of an epoch each rank holds
    the statistics of its own last batch; this makes validation and checkpoints identical on all ranks.
    """
    if ctx.distributed:
        for buffer in model.buffers():
            tdist.broadcast(buffer.data, src=0)


def barrier(ctx: DistContext) -> None:
    if ctx.distributed:
        tdist.barrier()


__all__ = [
    "DistContext",
    "RankSampler",
    "all_reduce_sum",
    "barrier",
    "cleanup",
    "current",
    "init_from_env",
    "launched_by_torchrun",
    "sync_buffers",
    "torchrun_group",
    "unwrap",
    "wrap_model",
]

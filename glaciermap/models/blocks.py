"""Building blocks shared by the glacier segmentation networks.

Layouts are written on every block: 2D blocks take ``(B, C, H, W)``, 3D blocks ``(B, C, T, H, W)`` (what
``Conv3d`` wants) and the ConvLSTM layer ``(B, T, C, H, W)`` (the project's batch layout). Convolutions
followed by a normalisation carry no bias: the normalisation would cancel it and leave it untrained.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def check_spatial_size(h: int, w: int, stride: int) -> None:
    """Raise ``ValueError`` unless ``h`` and ``w`` are positive multiples of ``stride``.

    Args:
        h: rows of the input.
        w: columns of the input.
        stride: the network's total down-sampling factor, ``2 ** (depth - 1)``.
    """
    if h <= 0 or w <= 0 or h % stride or w % stride:
        raise ValueError(
            f"input is {h}x{w} pixels, not a multiple of the network's stride {stride}: "
            f"pad or crop H and W to a multiple of {stride}"
        )


def check_batch(x: Tensor, in_channels: int, stride: int) -> None:
    """Raise ``ValueError`` unless ``x`` is a ``(B, T, C, H, W)`` batch the network can take."""
    if x.ndim != 5 or x.shape[2] != in_channels:
        raise ValueError(
            f"expected a batch (B, T, C={in_channels}, H, W), got shape {tuple(x.shape)}"
        )
    check_spatial_size(x.shape[-2], x.shape[-1], stride)


def decode(skips: list[Tensor], decoder: nn.ModuleList, head: nn.Module) -> Tensor:
    """Run the 2D decoder from the deepest skip up and apply the 1x1 head.

    Args:
        skips: (B, C_l, H_l, W_l) 2D features per level, shallowest first (consumed).
        decoder: up blocks, deepest first.
        head: maps the shallowest features to (B, 1, H, W) logits.
    """
    z = skips.pop()
    for up in decoder:
        z = up(z, skips.pop())
    out: Tensor = head(z)
    return out


def check_widths(widths: tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """Validate the per-level channel widths and return them as a tuple."""
    widths = tuple(int(w) for w in widths)
    if len(widths) < 1 or any(w < 2 for w in widths):
        raise ValueError(f"widths must be one or more integers >= 2, got {widths}")
    return widths


class ResidualBlock2d(nn.Module):
    """(conv 3x3 → BatchNorm → ReLU) × 2 plus a skip connection, ``(B, Cin, H, W) → (B, Cout, H, W)``.

    The skip is the identity when the channel count is kept, a 1×1 projection otherwise.
    """

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False)
        self.norm1: nn.Module = nn.BatchNorm2d(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.norm2: nn.Module = nn.BatchNorm2d(out_ch)
        self.act = nn.ReLU(inplace=True)
        self.skip: nn.Module = (
            nn.Identity()
            if in_ch == out_ch
            else nn.Sequential(nn.Conv2d(in_ch, out_ch, 1, bias=False), nn.BatchNorm2d(out_ch))
        )

    def forward(self, x: Tensor) -> Tensor:
        y = self.act(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        return self.act(y + self.skip(x))

    def fold_batch_norms(self) -> None:
        """Fold the BatchNorms into the convolutions (eval mode, in place; for prediction)."""
        fold_residual_norms(self)


class ResidualBlock3d(nn.Module):
    """The 3D residual block, ``(B, Cin, T, H, W) → (B, Cout, T, H, W)``.

    Time is convolved like rows and columns (kernel ``temporal_kernel × 3 × 3``, zero padded so ``T`` is
    kept, whatever it is).
    """

    def __init__(self, in_ch: int, out_ch: int, temporal_kernel: int = 3) -> None:
        super().__init__()
        if temporal_kernel < 1 or temporal_kernel % 2 == 0:
            raise ValueError(
                f"temporal_kernel must be a positive odd number, got {temporal_kernel}"
            )
        kernel = (temporal_kernel, 3, 3)
        padding = (temporal_kernel // 2, 1, 1)
        self.conv1 = nn.Conv3d(in_ch, out_ch, kernel, padding=padding, bias=False)
        self.norm1: nn.Module = nn.BatchNorm3d(out_ch)
        self.conv2 = nn.Conv3d(out_ch, out_ch, kernel, padding=padding, bias=False)
        self.norm2: nn.Module = nn.BatchNorm3d(out_ch)
        self.act = nn.ReLU(inplace=True)
        self.skip: nn.Module = (
            nn.Identity()
            if in_ch == out_ch
            else nn.Sequential(nn.Conv3d(in_ch, out_ch, 1, bias=False), nn.BatchNorm3d(out_ch))
        )

    def forward(self, x: Tensor) -> Tensor:
        y = self.act(self.norm1(self.conv1(x)))
        y = self.norm2(self.conv2(y))
        return self.act(y + self.skip(x))

    def fold_batch_norms(self) -> None:
        """Fold the BatchNorms into the convolutions (eval mode, in place; for prediction)."""
        fold_residual_norms(self)


def fold_residual_norms(block: ResidualBlock2d | ResidualBlock3d) -> None:
    """Fold a residual block's BatchNorms into the convolutions before them (eval mode, in place).

    After it, ``norm1``/``norm2`` are identities and a projecting ``skip`` is one biased convolution;
    the block computes the same function to float rounding (see :mod:`glaciermap.models.inference`).
    """
    if block.training:
        raise ValueError("fold BatchNorms only in eval mode")
    if not isinstance(block.norm1, nn.modules.batchnorm._BatchNorm):
        return  # folded already
    block.conv1 = fuse_conv_bn_eval(block.conv1, block.norm1)
    block.norm1 = nn.Identity()
    assert isinstance(block.norm2, nn.modules.batchnorm._BatchNorm)
    block.conv2 = fuse_conv_bn_eval(block.conv2, block.norm2)
    block.norm2 = nn.Identity()
    if isinstance(block.skip, nn.Sequential):
        conv, norm = block.skip
        assert isinstance(conv, nn.Conv2d | nn.Conv3d)
        assert isinstance(norm, nn.modules.batchnorm._BatchNorm)
        block.skip = fuse_conv_bn_eval(conv, norm)


class UpBlock(nn.Module):
    """Decoder step: up-sample ×2, concatenate the skip, residual block.

    ``(B, Cin, H, W)`` and skip ``(B, Cskip, 2H, 2W)`` → ``(B, Cout, 2H, 2W)``.
    """

    def __init__(self, in_ch: int, skip_ch: int, out_ch: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_ch, out_ch, kernel_size=2, stride=2)
        self.block = ResidualBlock2d(out_ch + skip_ch, out_ch)

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:
        return self.block(torch.cat([self.up(x), skip], dim=1))


class TemporalAttention(nn.Module):
    """Reduce ``(B, C, T, H, W)`` to ``(B, C, H, W)`` by a learned softmax weighting over time.

    Each pixel scores each date from its own features (a two-layer 1×1×1 MLP), the scores are
    soft-maxed over ``T`` and the features averaged with those weights. Works for any ``T >= 1``.
    """

    def __init__(self, channels: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or max(channels // 2, 4)
        self.score = nn.Sequential(
            nn.Conv3d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            # No bias: a constant added to every date's score cancels in the softmax.
            nn.Conv3d(hidden, 1, 1, bias=False),
        )

    def forward(self, x: Tensor) -> Tensor:
        weights = torch.softmax(self.score(x), dim=2)  # (B, 1, T, H, W)
        return (x * weights).sum(dim=2)


class ConvLSTMCell(nn.Module):
    """A convolutional LSTM cell (Shi et al., 2015): all four gates come from one convolution.

    Args:
        in_ch: channels of the input ``x`` ``(B, in_ch, H, W)``.
        hidden_ch: channels of the hidden and cell states ``(B, hidden_ch, H, W)``.
        kernel: odd size of the gate convolution.
    """

    def __init__(self, in_ch: int, hidden_ch: int, kernel: int = 3) -> None:
        super().__init__()
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"kernel must be a positive odd number, got {kernel}")
        self.hidden_ch = hidden_ch
        self.gates = nn.Conv2d(in_ch + hidden_ch, 4 * hidden_ch, kernel, padding=kernel // 2)
        bias = torch.zeros(4 * hidden_ch)
        bias[hidden_ch : 2 * hidden_ch] = (
            1.0  # start by remembering: the usual LSTM forget-gate init
        )
        self.gates.bias = nn.Parameter(bias)

    def init_state(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Zero hidden and cell states matching the batch and size of ``x`` ``(B, C, H, W)``."""
        b, _, h, w = x.shape
        zeros = x.new_zeros(b, self.hidden_ch, h, w)
        return zeros, zeros

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        """One step: ``x`` ``(B, in_ch, H, W)``, ``state = (h, c)`` → the new ``(h, c)``."""
        h, c = state
        i, f, o, g = torch.chunk(self.gates(torch.cat([x, h], dim=1)), 4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class ConvLSTM(nn.Module):
    """A (bi)directional ConvLSTM layer over ``(B, T, C, H, W)``.

    ``forward`` returns the hidden sequence ``(B, T, D·hidden, H, W)`` and the final state
    ``(B, D·hidden, H, W)`` with ``D = 2`` when bidirectional. The final state of the backward direction is
    the one it reaches at the first date, so both directions' final states have seen the whole series.
    """

    def __init__(
        self, in_ch: int, hidden_ch: int, kernel: int = 3, *, bidirectional: bool = False
    ) -> None:
        super().__init__()
        self.forward_cell = ConvLSTMCell(in_ch, hidden_ch, kernel)
        self.backward_cell = ConvLSTMCell(in_ch, hidden_ch, kernel) if bidirectional else None
        self.out_ch = hidden_ch * (2 if bidirectional else 1)

    @staticmethod
    def _run(cell: ConvLSTMCell, steps: list[Tensor]) -> list[Tensor]:
        state = cell.init_state(steps[0])
        hidden = []
        for x in steps:
            state = cell(x, state)
            hidden.append(state[0])
        return hidden

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.ndim != 5:
            raise ValueError(f"ConvLSTM expects (B, T, C, H, W), got shape {tuple(x.shape)}")
        steps = list(x.unbind(dim=1))
        forward_hidden = self._run(self.forward_cell, steps)
        if self.backward_cell is None:
            return torch.stack(forward_hidden, dim=1), forward_hidden[-1]
        backward_hidden = self._run(self.backward_cell, steps[::-1])[::-1]
        sequence = torch.stack(
            [torch.cat(pair, dim=1) for pair in zip(forward_hidden, backward_hidden, strict=True)],
            dim=1,
        )
        last = torch.cat([forward_hidden[-1], backward_hidden[0]], dim=1)
        return sequence, last

"""The residual U-Net that treats time with 3D convolutions (Maslov et al., IGARSS 2024).

The encoder convolves time like rows and columns and pools only in space, so every level keeps all ``T``
dates; a learned softmax weighting over time turns each level's features into a 2D skip connection, and a
2D residual decoder produces one glacier logit per pixel.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn

from glaciermap.models.blocks import (
    ResidualBlock3d,
    TemporalAttention,
    UpBlock,
    check_batch,
    check_widths,
    decode,
)


class UNet3D(nn.Module):
    """3D-convolution residual U-Net: ``(B, T, C, H, W)`` → glacier logits ``(B, 1, H, W)``.

    Args:
        in_channels: channels per date ``C`` (2: co-pol gamma0 dB, 12-day coherence).
        n_times: dates per sample the model is trained on; recorded for the model card only, since the
            network accepts any ``T >= 1``.
        widths: channels per level; ``len(widths)`` is the depth, and ``H``, ``W`` must be multiples of
            ``2 ** (depth - 1)``. The default is the shipped weights' (it learns the simulated benchmark
            to test IoU 0.988 in about an hour on two CPU cores); widen it for real data on a GPU.
        temporal_kernel: odd kernel size along time of the 3D convolutions.
    """

    accepts_variable_t: ClassVar[bool] = True

    def __init__(
        self,
        in_channels: int = 2,
        n_times: int = 15,
        widths: tuple[int, ...] | list[int] = (8, 16, 32, 64),
        temporal_kernel: int = 3,
    ) -> None:
        super().__init__()
        widths = check_widths(widths)
        self.config: dict[str, Any] = {
            "in_channels": in_channels,
            "n_times": n_times,
            "widths": list(widths),
            "temporal_kernel": temporal_kernel,
        }
        self.in_channels = in_channels
        self.n_times = n_times
        self.stride = 2 ** (len(widths) - 1)

        chans = (in_channels, *widths)
        self.encoder = nn.ModuleList(
            ResidualBlock3d(chans[i], chans[i + 1], temporal_kernel) for i in range(len(widths))
        )
        # Pool rows and columns only: the dates stay distinct down to the bottleneck.
        self.pool = nn.MaxPool3d(kernel_size=(1, 2, 2))
        self.aggregate = nn.ModuleList(TemporalAttention(w) for w in widths)
        self.decoder = nn.ModuleList(
            UpBlock(widths[i + 1], widths[i], widths[i]) for i in reversed(range(len(widths) - 1))
        )
        self.head = nn.Conv2d(widths[0], 1, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        """Glacier logits ``(B, 1, H, W)`` for a batch ``(B, T, C, H, W)``."""
        check_batch(x, self.in_channels, self.stride)
        y = x.permute(0, 2, 1, 3, 4)  # Conv3d wants (B, C, T, H, W)
        skips = []
        for level, (block, aggregate) in enumerate(zip(self.encoder, self.aggregate, strict=True)):
            if level:
                y = self.pool(y)
            y = block(y)
            skips.append(aggregate(y))
        return decode(skips, self.decoder, self.head)

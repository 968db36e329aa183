"""The residual U-Net that treats time with ConvLSTM cells (Maslov et al., IGARSS 2024).

Every date goes through the same 2D residual encoder; at each level a (bi)directional ConvLSTM reads the
dates in order and its final state becomes that level's 2D skip connection; a 2D residual decoder
produces one glacier logit per pixel.
"""

from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor, nn

from glaciermap.models.blocks import (
    ConvLSTM,
    ResidualBlock2d,
    UpBlock,
    check_batch,
    check_widths,
    decode,
)


class ConvLSTMUNet(nn.Module):
    """ConvLSTM residual U-Net: ``(B, T, C, H, W)`` → glacier logits ``(B, 1, H, W)``.

    Args:
        in_channels: channels per date ``C`` (2: co-pol gamma0 dB, 12-day coherence).
        n_times: dates per sample the model is trained on; recorded for the model card only, since the
            recurrence accepts any ``T >= 1``.
        widths: channels per level; ``len(widths)`` is the depth, and ``H``, ``W`` must be multiples of
            ``2 ** (depth - 1)``. The default is the shipped weights' (it learns the simulated benchmark
            to test IoU 0.988 in about an hour on two CPU cores); widen it for real data on a GPU.
        bidirectional: read the series both ways; each direction then has ``width // 2`` hidden
            channels and their final states are concatenated, so a skip always has ``width`` channels.
        lstm_kernel: odd kernel size of the ConvLSTM gate convolutions.
    """

    accepts_variable_t: ClassVar[bool] = True

    def __init__(
        self,
        in_channels: int = 2,
        n_times: int = 15,
        widths: tuple[int, ...] | list[int] = (8, 16, 32, 64),
        bidirectional: bool = True,
        lstm_kernel: int = 3,
    ) -> None:
        super().__init__()
        widths = check_widths(widths)
        self.config: dict[str, Any] = {
            "in_channels": in_channels,
            "n_times": n_times,
            "widths": list(widths),
            "bidirectional": bidirectional,
            "lstm_kernel": lstm_kernel,
        }
        self.in_channels = in_channels
        self.n_times = n_times
        self.stride = 2 ** (len(widths) - 1)

        chans = (in_channels, *widths)
        self.encoder = nn.ModuleList(
            ResidualBlock2d(chans[i], chans[i + 1]) for i in range(len(widths))
        )
        self.pool = nn.MaxPool2d(2)
        directions = 2 if bidirectional else 1
        self.temporal = nn.ModuleList(
            ConvLSTM(w, w // directions, lstm_kernel, bidirectional=bidirectional) for w in widths
        )
        skip_chans = [w // directions * directions for w in widths]
        self.decoder = nn.ModuleList(
            UpBlock(skip_chans[i + 1] if i == len(widths) - 2 else widths[i + 1], skip_chans[i], w)
            for i, w in reversed(list(enumerate(widths[:-1])))
        )
        self.head = nn.Conv2d(widths[0], 1, kernel_size=1)

    def forward(self, x: Tensor) -> Tensor:
        """Glacier logits ``(B, 1, H, W)`` for a batch ``(B, T, C, H, W)``."""
        check_batch(x, self.in_channels, self.stride)
        b, t = x.shape[:2]
        y = x.reshape(b * t, *x.shape[2:])  # dates share the encoder: fold T into the batch
        skips = []
        for level, (block, lstm) in enumerate(zip(self.encoder, self.temporal, strict=True)):
            if level:
                y = self.pool(y)
            y = block(y)
            _, last = lstm(y.reshape(b, t, *y.shape[1:]))
            skips.append(last)
        return decode(skips, self.decoder, self.head)

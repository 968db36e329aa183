"""Losses for binary glacier segmentation: focal loss with label smoothing and an ignore index.

Layout: logits ``(B, 1, H, W)`` (or ``(B, H, W)``), labels ``(B, H, W)`` uint8/long with 1 glacier,
0 not glacier and ``ignore_index`` (255) ignored.
"""

from __future__ import annotations

import torch
import torch.nn.functional as nnf
from torch import nn

IGNORE_INDEX = 255
"""Label value that losses and metrics ignore."""


class FocalLoss(nn.Module):
    """Binary focal loss (Lin et al. 2017) on logits, with label smoothing and ignored pixels.

    With ``p = sigmoid(z)`` and the smoothed target ``t = y (1 - eps) + eps / 2``, a pixel costs::

        alpha t (1 - p)^gamma (-log p)  +  (1 - alpha) (1 - t) p^gamma (-log(1 - p))

    i.e. the focal loss of each hard class weighted by the soft target (with hard targets this is the
    usual focal loss). ``alpha`` weighs the glacier class (0.25 as in RetinaNet down-weights it);
    ``alpha=None`` weighs both classes 1. ``gamma=0, alpha=None, label_smoothing=0`` is plain binary
    cross-entropy. Logarithms come from ``logsigmoid``, so large logits stay finite.

    Args:
        gamma: focusing parameter (>= 0).
        alpha: weight of the positive class in [0, 1], or None.
        label_smoothing: ``eps`` in [0, 1).
        ignore_index: label value that contributes nothing.
        reduction: ``"mean"`` over valid pixels (0 when there are none), ``"sum"``, or ``"none"``
            (per-pixel ``(B, H, W)`` with zeros on ignored pixels).
    """

    def __init__(
        self,
        gamma: float = 2.0,
        alpha: float | None = 0.25,
        label_smoothing: float = 0.1,
        ignore_index: int = IGNORE_INDEX,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, not {gamma}")
        if alpha is not None and not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1] or None, not {alpha}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), not {label_smoothing}")
        if reduction not in ("mean", "sum", "none"):
            raise ValueError(f"reduction must be mean, sum or none, not {reduction!r}")
        self.gamma = float(gamma)
        self.alpha = None if alpha is None else float(alpha)
        self.label_smoothing = float(label_smoothing)
        self.ignore_index = int(ignore_index)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return (
            f"gamma={self.gamma}, alpha={self.alpha}, label_smoothing={self.label_smoothing}, "
            f"ignore_index={self.ignore_index}, reduction={self.reduction!r}"
        )

    def forward(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        if logits.dim() == labels.dim() + 1 and logits.shape[1] == 1:
            logits = logits.squeeze(1)
        if logits.shape != labels.shape:
            raise ValueError(
                f"logits {tuple(logits.shape)} do not match labels {tuple(labels.shape)}; "
                "expected (B, 1, H, W) logits and (B, H, W) labels"
            )
        labels = labels.to(device=logits.device)
        valid = labels != self.ignore_index
        logits = logits.float()
        target = (labels == 1).to(logits.dtype)
        eps = self.label_smoothing
        target = target * (1.0 - eps) + eps / 2.0
        log_p = nnf.logsigmoid(logits)  # log p
        log_q = nnf.logsigmoid(-logits)  # log (1 - p)
        pos = -log_p
        neg = -log_q
        if self.gamma:
            pos = pos * torch.exp(self.gamma * log_q)  # (1 - p)^gamma
            neg = neg * torch.exp(self.gamma * log_p)  # p^gamma
        if self.alpha is not None:
            pos = pos * self.alpha
            neg = neg * (1.0 - self.alpha)
        loss = target * pos + (1.0 - target) * neg
        loss = torch.where(valid, loss, torch.zeros_like(loss))
        if self.reduction == "none":
            return loss
        total = loss.sum()
        if self.reduction == "sum":
            return total
        return total / valid.sum().clamp(min=1).to(total.dtype)

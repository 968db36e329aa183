"""Sliding-window prediction of glacier probability over whole stacks (``glaciermap predict``)."""

from glaciermap.predict.engine import PredictConfig, PredictResult, predict_stack
from glaciermap.predict.sliding import RowBlender, WindowPlan, gaussian_weight, plan_windows

__all__ = [
    "PredictConfig",
    "PredictResult",
    "RowBlender",
    "WindowPlan",
    "gaussian_weight",
    "plan_windows",
    "predict_stack",
]

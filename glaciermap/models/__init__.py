"""Neural networks that map glaciers from Sentinel-1 time series, their registry and weight files.

Every model takes a batch ``(B, T, C, H, W)`` and returns glacier logits ``(B, 1, H, W)``.
"""

from glaciermap.models.convlstm_unet import ConvLSTMUNet
from glaciermap.models.registry import MODELS, create_model, model_summary
from glaciermap.models.unet3d import UNet3D
from glaciermap.models.weights import check_card_against_stack, load_weights, save_weights

__all__ = [
    "MODELS",
    "ConvLSTMUNet",
    "UNet3D",
    "check_card_against_stack",
    "create_model",
    "load_weights",
    "model_summary",
    "save_weights",
]

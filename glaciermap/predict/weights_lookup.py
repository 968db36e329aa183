"""Moved to :mod:`glaciermap.models.lookup` (one resolver of weights specs for every command)."""

from glaciermap.models.lookup import SHIPPED_WEIGHTS, find_weights, weight_folders

__all__ = ["SHIPPED_WEIGHTS", "find_weights", "weight_folders"]

"""Infer tasks, generic over the model specs in :mod:`lib.configs`."""
from .landmarks import InvalidParams, LandmarkInferTask

__all__ = ["InvalidParams", "LandmarkInferTask"]

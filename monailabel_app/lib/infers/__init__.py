"""Infer tasks, generic over the model specs in :mod:`lib.configs`."""
from .landmarks import LandmarkInferTask

__all__ = ["LandmarkInferTask"]

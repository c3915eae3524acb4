"""Train tasks, generic over the model specs in :mod:`lib.configs`."""
from .landmarks import LandmarkTrainTask

__all__ = ["LandmarkTrainTask"]

"""Device choice and thread settings."""
from __future__ import annotations

import os

import torch


def resolve_device(name: str | None = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; anything else as torch understands it."""
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but CUDA is not available")
    return dev


def set_cpu_threads(threads: int | None = None) -> None:
    """Use all cores for intra-op work unless OMP_NUM_THREADS says otherwise."""
    if threads is None and "OMP_NUM_THREADS" in os.environ:
        return
    torch.set_num_threads(threads or os.cpu_count() or 1)

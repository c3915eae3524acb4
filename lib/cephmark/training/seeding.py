"""Seeding: one seed per (run seed, epoch, rank), applied at the start of every epoch.

Re-seeding every epoch from (seed, epoch) makes epoch k's randomness independent of what ran
before it, so a run resumed from ``last.pth`` after epoch k reproduces the uninterrupted run.
"""
from __future__ import annotations

import os
import random

import numpy as np
import torch


def epoch_seed(seed: int, epoch: int, rank: int = 0) -> int:
    return int(np.random.SeedSequence([int(seed), int(epoch), int(rank)]).generate_state(1)[0])


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def set_deterministic(enabled: bool) -> tuple | None:
    """Deterministic kernels (warn-only where CUDA lacks one) and no cuDNN autotuning.

    Returns the previous settings for `restore_deterministic` (None when nothing changed)."""
    if not enabled:
        return None
    previous = (torch.are_deterministic_algorithms_enabled(),
                torch.is_deterministic_algorithms_warn_only_enabled(),
                torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    return previous


def restore_deterministic(previous: tuple | None) -> None:
    if previous is None:
        return
    algorithms, warn_only, benchmark, deterministic = previous
    torch.use_deterministic_algorithms(algorithms, warn_only=warn_only)
    torch.backends.cudnn.benchmark = benchmark
    torch.backends.cudnn.deterministic = deterministic

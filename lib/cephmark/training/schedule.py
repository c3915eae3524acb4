"""Learning-rate schedule: linear warm-up, then cosine decay (default) or constant.

Per iteration ``step`` the factor is ``warmup(step) * decay(step)`` with
``warmup = warmup_factor + (1 - warmup_factor) * step / warmup_iters`` until ``warmup_iters``
(MMPose's LinearLR), and ``decay = min + (1 - min) * (1 + cos(pi * step / total)) / 2`` over all
``epochs * iterations per epoch`` steps (cosine) or 1 (constant). Each parameter group's lr is
its base lr (head: lr, backbone: lr * backbone_lr_factor) times the factor. The state is the
step count alone, so a resumed run continues exactly.
"""
from __future__ import annotations

import math

import torch


class LRSchedule:
    def __init__(self, optimizer: torch.optim.Optimizer, base_lrs: list[float], total_iters: int,
                 warmup_iters: int = 0, warmup_factor: float = 1e-3, kind: str = "cosine",
                 min_factor: float = 0.0) -> None:
        if kind not in ("cosine", "constant"):
            raise ValueError(f"unknown lr schedule {kind!r} (cosine or constant)")
        self.optimizer = optimizer
        self.base_lrs = list(base_lrs)
        self.total_iters = max(1, int(total_iters))
        self.warmup_iters = max(0, int(warmup_iters))
        self.warmup_factor = float(warmup_factor)
        self.kind = kind
        self.min_factor = float(min_factor)
        self.step_count = 0

    def factor(self, step: int) -> float:
        f = 1.0
        if step < self.warmup_iters:
            a = step / self.warmup_iters
            f = self.warmup_factor + (1.0 - self.warmup_factor) * a
        if self.kind == "cosine":
            p = min(1.0, step / self.total_iters)
            f *= self.min_factor + (1.0 - self.min_factor) * 0.5 * (1.0 + math.cos(math.pi * p))
        return f

    def apply(self) -> None:
        """Set every group's lr for the current step (call before ``optimizer.step()``)."""
        f = self.factor(self.step_count)
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = base * f

    def step(self) -> None:
        self.step_count += 1

    def state_dict(self) -> dict:
        return {"step": self.step_count, "kind": self.kind, "total_iters": self.total_iters,
                "warmup_iters": self.warmup_iters}

    def load_state_dict(self, state: dict) -> None:
        self.step_count = int(state["step"])

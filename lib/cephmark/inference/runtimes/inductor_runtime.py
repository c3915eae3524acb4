"""AOTInductor (pure torch): the folded network compiled ahead of time to a ``.pt2`` package.

No extra package, but compiling needs a C++ compiler and takes minutes on a CPU (once per
weights and input size: the package is kept in the converted-network cache); later processes
only load the shared library inside it.
"""
from __future__ import annotations

import threading
from pathlib import Path

import torch
from torch import nn

NAME = "inductor"
_PT2 = "model.pt2"


def version() -> str:
    return torch.__version__


def convert(model: nn.Module, n: int, folder: Path) -> None:
    """``model`` (the channels-last folded copy) -> ``folder/model.pt2`` for a 1 x 3 x n x n input."""
    x = torch.zeros(1, 3, n, n).contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        exported = torch.export.export(model, (x,))
        torch._inductor.aoti_compile_and_package(
            exported, package_path=str(folder / _PT2), inductor_configs={"freezing": True})


class InductorRuntime:
    """Callable like the torch model, one image per call (calls serialised: the loaded
    package's runner is not documented as thread-safe)."""

    name = NAME

    def __init__(self, entry: Path, threads: int, num_landmarks: int) -> None:
        self.runner = torch._inductor.aoti_load_package(str(entry / _PT2))
        self.num_landmarks = num_landmarks
        self._lock = threading.Lock()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for xi in x.detach().float().cpu().split(1):
            xi = xi.contiguous(memory_format=torch.channels_last)
            with self._lock, torch.inference_mode():
                out = self.runner(xi)
            outs.append((out[0] if isinstance(out, (list, tuple)) else out).float().contiguous())
        return torch.cat(outs)

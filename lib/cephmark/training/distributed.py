"""Multi-process training with DistributedDataParallel.

``torchrun --nproc_per_node K -m cephmark finetune ...`` sets WORLD_SIZE / RANK / LOCAL_RANK;
when WORLD_SIZE > 1 `init` joins the process group (NCCL on GPU, gloo on CPU) and each rank
uses ``cuda:LOCAL_RANK`` (or the CPU). Rank 0 validates, logs and writes every file; the other
ranks wait at a barrier around those writes and learn rank 0's decision to stop by broadcast.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from cephmark.runtime import resolve_device


@dataclass
class DistInfo:
    world_size: int = 1
    rank: int = 0
    local_rank: int = 0
    owns_group: bool = False  # this module created the process group (and destroys it)

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_world_size() -> int:
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        return 1


def init(device_name: str | None) -> tuple[DistInfo, torch.device]:
    """Join the process group when launched with WORLD_SIZE > 1; pick this rank's device."""
    world = env_world_size()
    if world <= 1 and not (dist.is_available() and dist.is_initialized()):
        return DistInfo(), resolve_device(device_name)
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name)
    if device.type == "cuda":
        device = torch.device("cuda", local_rank if device.index is None else device.index)
        torch.cuda.set_device(device)
    owns = False
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend, timeout=timedelta(minutes=60))
        owns = True
    world, rank = dist.get_world_size(), dist.get_rank()
    return DistInfo(world, rank, local_rank, owns), device


def cleanup(info: DistInfo) -> None:
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def all_reduce_sum(info: DistInfo, values: list[float], device: torch.device) -> list[float]:
    """Sum plain numbers over ranks (float64)."""
    if not info.enabled:
        return list(values)
    # gloo reduces CPU tensors, NCCL CUDA tensors
    t = torch.tensor(values, dtype=torch.float64, device=device if device.type == "cuda" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu().tolist()


def broadcast_object(info: DistInfo, obj: Any, device: torch.device) -> Any:
    """Rank 0's ``obj`` on every rank."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0, device=device if device.type == "cuda" else None)
    return box[0]


def sync_buffers(info: DistInfo, module: nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank. DDP broadcasts them
    at the start of each forward, so after an epoch each rank holds its own last update."""
    if not info.enabled:
        return
    for buf in module.buffers():
        dist.broadcast(buf.data, src=0)


def wrap(module: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    """DDP around ``module`` (rebuilt whenever the set of trainable parameters changes, since
    DDP registers its gradient hooks for the parameters that require grad at construction)."""
    if not info.enabled:
        return module
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(module, device_ids=ids, broadcast_buffers=True,
                                               find_unused_parameters=False)

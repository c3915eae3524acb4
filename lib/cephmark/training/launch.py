"""Run `finetune` in K processes with torchrun (DistributedDataParallel), from Python.

The MONAI Label train task's multi-GPU option uses this: the config is written to YAML and
``python -m torch.distributed.run --nproc_per_node K -m cephmark finetune --config FILE`` runs
the same code as the command line.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from cephmark.config import CephConfig


def write_config(cfg: CephConfig, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    return path


def run_distributed(cfg: CephConfig, nproc: int, workdir: str | Path,
                    timeout: float | None = None) -> Path:
    """Fine-tune with ``nproc`` processes; returns the best checkpoint rank 0 wrote."""
    if nproc < 1:
        raise ValueError(f"nproc must be >= 1, got {nproc}")
    config = write_config(cfg, Path(workdir) / "finetune_config.yaml")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "cephmark", "finetune", "--config", str(config)]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise RuntimeError(f"distributed fine-tuning failed (exit {proc.returncode}):\n{tail}")
    best = Path(cfg.train.output) / cfg.train.checkpoint_name
    if not best.is_file():
        raise RuntimeError(f"distributed fine-tuning wrote no checkpoint at {best}")
    return best

"""Run `finetune` in K processes with torchrun (DistributedDataParallel), from Python.

The MONAI Label train task's multi-GPU option uses this: the config is written to YAML and
``python -m torch.distributed.run --nproc_per_node K -m cephmark finetune --config FILE`` runs
the same code as the command line.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from cephmark.config import CephConfig
from cephmark.training.source_preprocess import inherit_source_preprocess


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
    cfg = inherit_source_preprocess(cfg)  # before every entry is written (and so "given")
    config = write_config(cfg, Path(workdir) / "finetune_config.yaml")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "cephmark", "finetune", "--config", str(config)]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    started = time.time() - 1.0
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise RuntimeError(f"distributed fine-tuning failed (exit {proc.returncode}):\n{tail}")
    return _best_checkpoint(cfg, started)


def _best_checkpoint(cfg: CephConfig, started: float) -> Path:
    """The best checkpoint of this run: ``train.checkpoint_name``, else the one file
    ``checkpoint_*.pth`` written since ``started`` (its default name depends on the landmarks)."""
    out = Path(cfg.train.output)
    pattern = cfg.train.checkpoint_name or "checkpoint_*.pth"
    found = [p for p in out.glob(pattern) if p.stat().st_mtime >= started]
    if len(found) != 1:
        raise RuntimeError(f"distributed fine-tuning wrote no single best checkpoint {pattern} in "
                           f"{out} (found {', '.join(p.name for p in found) or 'none'})")
    return found[0]

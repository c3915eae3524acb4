"""The ruler (p1/p2) cascade in one file: a whole-image (coarse) model and a crop refiner,
trained in one ``cephmark finetune`` run (``train.refiner`` in the config) and stored in one
checkpoint together with their inference options and what the training labels looked like.

The container is the coarse model's own cephmark container (any loader sees a working coarse
model) plus ``cascade = {"refiner": <refiner container>, "infer": {refine_shift,
refine_prior_sigma}, "labels": <label_stats>}``: plain types and tensors only, so it loads
with ``weights_only=True``. A refiner trained on the coarse model's frozen backbone stores
none (``refiner["backbone"] == "coarse"``); a slim copy may hold fp16 tensors
(`make_cascade(half=True)`), loaded back into float32 models.

A run writes ``OUTPUT/coarse/`` and ``OUTPUT/refiner/`` (each stage's last.pth, best
checkpoint, metrics.csv, learning curve, ``done.json`` once finished), ``OUTPUT/metrics.csv``
(both stages, column ``model``) and the cascade ``OUTPUT/<checkpoint_name>``. ``--resume``
takes the run folder (or either stage's last.pth): finished stages are kept, an interrupted
one continues from its last.pth. Dead-head restarts work per stage (`finetune`).
"""
from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import os
import threading
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from cephmark.config import CephConfig
from cephmark.models.checkpoint import (
    TRAINING_STATE_KEYS, CheckpointError, LoadedModel, model_from_container, read_checkpoint,
    save_atomic,
)

log = logging.getLogger(__name__)

CASCADE_KEY = "cascade"
STAGES = ("coarse", "refiner")
INFER_KEYS = ("refine_shift", "refine_prior_sigma")
DONE_NAME = "done.json"
SHARED = "coarse"  # refiner["backbone"] when the refiner uses the coarse model's backbone


def is_cascade(ckpt: Mapping[str, Any]) -> bool:
    return isinstance(ckpt.get(CASCADE_KEY), dict)


def trains_cascade(cfg: CephConfig) -> bool:
    """A whole-image run with ``train.refiner`` set trains both stages."""
    return bool(cfg.train.refiner) and not cfg.train.crop_size


# -- the container ----------------------------------------------------------------------
def _slim(ckpt: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in ckpt.items() if k not in TRAINING_STATE_KEYS and k != CASCADE_KEY}


def _half(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.half() if v.is_floating_point() else v for k, v in state.items()}


def _backbone_keys(state: Mapping[str, torch.Tensor]) -> list[str]:
    return [k for k in state if k.startswith("backbone.")]


def shares_backbone(coarse: Mapping[str, torch.Tensor], refiner: Mapping[str, torch.Tensor]) -> bool:
    """Whether the refiner's backbone tensors (BatchNorm statistics included) equal the coarse's."""
    keys = _backbone_keys(refiner)
    return bool(keys) and all(k in coarse and coarse[k].shape == refiner[k].shape
                              and torch.equal(coarse[k], refiner[k]) for k in keys)


def make_cascade(coarse: Mapping[str, Any], refiner: Mapping[str, Any], infer: Mapping[str, Any],
                 labels: Mapping[str, Any] | None = None, half: bool = False) -> dict[str, Any]:
    """One container from two stage containers (training state dropped); a refiner backbone
    equal to the coarse one is stored once; ``half``: fp16 tensors (a shipped file)."""
    if not refiner.get("preprocess", {}).get("crop_size"):
        raise CheckpointError("the second stage is not a crop refiner (no preprocess.crop_size)")
    if coarse.get("preprocess", {}).get("crop_size"):
        raise CheckpointError("the first stage is a crop refiner; it must be the whole-image model")
    missing = [n for n in refiner["landmark_names"] if n not in coarse["landmark_names"]]
    if missing:
        raise CheckpointError(f"refiner landmarks {', '.join(missing)} are not coarse outputs")
    out, ref = _slim(coarse), _slim(refiner)
    if shares_backbone(coarse["state_dict"], refiner["state_dict"]):
        ref["state_dict"] = {k: v for k, v in refiner["state_dict"].items() if not k.startswith("backbone.")}
        ref["backbone"] = SHARED
    if half:
        out["state_dict"], ref["state_dict"] = _half(out["state_dict"]), _half(ref["state_dict"])
    out[CASCADE_KEY] = {"refiner": ref, "infer": {k: float(infer.get(k) or 0.0) for k in INFER_KEYS},
                        "labels": dict(labels or {})}
    return out


def half_cascade(ckpt: Mapping[str, Any]) -> dict[str, Any]:
    """A cascade container with fp16 tensors (both stages): the shipped form."""
    if not is_cascade(ckpt):
        raise CheckpointError("not a cascade container (no 'cascade' entry)")
    out = dict(ckpt)
    out["state_dict"] = _half(ckpt["state_dict"])
    refiner = dict(ckpt[CASCADE_KEY]["refiner"])
    refiner["state_dict"] = _half(refiner["state_dict"])
    out[CASCADE_KEY] = {**ckpt[CASCADE_KEY], "refiner": refiner}
    return out


def refiner_model(coarse: LoadedModel, source: str) -> LoadedModel:
    """The refiner of a loaded cascade file (its backbone taken from the coarse model if shared)."""
    part = dict(coarse.info[CASCADE_KEY]["refiner"])
    if part.get("backbone") == SHARED:
        own = coarse.model.state_dict()
        part["state_dict"] = {**{k: own[k] for k in _backbone_keys(own)}, **part["state_dict"]}
    return model_from_container(part, f"{source} (refiner)")


def cascade_infer(coarse: LoadedModel) -> dict[str, float]:
    return dict(coarse.info[CASCADE_KEY].get("infer") or {})


def cascade_labels(coarse: LoadedModel) -> dict[str, Any]:
    return dict(coarse.info[CASCADE_KEY].get("labels") or {})


def label_stats(images: list, names: list[str]) -> dict[str, Any]:
    """What the training labels showed for the first two landmarks (p1 -> p2): their distance
    (px) and direction (degrees, image axes: -90 = straight up), and p1's place in the image
    (fractions of width / height); min, max, mean, sd, n. Used by `calibration.flags`."""
    if len(names) < 2:
        return {}
    a, b = names[0], names[1]
    dist, ang, fx, fy = [], [], [], []
    for im in images:
        if a in im.points and b in im.points:
            (x1, y1), (x2, y2) = im.points[a], im.points[b]
            dist.append(math.hypot(x2 - x1, y2 - y1))
            ang.append(math.degrees(math.atan2(y2 - y1, x2 - x1)))
            if im.width and im.height:
                fx.append(x1 / im.width)
                fy.append(y1 / im.height)

    def summary(v: list[float]) -> dict[str, float] | None:
        if not v:
            return None
        arr = np.asarray(v, dtype=np.float64)
        return {"min": float(arr.min()), "max": float(arr.max()), "mean": float(arr.mean()),
                "sd": float(arr.std(ddof=1)) if len(arr) > 1 else 0.0, "n": int(len(arr))}

    return {"pair": [a, b], "distance_px": summary(dist), "angle_deg": summary(ang),
            "first_x_frac": summary(fx), "first_y_frac": summary(fy)}


def write_cascade(coarse_path: str | Path, refiner_path: str | Path, dst: str | Path,
                  infer: Mapping[str, Any], labels: Mapping[str, Any] | None = None,
                  half: bool = False) -> Path:
    """Assemble two stage checkpoints into one cascade file (atomic write)."""
    obj = make_cascade(read_checkpoint(coarse_path), read_checkpoint(refiner_path), infer, labels, half)
    return save_atomic(obj, dst)


# -- training ---------------------------------------------------------------------------
def stage_config(cfg: CephConfig, stage: str, run_dir: Path, coarse_best: Path | None = None) -> CephConfig:
    """The single-model config of one stage of a cascade run."""
    c = copy.deepcopy(cfg)
    c.train.refiner = None
    c.train.resume = None
    c.train.output = str(run_dir / stage)
    if stage == "coarse":
        return c
    items = dict(cfg.train.refiner or {})
    share = bool(items.pop("share_backbone", False))
    if "image_size" in items:
        c.preprocess.image_size = int(items.pop("image_size"))
    unknown = [k for k in items if k not in {f.name for f in dataclasses.fields(c.train)}]
    if unknown:
        raise ValueError(f"train.refiner: unknown option(s) {', '.join(unknown)}")
    c.update({"train": items})
    if not c.train.crop_size:
        raise ValueError("train.refiner needs crop_size (the refiner's box in original pixels)")
    if share:  # on the coarse model's backbone, frozen (stored once in the cascade file)
        c.train.cldetection_model = str(coarse_best)
        c.train.unfreeze_after = None
        c.train.keep_base_landmarks = False
    return c


def _resume_dir(resume: str) -> Path:
    p = Path(resume)
    if p.is_dir():
        return p
    if p.parent.name in STAGES:
        return p.parent.parent
    return p.parent


def _done(stage_dir: Path) -> dict | None:
    f = stage_dir / DONE_NAME
    return json.loads(f.read_text()) if f.is_file() else None


def _mark_done(stage_dir: Path, result) -> None:
    tmp = stage_dir / f".{DONE_NAME}.tmp"
    tmp.write_text(json.dumps({"checkpoint": str(result.checkpoint), "best_epoch": result.best_epoch,
                               "stopped_early": result.stopped_early}))
    tmp.replace(stage_dir / DONE_NAME)


def _is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _combined_metrics(run_dir: Path) -> list[dict]:
    from cephmark.training.reporting import read_metrics_csv

    rows = []
    for stage in STAGES:
        f = run_dir / stage / "metrics.csv"
        if f.is_file():
            rows.extend({"model": stage, **r} for r in read_metrics_csv(f))
    return rows


def train_cascade(cfg: CephConfig, callback: Callable[[dict], None] | None = None,
                  stop: threading.Event | None = None):
    """Train the coarse model, then the refiner; write the cascade file. Returns the refiner
    stage's `FinetuneResult` with ``checkpoint`` = the cascade file and ``history`` = both
    stages' rows (key ``model``)."""
    from cephmark.training.reporting import CSV_COLUMNS, write_metrics_csv
    from cephmark.training.trainer import finetune, load_annotation_sets

    run_dir = _resume_dir(cfg.train.resume) if cfg.train.resume else Path(cfg.train.output)
    coarse_cfg = stage_config(cfg, "coarse", run_dir)
    epochs = {"coarse": int(coarse_cfg.train.epochs)}
    epochs["refiner"] = int(stage_config(cfg, "refiner", run_dir, run_dir).train.epochs)
    results: dict[str, Any] = {}

    def stage_callback(stage: str) -> Callable[[dict], None]:
        offset = 0 if stage == "coarse" else epochs["coarse"]

        def report(row: dict) -> None:
            write_metrics_csv(_combined_metrics(run_dir), run_dir / "metrics.csv",
                              columns=["model", *CSV_COLUMNS])
            if callback is not None:
                callback({**row, "model": stage, "cascade_epoch": offset + int(row["epoch"]),
                          "cascade_epochs": epochs["coarse"] + epochs["refiner"]})
        return report

    for stage in STAGES:
        stage_dir = run_dir / stage
        done = _done(stage_dir)
        if done is not None:
            log.info("%s: finished earlier (%s), kept", stage, done["checkpoint"])
            results[stage] = Path(done["checkpoint"])
            continue
        c = coarse_cfg if stage == "coarse" else stage_config(cfg, stage, run_dir, results["coarse"])
        if cfg.train.resume and (stage_dir / "last.pth").is_file():
            c.train.resume = str(stage_dir / "last.pth")
        log.info("cascade %s: %s", stage, "resuming " + c.train.resume if c.train.resume else "training")
        result = finetune(c, callback=stage_callback(stage), stop=stop)
        if stop is not None and stop.is_set():
            log.info("stop requested: the cascade file is not written (resume with --resume %s)", run_dir)
            return result
        if _is_main():
            _mark_done(stage_dir, result)
        results[stage] = result.checkpoint
    train_set, val_set, requested = load_annotation_sets(coarse_cfg)
    images = list(train_set.images) + (list(val_set.images) if val_set is not None else [])
    labels = label_stats(images, requested)
    infer = {k: getattr(cfg.infer, k) for k in INFER_KEYS}
    path = run_dir / cfg.train.checkpoint_name
    if _is_main():  # torchrun: rank 0 writes, as in each stage
        write_cascade(results["coarse"], results["refiner"], path, infer, labels)
        log.info("cascade (coarse + refiner, one file): %s", path)
    from cephmark.training.trainer import FinetuneResult

    return FinetuneResult(checkpoint=path, last=run_dir / "refiner" / "last.pth",
                          history=_combined_metrics(run_dir), landmark_names=list(requested),
                          best_epoch=(_done(run_dir / "refiner") or {}).get("best_epoch"))

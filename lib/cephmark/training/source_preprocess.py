"""Preprocessing for fine-tuning taken from the source checkpoint unless told otherwise.

A model fine-tuned at another input size or normalisation than it was trained with starts from
features that do not fit its input (the bundled 512 px starter trained at the 1024 default gives
validation errors of hundreds of pixels from the first epoch). So every preprocessing and codec
entry that the user did not give (config file, option, `CephConfig.update`) is copied from the
checkpoint the run starts from (``--resume`` or ``--cldetection-model``), and the run says so.
A given value that differs from the source's is kept, with a warning.
"""
from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

from cephmark.config import CephConfig
from cephmark.models.checkpoint import read_checkpoint
from cephmark.weights import resolve_checkpoint

log = logging.getLogger(__name__)

# entries of the source's record that define what its features were learned on
INHERITED = {"preprocess": ("image_size", "padding", "mean", "std"),
             "codec": ("sigma_at_1024", "blur_kernel")}


def source_checkpoint(cfg: CephConfig) -> Path | None:
    """The checkpoint a fine-tuning run starts from (resume point first), if any."""
    t = cfg.train
    if t.resume:
        return Path(t.resume)
    return resolve_checkpoint(t.cldetection_model) if t.cldetection_model else None


def source_record(path: str | Path) -> dict[str, dict[str, Any]]:
    """``{"preprocess": {...}, "codec": {...}}`` as saved in a checkpoint (empty when absent,
    e.g. the CLdetection2023 reference file, trained with this project's defaults)."""
    ckpt = read_checkpoint(path)
    return {section: dict(ckpt.get(section) or {}) for section in INHERITED}


def inherit_source_preprocess(cfg: CephConfig) -> CephConfig:
    """A copy of ``cfg`` whose preprocessing/codec entries not given by the user are the source
    checkpoint's. Logs one line naming what was taken and warns about given values that differ."""
    path = source_checkpoint(cfg)
    if path is None:
        return cfg
    record = source_record(path)
    out = copy.deepcopy(cfg)
    taken, kept, differ = [], [], []
    for section, keys in INHERITED.items():
        part = getattr(out, section)
        for key in keys:
            dotted = f"{section}.{key}"
            if key not in record[section]:
                continue
            theirs, ours = record[section][key], getattr(part, key)
            if dotted in cfg.given:
                (kept if theirs == ours else differ).append((dotted, ours, theirs))
            else:
                setattr(part, key, theirs)
                taken.append(f"{key} {theirs}")
    if taken:
        log.info("preprocessing from the source checkpoint %s: %s (give --image-size or a "
                 "config entry to override)", path, ", ".join(taken))
    elif not any(record.values()):
        log.info("the source checkpoint %s records no preprocessing: using the configured values "
                 "(image size %d)", path, out.preprocess.image_size)
    for dotted, ours, theirs in differ:
        log.warning("%s = %s was given, but the source checkpoint %s was trained with %s: training "
                    "with %s as told (its features were learned on other inputs)", dotted, ours,
                    path, theirs, ours)
    return out

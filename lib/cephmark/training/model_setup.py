"""Model for fine-tuning: from the reference checkpoint, a resume point or a bare design;
backbone freezing (stage 1) and the optimizer's two parameter groups."""
from __future__ import annotations

import logging
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from cephmark.config import CephConfig
from cephmark.models.arch import ModelArch
from cephmark.models.checkpoint import CheckpointError, load_model, read_checkpoint, sha256_file
from cephmark.models.cldetection import CLDetectionModel
from cephmark.models.new_landmarks import build_landmark_head
from cephmark.weights import resolve_checkpoint

log = logging.getLogger(__name__)


@dataclass
class ModelSetup:
    model: CLDetectionModel
    names: list[str]  # output landmark names, in channel order
    source: dict[str, Any] = field(default_factory=dict)  # provenance stored in checkpoints
    resume: dict[str, Any] | None = None  # the resume checkpoint's container
    base_count: int = 0  # kept base landmarks (the first outputs), 0 without --keep-base-landmarks
    teacher_path: str | None = None  # the source model, whose outputs keep the base landmarks

    def load_teacher(self, device: torch.device) -> CLDetectionModel | None:
        """The frozen source model (eval mode, no gradients) when base landmarks are kept."""
        if not self.base_count or not self.teacher_path:
            return None
        teacher = load_model(self.teacher_path).model
        if teacher.num_landmarks != self.base_count:
            raise CheckpointError(f"{self.teacher_path}: has {teacher.num_landmarks} landmarks, "
                                  f"the kept base landmarks are {self.base_count}")
        for p in teacher.parameters():
            p.requires_grad_(False)
        return teacher.to(device).eval()


def output_names(requested: Sequence[str], base_names: Sequence[str], keep_base: bool) -> tuple[list[str], list[str]]:
    """(all output names, the new ones). With ``keep_base`` the base landmarks come first and a
    requested name that is a base landmark trains that base channel."""
    if keep_base:
        new = [n for n in requested if n not in base_names]
        return list(base_names) + new, new
    return list(requested), list(requested)


def default_init_from(new_names: Sequence[str], base_names: Sequence[str],
                      init_from: Sequence[str] | None, requested: Sequence[str]) -> list[str | None]:
    """Source per new landmark: the given list (aligned with ``requested``), else the same name
    when it is a base landmark, else fresh (None)."""
    if init_from is None:
        return [n if n in base_names else None for n in new_names]
    if len(init_from) != len(requested):
        raise ValueError(f"--init-from gives {len(init_from)} sources for {len(requested)} "
                         f"landmarks ({', '.join(requested)})")
    by_name = dict(zip(requested, init_from))
    return [by_name[n] for n in new_names]


def build_model(cfg: CephConfig, requested: Sequence[str]) -> ModelSetup:
    """The model to train, per ``cfg.train``: resume > CLdetection checkpoint > ``arch``."""
    t = cfg.train
    if t.resume:
        return _from_resume(t.resume, requested, cfg)
    if t.cldetection_model and t.arch:
        raise ValueError("--arch is for training from scratch; it cannot be combined with "
                         "--cldetection-model (whose design is read from the file)")
    if t.cldetection_model:
        src = str(resolve_checkpoint(t.cldetection_model))
        loaded = load_model(src)
        base_names = loaded.landmark_names
        names, new = output_names(requested, base_names, t.keep_base_landmarks)
        sources = default_init_from(new, base_names, t.init_from, requested)
        model, names = build_landmark_head(loaded.model, base_names, new, sources,
                                           keep_base=t.keep_base_landmarks)
        desc = ", ".join(f"{n} <- {s or 'fresh'}" for n, s in zip(new, sources))
        log.info("model from %s (%d base landmarks); new heads: %s", src,
                 len(base_names), desc or "none")
        source = {"source_checkpoint": src, "source_sha256": sha256_file(src),
                  "base_landmark_names": list(base_names), "init_from": [s for s in sources]}
    elif t.arch:
        model = CLDetectionModel(ModelArch.preset(t.arch, len(requested)))
        names = list(requested)
        source = {"source_checkpoint": None, "source_sha256": None, "arch_preset": t.arch}
        if not t.backbone_weights:
            log.warning("training from scratch with RANDOM weights (design %r): no "
                        "--cldetection-model and no --backbone-weights given", t.arch)
    else:
        raise ValueError("nothing to train from: give --cldetection-model (the CLdetection2023 "
                         "checkpoint), --resume, or --arch (with optional --backbone-weights) to "
                         "train from scratch")
    if t.backbone_weights:
        report = load_backbone_weights(model, t.backbone_weights)
        source["backbone_weights"] = str(t.backbone_weights)
        source["backbone_weights_sha256"] = sha256_file(t.backbone_weights)
        source["backbone_weights_report"] = report
    model.activation_checkpointing = bool(t.activation_checkpointing)
    setup = ModelSetup(model, list(names), source)
    if t.cldetection_model and t.keep_base_landmarks:
        setup.base_count, setup.teacher_path = len(base_names), src
    return setup


def _from_resume(path: str, requested: Sequence[str], cfg: CephConfig) -> ModelSetup:
    ckpt = read_checkpoint(path)
    if ckpt.get("format") != "cephmark" or "epoch" not in ckpt:
        raise CheckpointError(f"{path}: not a cephmark training checkpoint (no epoch/optimizer "
                              f"state); use --cldetection-model for a reference checkpoint")
    loaded = load_model(path)
    names = list(loaded.landmark_names)
    t = cfg.train
    trained = list(ckpt.get("train_config", {}).get("landmarks") or requested)
    if sorted(set(requested) - set(names)):
        raise ValueError(f"{path}: cannot resume: landmarks {', '.join(sorted(set(requested) - set(names)))} "
                         f"are not outputs of this checkpoint ({', '.join(names)})")
    if set(trained) != set(requested):
        log.warning("resuming with landmarks %s; the checkpoint was trained on %s", requested, trained)
    pre = ckpt.get("preprocess") or {}
    if pre.get("image_size") not in (None, cfg.preprocess.image_size):
        raise ValueError(f"{path}: was trained at image size {pre['image_size']}, not "
                         f"{cfg.preprocess.image_size}; pass --image-size {pre['image_size']}")
    source = {k: ckpt.get(k) for k in ("source_checkpoint", "source_sha256", "base_landmark_names",
                                       "init_from", "arch_preset", "backbone_weights",
                                       "backbone_weights_sha256") if k in ckpt}
    model = loaded.model
    model.activation_checkpointing = bool(t.activation_checkpointing)
    log.info("resuming from %s (epoch %s)", path, ckpt.get("epoch"))
    setup = ModelSetup(model, names, source, resume=ckpt)
    if ckpt.get("train_config", {}).get("keep_base_landmarks") and ckpt.get("base_landmark_names"):
        teacher = str(resolve_checkpoint(t.cldetection_model)) if t.cldetection_model \
            else ckpt.get("source_checkpoint")
        if not teacher or not Path(teacher).is_file():
            raise ValueError(f"{path}: keeps base landmarks; resuming needs the source model "
                             f"({teacher}): pass --cldetection-model")
        if ckpt.get("source_sha256") and sha256_file(teacher) != ckpt["source_sha256"]:
            log.warning("%s differs from the source model this run started from", teacher)
        setup.base_count, setup.teacher_path = len(ckpt["base_landmark_names"]), str(teacher)
    return setup


def load_backbone_weights(model: CLDetectionModel, path: str | Path) -> dict[str, Any]:
    """Load a timm HRNet state dict into the backbone, non-strictly; log and return what matched.

    Accepts a bare state dict or one under ``state_dict``/``model``; ``module.`` and
    ``backbone.`` prefixes are stripped. Nothing is downloaded.
    """
    obj = read_checkpoint(path)
    for key in ("state_dict", "model"):
        if isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    state: dict[str, torch.Tensor] = {}
    for k, v in obj.items():
        if not isinstance(v, torch.Tensor):
            continue
        for prefix in ("module.", "backbone."):
            if k.startswith(prefix):
                k = k[len(prefix):]
        state[k] = v
    own = model.backbone.state_dict()
    matched = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    mismatched = sorted(k for k in state if k in own and k not in matched)
    missing = sorted(k for k in own if k not in state)
    unexpected = sorted(k for k in state if k not in own)
    if not matched:
        raise CheckpointError(f"{path}: no tensor matches the backbone ({len(state)} tensors read, "
                              f"e.g. {', '.join(list(state)[:3])}); is it an HRNet of this design?")
    model.backbone.load_state_dict(matched, strict=False)
    report = {"matched": len(matched), "backbone_tensors": len(own), "missing": missing,
              "unexpected": unexpected, "shape_mismatch": mismatched}
    log.info("backbone weights %s: %d of %d backbone tensors loaded; %d missing, %d unexpected "
             "(ignored), %d shape mismatches", path, len(matched), len(own), len(missing),
             len(unexpected), len(mismatched))
    for title, items in (("missing", missing), ("shape mismatch", mismatched)):
        if items:
            log.warning("backbone weights: %s: %s%s", title, ", ".join(items[:10]),
                        " ..." if len(items) > 10 else "")
    return report


# -- stage 1 / stage 2 ------------------------------------------------------------------
def _eval_only_train(self: nn.Module, mode: bool = True) -> nn.Module:
    return nn.Module.train(self, False)


def set_backbone_frozen(model: CLDetectionModel, frozen: bool,
                        trainable: Sequence[str] | None = None) -> None:
    """Stage 1 (``frozen``): backbone parameters get no gradient and the backbone stays in eval
    mode even when ``model.train()`` is called (BatchNorm running statistics frozen).
    Stage 2: trainable again, and ``train()`` works normally; with ``trainable`` (names of the
    backbone's top-level parts, e.g. ``stage4``; ``all``: every part) only those parts: the rest
    stays as in stage 1."""
    backbone = model.backbone
    parts = dict(backbone.named_children())
    if trainable and "all" in trainable:
        trainable = None
    unknown = sorted(set(trainable or ()) - set(parts))
    if unknown:
        raise ValueError(f"train.trainable_backbone: {', '.join(unknown)} not backbone parts "
                         f"(choose from {', '.join(parts)})")
    for p in backbone.parameters():
        p.requires_grad_(not frozen)
    if frozen:
        backbone.train = types.MethodType(_eval_only_train, backbone)  # type: ignore[method-assign]
        nn.Module.train(backbone, False)
    else:
        backbone.__dict__.pop("train", None)
        backbone.train(model.training)
        for name, part in parts.items():
            if trainable and name not in trainable:
                for p in part.parameters():
                    p.requires_grad_(False)
                part.train = types.MethodType(_eval_only_train, part)  # type: ignore[method-assign]
                nn.Module.train(part, False)
            else:
                part.__dict__.pop("train", None)
                part.train(model.training)
    model.backbone_frozen = frozen


def is_backbone_frozen(model: CLDetectionModel) -> bool:
    return bool(getattr(model, "backbone_frozen", False))


class TrainingForward(nn.Module):
    """The training forward pass (deep supervision). With a frozen backbone its features are
    computed without autograd (no activation memory for the backbone). DDP wraps this module."""

    def __init__(self, model: CLDetectionModel) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        m = self.model
        if is_backbone_frozen(m):
            with torch.no_grad():
                feats = m.backbone(x)
            return m.head([f.detach() for f in feats], deep_supervision=True)
        return m(x, deep_supervision=True)


def param_groups(model: CLDetectionModel, lr: float, backbone_lr_factor: float) -> list[dict]:
    """Two groups created up front (head first, backbone second) so optimizer state and resume
    are identical whichever stage training is in."""
    return [
        {"params": list(model.head.parameters()), "lr": lr, "name": "head"},
        {"params": list(model.backbone.parameters()), "lr": lr * backbone_lr_factor,
         "name": "backbone"},
    ]

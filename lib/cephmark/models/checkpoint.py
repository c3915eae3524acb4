"""Reading and writing checkpoints safely.

Two containers are read: the reference's (``state_dict`` + ``meta``, as MMPose saved
``model_pretrained_on_train_and_val.pth``) and cephmark's own (``format: "cephmark"``,
with ``arch`` and ``landmark_names``). Both are read with ``torch.load(weights_only=True)``
and an allow-list of numpy array reconstruction; nothing else is ever unpickled.
Writes go to a temporary file in the target folder, then ``os.replace``: a crash never
leaves a truncated checkpoint under the final name.
"""
from __future__ import annotations

import hashlib
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from cephmark.landmarks import default_names
from cephmark.models.arch import ModelArch, infer_arch
from cephmark.models.cldetection import CLDetectionModel
from cephmark.util import atomic_open

FORMAT = "cephmark"


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit the model."""


def _numpy_allow_list() -> list[Any]:
    try:  # numpy 2
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct, scalar
    dtypes = [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith("DType")]
    return [_reconstruct, scalar, np.ndarray, np.dtype, *dtypes]


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint file with ``weights_only=True`` and the numpy allow-list."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint file not found")
    try:
        with torch.serialization.safe_globals(_numpy_allow_list()):
            obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        refused = re.search(r"GLOBAL ([\w.]+)", str(exc)) or re.search(r"global '?([\w.]+)", str(exc))
        if refused is None:  # damaged data (e.g. a file cut after a few bytes), not a forbidden object
            detail = re.search(r"WeightsUnpickler error: (.+?)(?:\n\n|$)", str(exc), re.S)
            reason = " ".join(detail.group(1).split()) if detail else f"{type(exc).__name__}: {exc}"
            raise CheckpointError(f"{path}: not a readable checkpoint (truncated or damaged?): "
                                  f"{reason}") from exc
        raise CheckpointError(
            f"{path}: refused to load: it contains a pickled object that is not a tensor or "
            f"numpy array: {refused.group(1)}; only weights and plain metadata are accepted"
        ) from exc
    except Exception as exc:  # truncated or not a torch file
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else f"{type(exc).__name__} (empty or cut short)"
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or damaged?): {reason}") from exc
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a dict container, got {type(obj).__name__}")
    return obj


@dataclass
class LoadedModel:
    model: CLDetectionModel
    landmark_names: list[str]
    names_from_checkpoint: bool
    preprocess: dict[str, Any] | None = None  # preprocessing config saved with the model
    info: dict[str, Any] = field(default_factory=dict)  # the rest of the container

    @property
    def learnt_flip(self) -> bool:
        """Whether training mirrored the images (see `learnt_flip`)."""
        return learnt_flip({**self.info, "preprocess": self.preprocess})


def strict_check(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise `CheckpointError` listing missing, unexpected and shape-mismatched names."""
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    mismatched = sorted(
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in set(own) & set(state_dict) if tuple(own[k].shape) != tuple(state_dict[k].shape)
    )
    if missing or unexpected or mismatched:
        lines = [f"{source}: state dict does not match the model:"]
        for title, items in (("missing", missing), ("unexpected", unexpected),
                             ("shape mismatch", mismatched)):
            if items:
                lines.append(f"  {title} ({len(items)}): " + ", ".join(items))
        raise CheckpointError("\n".join(lines))


def _reference_names(meta: Any, num: int) -> list[str] | None:
    ds = meta.get("dataset_meta") if isinstance(meta, dict) else None
    names = ds.get("keypoint_id2name") if isinstance(ds, dict) else None
    if isinstance(names, dict) and len(names) == num:
        return [str(names[i]) for i in range(num)]
    return None


def learnt_flip(ckpt: Mapping[str, Any]) -> bool:
    """Whether the model behind a container saw horizontally mirrored images in training, so
    that a flip test (and a flip-based uncertainty) means something. cephmark records it as
    ``flip_trained``; older cephmark checkpoints: training flipped only with ``flip_pairs`` and
    augmentation on; a reference (CL-Detection / MMPose) container: yes, as its pipeline says."""
    if ckpt.get("format") != FORMAT:
        return True
    if "flip_trained" in ckpt:
        return bool(ckpt["flip_trained"])
    train = ckpt.get("train_config")
    if isinstance(train, dict):
        return bool(train.get("flip_pairs")) and bool(train.get("augment", True))
    return bool((ckpt.get("preprocess") or {}).get("flip_test", True))


def load_model(path: str | Path, names: list[str] | None = None) -> LoadedModel:
    """Build the model a checkpoint describes and load its weights strictly (eval mode)."""
    return model_from_container(read_checkpoint(path), str(path), names)


def model_from_container(ckpt: Mapping[str, Any], source: str,
                         names: list[str] | None = None) -> LoadedModel:
    """`load_model` for a container already read (e.g. one stage of a cascade file).
    Half-precision tensors (a slim shipped file) are loaded into the float32 model."""
    state = ckpt.get("state_dict")
    if not isinstance(state, dict):
        raise CheckpointError(f"{source}: no 'state_dict' in the checkpoint")
    if ckpt.get("format") == FORMAT:
        try:
            arch = ModelArch.from_dict(ckpt["arch"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CheckpointError(f"{source}: 'arch' must be the model design as a mapping (hrnet, "
                                  f"num_landmarks, ...), got {type(ckpt.get('arch')).__name__} "
                                  f"{str(ckpt.get('arch'))[:60]!r} ({type(exc).__name__}: {exc})") from exc
        saved = ckpt.get("landmark_names")
    else:
        try:
            arch = infer_arch(state)
        except ValueError as exc:
            raise CheckpointError(f"{source}: {exc}") from exc
        saved = _reference_names(ckpt.get("meta"), arch.num_landmarks)
    model = CLDetectionModel(arch)
    strict_check(model, state, source)
    model.load_state_dict(state, strict=True)  # copy_ casts fp16 storage to the model's fp32
    model.eval()
    j = arch.num_landmarks
    if saved:
        chosen, from_ckpt = list(saved), True
    elif names:
        chosen, from_ckpt = list(names), False
    else:
        chosen, from_ckpt = default_names(j), False
    if len(chosen) != j:
        raise CheckpointError(f"{source}: {len(chosen)} landmark names given for a model with {j} outputs")
    info = {k: v for k, v in ckpt.items() if k != "state_dict"}
    return LoadedModel(model, chosen, from_ckpt, ckpt.get("preprocess"), info)


def make_checkpoint(model: CLDetectionModel, landmark_names: list[str], **extra: Any) -> dict:
    """cephmark's own container: plain types only, loadable with ``weights_only=True``."""
    return {
        "format": FORMAT,
        "arch": model.arch.to_dict(),
        "landmark_names": list(landmark_names),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **extra,
    }


def save_atomic(obj: Any, path: str | Path) -> Path:
    """``torch.save`` to a temporary file beside ``path``, fsync, then rename over it."""
    with atomic_open(path, "wb") as fh:
        torch.save(obj, fh)
    return Path(path)


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


TRAINING_STATE_KEYS = ("optimizer", "scheduler", "scaler", "rng", "optimizer_state", "scheduler_state")


def export_checkpoint(src: str | Path, dst: str | Path) -> Path:
    """Copy a cephmark checkpoint without its training state (optimizer, scheduler ...):
    what is shipped or deployed. Weights, names, preprocessing and history are kept."""
    ckpt = read_checkpoint(src)
    if ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{src}: only cephmark checkpoints can be exported")
    slim = {k: v for k, v in ckpt.items() if k not in TRAINING_STATE_KEYS}
    return save_atomic(slim, dst)

"""Model designs: an HRNet configuration plus the head's landmark count, as plain data.

A design is stored in every checkpoint cephmark writes (``arch``) and inferred from tensor
shapes for the reference container, which carries none.
"""
from __future__ import annotations

import copy
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import torch


def _stage(branches: int, block: str, blocks: tuple, widths: tuple, modules: int) -> dict:
    return dict(num_modules=modules, num_branches=branches, block_type=block,
                num_blocks=tuple(blocks), num_channels=tuple(widths), fuse_method="SUM")


def hrnet_config(widths: tuple[int, int, int, int], blocks: int = 4,
                 modules: tuple[int, int, int] = (1, 4, 3), stage1_blocks: int = 4,
                 stage1_width: int = 64, stem_width: int = 64) -> dict:
    """timm-style HRNet configuration with branch ``widths`` (highest resolution first)."""
    w = tuple(widths)
    return dict(
        stem_width=stem_width,
        stage1=_stage(1, "BOTTLENECK", (stage1_blocks,), (stage1_width,), 1),
        stage2=_stage(2, "BASIC", (blocks,) * 2, w[:2], modules[0]),
        stage3=_stage(3, "BASIC", (blocks,) * 3, w[:3], modules[1]),
        stage4=_stage(4, "BASIC", (blocks,) * 4, w, modules[2]),
    )


PRESETS: dict[str, dict] = {
    # the CL-Detection 2023 winner: timm's hrnet_w48
    "w48": hrnet_config((48, 96, 192, 384)),
    "w32": hrnet_config((32, 64, 128, 256)),
    "w18": hrnet_config((18, 36, 72, 144)),
    # the bundled starter model's design (3.6 M parameters with 19 landmarks)
    "starter": hrnet_config((24, 48, 96, 192), blocks=2, modules=(1, 1, 1), stage1_blocks=1,
                            stage1_width=32),
    # compact design, trainable on a CPU
    "small": hrnet_config((16, 32, 64, 128), blocks=2, modules=(1, 1, 1), stage1_blocks=1,
                          stage1_width=32),
    # the reference test vectors' tiny design
    "tiny": hrnet_config((8, 16, 32, 64), blocks=1, modules=(1, 1, 1), stage1_blocks=1,
                         stage1_width=16),
}


@dataclass
class ModelArch:
    """Everything needed to build a `CLDetectionModel`, JSON/YAML-serialisable."""

    hrnet: dict = field(default_factory=lambda: copy.deepcopy(PRESETS["w48"]))
    num_landmarks: int = 38
    embed: tuple[int, ...] = (16, 8, 4, 4)
    upscale_exp: tuple[int, ...] = (3, 2, 1, 2)

    @classmethod
    def preset(cls, name: str, num_landmarks: int = 38) -> "ModelArch":
        if name not in PRESETS:
            raise ValueError(f"unknown model design {name!r}; known: {', '.join(PRESETS)}")
        return cls(hrnet=copy.deepcopy(PRESETS[name]), num_landmarks=num_landmarks)

    @property
    def widths(self) -> tuple[int, ...]:
        return tuple(self.hrnet["stage4"]["num_channels"])

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hrnet"] = _plain(d["hrnet"])
        d["embed"], d["upscale_exp"] = list(self.embed), list(self.upscale_exp)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ModelArch":
        hrnet = {k: (dict(v, num_blocks=tuple(v["num_blocks"]), num_channels=tuple(v["num_channels"]))
                     if isinstance(v, dict) else v) for k, v in d["hrnet"].items()}
        return cls(hrnet=hrnet, num_landmarks=int(d["num_landmarks"]),
                   embed=tuple(d.get("embed", (16, 8, 4, 4))),
                   upscale_exp=tuple(d.get("upscale_exp", (3, 2, 1, 2))))


def _plain(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def _count(names: set[str], pattern: str) -> int:
    rx = re.compile(pattern)
    found = {int(m.group(1)) for n in names if (m := rx.match(n))}
    return max(found) + 1 if found else 0


def infer_arch(state_dict: Mapping[str, torch.Tensor], prefix: str = "backbone.") -> ModelArch:
    """Read the design (widths, block and module counts, landmarks) from tensor shapes."""
    names = {k[len(prefix):] for k in state_dict if k.startswith(prefix)}
    p = prefix
    try:
        stem = state_dict[p + "conv1.weight"].shape[0]
        s1_width = state_dict[p + "layer1.0.conv1.weight"].shape[0]
        s1_blocks = _count(names, r"layer1\.(\d+)\.")
        stages = {}
        for s, nb in ((2, 2), (3, 3), (4, 4)):
            modules = _count(names, rf"stage{s}\.(\d+)\.")
            blocks = tuple(_count(names, rf"stage{s}\.0\.branches\.{b}\.(\d+)\.") for b in range(nb))
            widths = tuple(state_dict[f"{p}stage{s}.0.branches.{b}.0.conv1.weight"].shape[0]
                           for b in range(nb))
            stages[f"stage{s}"] = _stage(nb, "BASIC", blocks, widths, modules)
        num_landmarks = state_dict["head.lr_head.0.weight"].shape[0]
        embed3 = state_dict["head.kp_encoder.3.0.weight"].shape[0] // num_landmarks
        embed2 = state_dict["head.kp_encoder.2.0.weight"].shape[0] // num_landmarks
    except KeyError as exc:
        raise ValueError(f"not a CLdetection2023-style state dict: missing {exc.args[0]}") from exc
    hrnet = dict(stem_width=stem, stage1=_stage(1, "BOTTLENECK", (s1_blocks,), (s1_width,), 1), **stages)
    return ModelArch(hrnet=hrnet, num_landmarks=num_landmarks, embed=(16, 8, embed2, embed3))

"""The CL-Detection 2023 model: HRNet backbone + SRPose head, heatmaps at input resolution."""
from __future__ import annotations

import torch
from torch import nn

from cephmark.models.arch import ModelArch
from cephmark.models.hrnet import build_hrnet
from cephmark.models.srpose_head import SRPoseHead


class CLDetectionModel(nn.Module):
    """``forward(x)`` -> (B, J, H, W) heatmaps; ``deep_supervision=True`` -> three levels."""

    def __init__(self, arch: ModelArch | None = None) -> None:
        super().__init__()
        self.arch = arch or ModelArch()
        self.backbone = build_hrnet(self.arch.hrnet)
        self.head = SRPoseHead(self.arch.widths[::-1], self.arch.num_landmarks,
                               self.arch.embed, self.arch.upscale_exp)
        self.activation_checkpointing = False

    @property
    def num_landmarks(self) -> int:
        return self.arch.num_landmarks

    def forward(self, x: torch.Tensor, deep_supervision: bool = False):
        if self.activation_checkpointing and self.training:
            from torch.utils.checkpoint import checkpoint
            feats = checkpoint(self.backbone, x, use_reentrant=False)
        else:
            feats = self.backbone(x)
        return self.head(feats, deep_supervision=deep_supervision)

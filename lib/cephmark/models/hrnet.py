"""HRNet backbone: timm's implementation, in the feature configuration MMPose's weights match.

``feature_location=''`` and ``out_indices=(1, 2, 3, 4)`` give the four branch outputs
(highest resolution first) under exactly MMPose's parameter names; index 0 would be the stem.
"""
from __future__ import annotations

from torch import nn
from timm.models.hrnet import HighResolutionNetFeatures


def build_hrnet(cfg: dict) -> nn.Module:
    """Build an HRNet feature extractor from a timm-style configuration dict."""
    return HighResolutionNetFeatures(cfg, feature_location="", out_indices=(1, 2, 3, 4))

"""The "SRPose" super-resolution heatmap head of the CL-Detection 2023 winner (plain PyTorch).

Parameter names follow the released checkpoint (under ``head.``). Each landmark owns one
contiguous block of channels in ``lr_head``, ``lr_fuse`` (input side), ``kp_encoder`` and
``converge``, which is what `cephmark.models.new_landmarks` relies on.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

DEFAULT_EMBED = (16, 8, 4, 4)
DEFAULT_UPSCALE = (3, 2, 1, 2)  # r_i = 2 ** U_i; only levels 2 and 3 have output layers
CONVERGE_KERNELS = {2: 7, 3: 9}


class ConvNeXtBNBlock(nn.Module):
    """Depthwise 7x7 conv, BatchNorm, channels-last MLP (4x, exact GELU), residual."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(channels, channels, 7, padding=3, groups=channels)
        self.norm = nn.BatchNorm2d(channels)
        self.pwconv1 = nn.Linear(channels, 4 * channels)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.dwconv(x)).permute(0, 2, 3, 1)
        y = self.pwconv2(self.act(self.pwconv1(y))).permute(0, 3, 1, 2)
        return x + y


class Converge(nn.Module):
    """Grouped conv (one group per landmark) followed by pixel shuffle."""

    def __init__(self, num_landmarks: int, embed: int, upscale: int, kernel: int) -> None:
        super().__init__()
        self.upscale = upscale
        self.conv = nn.Conv2d(
            embed * num_landmarks, upscale**2 * num_landmarks, kernel,
            padding=kernel // 2, groups=num_landmarks,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pixel_shuffle(self.conv(x), self.upscale)


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SRPoseHead(nn.Module):
    """Heatmap head over four HRNet maps, widths ``channels`` listed lowest resolution first."""

    def __init__(
        self,
        channels: Sequence[int] = (384, 192, 96, 48),
        num_landmarks: int = 38,
        embed: Sequence[int] = DEFAULT_EMBED,
        upscale_exp: Sequence[int] = DEFAULT_UPSCALE,
    ) -> None:
        super().__init__()
        c, j = list(channels), num_landmarks
        self.channels, self.num_landmarks = tuple(c), j
        self.embed, self.upscale_exp = tuple(embed), tuple(upscale_exp)
        self.lr_head = nn.Sequential(nn.Conv2d(c[0], j, 1), nn.ReLU(inplace=True))
        self.lr_fuse = nn.Sequential(nn.Conv2d(j, c[0], 1), nn.ReLU(inplace=True))
        self.pre_interpolate = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(c[i], c[i], 3, padding=1, groups=c[i]),
                nn.Conv2d(c[i], c[i + 1], 1),
                nn.BatchNorm2d(c[i + 1]),
                nn.ReLU(inplace=True),
            )
            for i in range(3)
        )
        self.pre_fuse = nn.ModuleList(_conv_bn_relu(c[i], c[i]) for i in range(4))
        self.fuse = nn.ModuleList(nn.Conv2d(2 * c[i + 1], c[i + 1], 1) for i in range(3))
        self.post_fuse = nn.ModuleList(
            nn.Sequential(ConvNeXtBNBlock(c[i + 1]), ConvNeXtBNBlock(c[i + 1])) for i in range(3)
        )
        self.kp_encoder = nn.ModuleList([nn.Identity(), nn.Identity()])
        self.converge = nn.ModuleList([nn.Identity(), nn.Identity()])
        for level in (2, 3):
            self.kp_encoder.append(
                nn.Sequential(nn.Conv2d(c[level], embed[level] * j, 1), nn.ReLU(inplace=True))
            )
            self.converge.append(
                Converge(j, embed[level], 2 ** upscale_exp[level], CONVERGE_KERNELS[level])
            )

    def forward(
        self, feats: Sequence[torch.Tensor], deep_supervision: bool = False
    ) -> torch.Tensor | list[torch.Tensor]:
        """``feats``: backbone maps highest resolution first (as HRNet returns them).

        Returns the full-resolution heatmaps, or with ``deep_supervision`` the list
        ``[hp0 (1/32), level-2 map (1/4), final map]``.
        """
        x = list(feats)[::-1]
        hp0 = self.lr_head(x[0])
        f = self.pre_fuse[0](x[0]) + self.lr_fuse(hp0)
        mid = None
        for i in (1, 2, 3):
            f = self.pre_interpolate[i - 1](f)
            f = F.interpolate(f, size=x[i].shape[-2:], mode="nearest")
            f = self.fuse[i - 1](torch.cat([f, self.pre_fuse[i](x[i])], dim=1))
            f = self.post_fuse[i - 1](f)
            if i == 2 and deep_supervision:
                mid = self.converge[2](self.kp_encoder[2](f))
        out = self.converge[3](self.kp_encoder[3](f))
        if deep_supervision:
            return [hp0, mid, out]
        return out

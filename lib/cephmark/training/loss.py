"""Deep-supervision heatmap loss of the reference (SRPose / MMPose ``KeypointMSELoss``).

The model's training outputs are ``[hp0 (N/32), mid (N/4), final (N)]``. Targets are the
full-resolution unbiased Gaussians (`HeatmapCodec.encode`) average-pooled to each output size;

    loss = 1e-4 * MSE(hp0) + MSE(mid) + MSE(final)

where each MSE is ``mean((pred * w - target * w) ** 2)`` over (B, J, H, W) with the per-landmark
visibility weight ``w`` (0 for a landmark that is not labelled or lies outside the input), times
an optional foreground weight ``1 + fg * target``. Targets are built on the training device,
``chunk`` landmarks at a time, so at most one full-size block of target maps exists at once.

``soft_targets`` (kept base landmarks): the source model's own outputs for the first K
channels, used where a channel has no label (weight 0), so fine-tuning the shared head does
not silently change the base landmarks' predictions (self-distillation).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from cephmark.codecs import HeatmapCodec

LEVEL_WEIGHTS = (1e-4, 1.0, 1.0)
CURRICULUM_FRACTION = 0.4  # sigma reaches its target after this fraction of the epochs


def curriculum_sigma(sigma: float, factor: float, epoch: int, epochs: int,
                     fraction: float = CURRICULUM_FRACTION) -> float:
    """Sigma for 0-based ``epoch``: ``factor * sigma`` at the start, shrinking linearly to
    ``sigma`` after ``fraction`` of the epochs (``factor`` 1 = no curriculum)."""
    if factor == 1.0 or epochs <= 0:
        return float(sigma)
    span = max(1e-9, fraction * epochs)
    progress = min(1.0, epoch / span)
    return float(sigma * (factor + (1.0 - factor) * progress))


def pooled_target(target: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Average-pool full-resolution maps to ``size`` (exact block means when it divides)."""
    h, w = target.shape[-2:]
    oh, ow = int(size[0]), int(size[1])
    if (oh, ow) == (h, w):
        return target
    if h % oh == 0 and w % ow == 0:
        return F.avg_pool2d(target, (h // oh, w // ow))
    return F.adaptive_avg_pool2d(target, (oh, ow))


class HeatmapLoss:
    """Callable: ``loss, parts = HeatmapLoss(codec)(outputs, xy, weight, sigma)``."""

    def __init__(self, codec: HeatmapCodec, foreground_weight: float = 0.0,
                 level_weights: Sequence[float] = LEVEL_WEIGHTS,
                 max_target_elements: int = 1 << 25) -> None:
        self.codec = codec
        self.fg = float(foreground_weight)
        self.level_weights = tuple(level_weights)
        self.max_elements = int(max_target_elements)

    def __call__(self, outputs: Sequence[torch.Tensor] | torch.Tensor, xy: torch.Tensor,
                 weight: torch.Tensor, sigma: float, input_size: tuple[int, int] | None = None,
                 soft_targets: Sequence[torch.Tensor] | None = None,
                 ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``outputs``: the deep-supervision list (or just the final map); ``xy`` (B, J, 2)
        input pixels; ``weight`` (B, J); ``input_size`` (H, W) = the final map size by default;
        ``soft_targets``: per level (B, K, h, w) targets for the unlabelled first K channels."""
        outs = [outputs] if isinstance(outputs, torch.Tensor) else list(outputs)
        weights = self.level_weights[-len(outs):]
        final = outs[-1]
        b, j = final.shape[:2]
        size = tuple(input_size or final.shape[-2:])
        xy = xy.to(final.device, torch.float32)
        w2 = weight.to(final.device, torch.float32).pow(2)
        chunk = max(1, self.max_elements // max(1, b * size[0] * size[1]))
        sums = [final.new_zeros((), dtype=torch.float32) for _ in outs]
        for j0 in range(0, j, chunk):
            j1 = min(j, j0 + chunk)
            with torch.no_grad():
                target = self.codec.encode(xy[:, j0:j1], size, sigma=sigma)
            for k, out in enumerate(outs):
                t = pooled_target(target, out.shape[-2:])
                diff2 = (out[:, j0:j1].float() - t).pow(2)
                if self.fg:
                    diff2 = diff2 * (1.0 + self.fg * t)
                sums[k] = sums[k] + (diff2.sum(dim=(2, 3)) * w2[:, j0:j1]).sum()
            del target
        if soft_targets is not None:
            soft = [soft_targets] if isinstance(soft_targets, torch.Tensor) else list(soft_targets)
            k = soft[-1].shape[1]
            unlabelled = (weight[:, :k].to(final.device) == 0).float()
            for lvl, (out, st) in enumerate(zip(outs, soft[-len(outs):])):
                diff2 = (out[:, :k].float() - st.float()).pow(2)
                sums[lvl] = sums[lvl] + (diff2.sum(dim=(2, 3)) * unlabelled).sum()
        parts = [s / outs[k].numel() for k, s in enumerate(sums)]
        total = sum(wt * p for wt, p in zip(weights, parts))
        return total, [p.detach() for p in parts]

"""Benchmark helper shared by bench_inference.py and gpu_check.py (plain torch, no MONAI)."""
from __future__ import annotations

import torch


def smooth_output_layer(model, sigma: float = 1.5, seed: int = 0):
    """Make the final heatmap layer a Gaussian upsampler, so heatmaps are smooth peaks.

    ``head.converge[3]`` (grouped k x k conv, then pixel shuffle by r) gets, for output
    sub-pixel (a, b) of landmark j, a Gaussian kernel (``sigma`` low-resolution pixels, i.e.
    ``sigma * r`` output pixels: 6 px at r = 4) centred on that sub-pixel's position, times
    random positive weights over the landmark's embedding channels. The heatmap is then a
    smooth blur of random (ReLU) features, shaped like a trained model's output, instead of
    pixel noise, on which DARK's Newton step is ill-conditioned and any fp32 reordering moves
    points. Everything else keeps its random weights.
    """
    conv = model.head.converge[3].conv
    r = model.head.converge[3].upscale
    j = model.num_landmarks
    out_c, e, k, _ = conv.weight.shape
    g = torch.Generator().manual_seed(seed)
    u = torch.arange(k, dtype=torch.float64) - k // 2
    w = torch.zeros(out_c, e, k, k, dtype=torch.float64)
    mix = torch.empty(j, e, dtype=torch.float64).uniform_(0.5, 1.0, generator=g)
    mix = mix / mix.sum(dim=1, keepdim=True)
    for a in range(r):
        for b in range(r):
            dy, dx = (a + 0.5) / r - 0.5, (b + 0.5) / r - 0.5
            ker = torch.exp(-((u[:, None] - dy) ** 2 + (u[None, :] - dx) ** 2) / (2 * sigma ** 2))
            ker = ker / ker.sum()
            for jj in range(j):
                w[jj * r * r + a * r + b] = mix[jj][:, None, None] * ker
    with torch.no_grad():
        conv.weight.copy_(w.to(conv.weight.dtype))
        conv.bias.zero_()
    return model

"""Gaussian heatmap codec: unbiased Gaussian targets (encode) and argmax + DARK (decode).

Encode and decode live in one object, as in MMPose's codecs. Decoding is the reference's
float32 arithmetic, written plainly (`cephmark.codecs.fast_codec.FastHeatmapCodec` gives the
same bits faster): OpenCV blur of the zero-padded map, rescale to the
pre-blur maximum, log, then one Newton step with the local gradient and Hessian.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch


@dataclass
class DecodedLandmarks:
    """Decoded positions in heatmap pixels; ``found`` is False where the maximum was <= 0."""

    xy: np.ndarray  # (J, 2) float32
    scores: np.ndarray  # (J,) float32
    found: np.ndarray  # (J,) bool


class HeatmapCodec:
    def __init__(self, sigma: float = 6.0, blur_kernel: int = 11) -> None:
        if blur_kernel % 2 != 1:
            raise ValueError("blur_kernel must be odd")
        self.sigma = float(sigma)
        self.blur_kernel = blur_kernel

    # -- encode -------------------------------------------------------------------------
    def encode(self, xy: torch.Tensor, size: tuple[int, int], sigma: float | None = None
               ) -> torch.Tensor:
        """(..., J, 2) heatmap-pixel positions -> (..., J, H, W) unbiased Gaussians.

        The Gaussian is centred on the exact (sub-pixel) position and, as in the reference
        (MMPose's ``generate_unbiased_gaussian_heatmaps``), not truncated; a landmark more
        than 3 sigma outside the map gets weight 0 (see `in_bounds`).
        """
        s = self.sigma if sigma is None else float(sigma)
        h, w = size
        xs = torch.arange(w, dtype=xy.dtype, device=xy.device)
        ys = torch.arange(h, dtype=xy.dtype, device=xy.device)
        gx = torch.exp(-((xs - xy[..., 0:1]) ** 2) / (2 * s * s))  # (..., J, W)
        gy = torch.exp(-((ys - xy[..., 1:2]) ** 2) / (2 * s * s))  # (..., J, H)
        return gy.unsqueeze(-1) * gx.unsqueeze(-2)

    def in_bounds(self, xy: torch.Tensor, size: tuple[int, int], sigma: float | None = None
                  ) -> torch.Tensor:
        """(..., J) bool: whether the Gaussian's 3-sigma square overlaps the map (reference rule)."""
        r = 3 * (self.sigma if sigma is None else float(sigma))
        h, w = size
        x, y = xy[..., 0], xy[..., 1]
        return (x - r < w) & (y - r < h) & (x + r + 1 >= 0) & (y + r + 1 >= 0)

    # -- decode -------------------------------------------------------------------------
    def decode(self, heatmaps: np.ndarray) -> DecodedLandmarks:
        """(J, H, W) float heatmaps -> argmax + DARK positions and scores."""
        heatmaps = np.asarray(heatmaps, dtype=np.float32)
        j, h, w = heatmaps.shape
        flat = heatmaps.reshape(j, -1)
        idx = flat.argmax(axis=1)
        scores = flat[np.arange(j), idx]
        xy = np.stack([idx % w, idx // w], axis=1).astype(np.float32)
        found = scores > 0
        xy[~found] = -1
        for k in np.flatnonzero(found):
            xy[k] += self._dark_offset(heatmaps[k], int(xy[k, 0]), int(xy[k, 1]))
        return DecodedLandmarks(xy=xy, scores=scores.astype(np.float32), found=found)

    def _blurred_log(self, heatmap: np.ndarray) -> np.ndarray:
        b = (self.blur_kernel - 1) // 2
        h, w = heatmap.shape
        origin_max = heatmap.max()
        padded = np.zeros((h + 2 * b, w + 2 * b), dtype=np.float32)
        padded[b:-b, b:-b] = heatmap
        blurred = cv2.GaussianBlur(padded, (self.blur_kernel, self.blur_kernel), 0)[b:-b, b:-b]
        blurred = blurred * (origin_max / blurred.max())
        return np.log(np.maximum(blurred, np.float32(1e-10)))

    def _dark_offset(self, heatmap: np.ndarray, x: int, y: int) -> np.ndarray:
        h, w = heatmap.shape
        if not (1 < x < w - 2 and 1 < y < h - 2):
            return np.zeros(2, dtype=np.float32)
        return self._newton_step(self._blurred_log(heatmap), x, y)

    @staticmethod
    def _newton_step(lg: np.ndarray, x: int, y: int) -> np.ndarray:
        dx = 0.5 * (lg[y, x + 1] - lg[y, x - 1])
        dy = 0.5 * (lg[y + 1, x] - lg[y - 1, x])
        dxx = 0.25 * (lg[y, x + 2] - 2 * lg[y, x] + lg[y, x - 2])
        dxy = 0.25 * (lg[y + 1, x + 1] - lg[y - 1, x + 1] - lg[y + 1, x - 1] + lg[y - 1, x - 1])
        dyy = 0.25 * (lg[y + 2, x] - 2 * lg[y, x] + lg[y - 2, x])
        if dxx * dyy - dxy**2 == 0:
            return np.zeros(2, dtype=np.float32)
        hessian = np.array([[dxx, dxy], [dxy, dyy]])
        offset = -np.linalg.inv(hessian) @ np.array([[dx], [dy]])
        return offset[:, 0].astype(np.float32)

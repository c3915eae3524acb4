"""Gaussian heatmap codec: unbiased Gaussian targets (encode) and argmax + DARK (decode).

Encode and decode live in one object, as in MMPose's codecs. Decoding reproduces the
reference's float32 arithmetic: OpenCV blur of the zero-padded map, rescale to the
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
        window = self._blurred_log_window(heatmap, x, y)
        if window is not None:
            return self._newton_step(window, 2, 2)
        return self._newton_step(self._blurred_log(heatmap), x, y)

    def _blurred_log_window(self, heatmap: np.ndarray, x: int, y: int) -> np.ndarray | None:
        """The blurred log map on the 5 x 5 window around (x, y), blurring only 15 x 15 pixels.

        The reference's rescale to the pre-blur maximum only adds a constant to the log map,
        which no derivative sees, so it is skipped; where the clamp at 1e-10 could bite, or the
        window reaches the padded map's edge (OpenCV's border rule), the full map is used.
        """
        b = (self.blur_kernel - 1) // 2
        h, w = heatmap.shape
        # window in padded coordinates: centre (x + b, y + b), core +-2, blur margin b
        x0, y0 = x + b - 2 - b, y + b - 2 - b
        size = 5 + 2 * b
        if x0 - b < 0 or y0 - b < 0 or x0 + size + b > w + 2 * b or y0 + size + b > h + 2 * b:
            return None
        padded = np.zeros((size + 2 * b, size + 2 * b), dtype=np.float32)
        # padded-window origin (x0 - b, y0 - b) -> heatmap origin (x0 - 2b, y0 - 2b)
        hx0, hy0 = x0 - 2 * b, y0 - 2 * b
        sx0, sy0 = max(hx0, 0), max(hy0, 0)
        sx1, sy1 = min(hx0 + size + 2 * b, w), min(hy0 + size + 2 * b, h)
        padded[sy0 - hy0:sy1 - hy0, sx0 - hx0:sx1 - hx0] = heatmap[sy0:sy1, sx0:sx1]
        k = self.blur_kernel
        core = cv2.GaussianBlur(padded, (k, k), 0)[2 * b:2 * b + 5, 2 * b:2 * b + 5]
        if core.min() <= 1e-6 * max(float(core.max()), 1e-30):
            return None
        return np.log(core)

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

"""The reference's top-down affine: a square box around the whole image, warped to N x N.

Coordinates are pixel indices (OpenCV's convention: integer values are pixel centres).
The warp is OpenCV's fixed-point ``warpAffine(INTER_LINEAR)`` on the uint8 image, which is
what reproduces the reference network input bit for bit.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Box:
    """Square crop box in image pixels: centre (x, y) and side length ``size``."""

    cx: float
    cy: float
    size: float

    @classmethod
    def whole_image(cls, width: int, height: int, padding: float = 1.25) -> "Box":
        """The reference's box: the whole image, padded, enlarged on its shorter side."""
        return cls(width * 0.5, height * 0.5, padding * max(width, height))

    def scaled(self, f: float) -> "Box":
        """The same box in an image resized by ``f`` (pixel centres: x' = (x + 0.5) f - 0.5)."""
        if f == 1.0:
            return self
        return Box((self.cx + 0.5) * f - 0.5, (self.cy + 0.5) * f - 0.5, self.size * f)

    def to_input(self, xy: np.ndarray, n: int) -> np.ndarray:
        """Image pixels -> network-input pixels: (p - c) * N / S + N / 2."""
        xy = np.asarray(xy, dtype=np.float64)
        return (xy - (self.cx, self.cy)) * (n / self.size) + n / 2.0

    def to_image(self, q: np.ndarray, n: int) -> np.ndarray:
        """Network-input pixels -> image pixels: q / N * S + c - S / 2 (float64)."""
        q = np.asarray(q, dtype=np.float64)
        return q / n * self.size + np.array([self.cx, self.cy]) - self.size / 2.0


def warp_matrix(box: Box, n: int, rotation_deg: float = 0.0) -> np.ndarray:
    """2x3 matrix from image to input pixels, computed as MMPose does (float32 points).

    A rotation (training augmentation) turns the box about its centre.
    """
    rot = np.deg2rad(rotation_deg)
    sn, cs = np.sin(rot), np.cos(rot)
    src_dir = np.array([box.size * -0.5 * cs, box.size * -0.5 * sn])  # (-S/2, 0) rotated
    src = np.zeros((3, 2), dtype=np.float32)
    dst = np.zeros((3, 2), dtype=np.float32)
    src[0] = (box.cx, box.cy)
    src[1] = src[0] + src_dir
    dst[0] = (n * 0.5, n * 0.5)
    dst[1] = dst[0] + np.array([n * -0.5, 0.0])
    src[2] = _third_point(src[0], src[1])
    dst[2] = _third_point(dst[0], dst[1])
    return cv2.getAffineTransform(src, dst)


def _third_point(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    d = a - b
    return b + np.array([-d[1], d[0]], dtype=np.float32)


def warp_image(pixels: np.ndarray, matrix: np.ndarray, n: int) -> np.ndarray:
    """uint8 (H, W[, C]) -> uint8 (N, N[, C]), bilinear, zero outside the image."""
    if pixels.dtype != np.uint8:
        raise TypeError(f"warp_image expects uint8 pixels, got {pixels.dtype}")
    return cv2.warpAffine(pixels, matrix, (n, n), flags=cv2.INTER_LINEAR)


def area_downscale(pixels: np.ndarray, f: float) -> tuple[np.ndarray, float]:
    """Area-average ``pixels`` by ``f`` (< 1); returns the image and the exact factor used
    (width-based, so points map with x' = (x + 0.5) f - 0.5)."""
    h, w = pixels.shape[:2]
    if f >= 1.0:
        return pixels, 1.0
    nw, nh = max(1, round(w * f)), max(1, round(h * f))
    f = nw / w
    return cv2.resize(pixels, (nw, round(h * f) or 1), interpolation=cv2.INTER_AREA), f


def invert_points(matrix: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Map (K, 2) points back through the inverse of a 2x3 affine."""
    inv = cv2.invertAffineTransform(np.asarray(matrix, dtype=np.float64))
    return apply_matrix(inv, q)


def apply_matrix(matrix: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Apply a 2x3 affine to (K, 2) points."""
    xy = np.asarray(xy, dtype=np.float64)
    return xy @ matrix[:, :2].T + matrix[:, 2]

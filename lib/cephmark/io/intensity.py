"""Intensity rule for images deeper than 8 bits: how 16-bit / float pixels become the model's uint8.

The project's decision, used by ordinary images (16-bit PNG/TIFF, float TIFF) and DICOM alike:

* No window (16-bit / float ordinary images, DICOM without VOI LUT or WindowCenter/Width):
  linear min-max stretch of the image's actual values to 0..255,
  ``rint((v - min) / (max - min) * 255)`` in float64, rounding half to even (``np.rint``).
  One min/max over all channels together (colour balance is kept). A constant image becomes
  all zeros. NaN becomes 0; +-inf are clipped to 255 / 0 and ignored for min/max.
* DICOM with a window / VOI LUT: the VOI output range ``[y_min, y_max]`` (the range the window
  or LUT maps onto, see :mod:`cephmark.io.dicom`) is mapped linearly to 0..255 with the same
  rounding, values outside it clipped.

8-bit images never pass through here: they are used exactly as decoded.
"""
from __future__ import annotations

import numpy as np

__all__ = ["range_to_uint8", "minmax_to_uint8", "grey_to_rgb"]


def range_to_uint8(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map ``[lo, hi]`` linearly onto 0..255 (clip outside, ``np.rint``); ``lo == hi`` gives zeros.

    ``hi < lo`` is allowed and inverts (used for a DICOM window after a negative RescaleSlope).
    """
    v = np.asarray(values, dtype=np.float64)
    if hi == lo or not (np.isfinite(lo) and np.isfinite(hi)):
        return np.zeros(v.shape, dtype=np.uint8)
    out = (v - lo) / (hi - lo) * 255.0
    out = np.nan_to_num(out, nan=0.0, posinf=255.0, neginf=0.0)
    return np.rint(np.clip(out, 0.0, 255.0)).astype(np.uint8)


def minmax_to_uint8(values: np.ndarray) -> np.ndarray:
    """Linear min-max stretch of the finite values to 0..255 (constant or empty -> zeros)."""
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        return np.zeros(v.shape, dtype=np.uint8)
    return range_to_uint8(v, float(finite.min()), float(finite.max()))


def grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    """(H, W) uint8 -> (H, W, 3) C-contiguous, three identical channels."""
    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))

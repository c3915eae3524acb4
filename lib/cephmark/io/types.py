"""The io layer's types: :class:`CephImage` (what every reader returns) and :class:`ImageReadError`.

Kept apart from the readers so ``io.image`` and ``io.dicom`` both import them without importing
each other.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CephImage", "ImageReadError"]


class ImageReadError(ValueError):
    """A file could not be read as an image; the message starts with the file path."""


@dataclass
class CephImage:
    """One image as the model sees it, plus its physical pixel size if known."""

    pixels: np.ndarray  # uint8 (H, W, 3) RGB, C-contiguous
    path: str
    spacing_xy_mm: tuple[float, float] | None = None  # (x = column spacing, y = row spacing)
    spacing_source: str | None = None  # "PixelSpacing" | "ImagerPixelSpacing" | "NominalScannedPixelSpacing"

    def __post_init__(self) -> None:
        p = self.pixels
        if p.dtype != np.uint8 or p.ndim != 3 or p.shape[2] != 3 or not p.flags.c_contiguous:
            raise ValueError(f"{self.path}: CephImage.pixels must be C-contiguous uint8 (H, W, 3), "
                             f"got {p.dtype} {p.shape}")

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def spacing_mm(self) -> float | None:
        """Mean of the x and y spacing (mm per pixel), None when unknown."""
        if self.spacing_xy_mm is None:
            return None
        return (float(self.spacing_xy_mm[0]) + float(self.spacing_xy_mm[1])) / 2.0

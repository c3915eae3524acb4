"""MONAI dictionary transforms for cephalograms: load, top-down affine, normalise.

Data dicts carry ``image`` (path, then uint8 HWC, then float CHW), optional ``landmarks``
((K, 2) image pixels, NaN where not labelled) and ``meta`` (path, size, spacing, box).
"""
from __future__ import annotations

from typing import Any, Hashable, Mapping

import numpy as np
from monai.config import KeysCollection
from monai.transforms import MapTransform, Randomizable

from cephmark.io import CephImage, read_image
from cephmark.transforms.affine import Box, apply_matrix, area_downscale, warp_image, warp_matrix


class LoadCephImaged(MapTransform):
    """Read ``image`` (a path or a `CephImage`) into uint8 RGB HWC pixels plus ``meta``."""

    def __init__(self, keys: KeysCollection = "image", meta_key: str = "meta") -> None:
        super().__init__(keys)
        self.meta_key = meta_key

    def __call__(self, data: Mapping[Hashable, Any]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            img = d[key] if isinstance(d[key], CephImage) else read_image(d[key])
            d[key] = img.pixels
            meta = dict(d.get(self.meta_key) or {})
            meta.update(path=img.path, width=img.width, height=img.height,
                        spacing_xy_mm=img.spacing_xy_mm, spacing_source=img.spacing_source)
            d[self.meta_key] = meta
        return d


class TopDownAffined(MapTransform, Randomizable):
    """The reference's square-box warp to N x N, with optional random rotation/scale/shift.

    Landmarks under ``landmark_key`` are mapped into input pixels; the box goes to
    ``meta["box"]`` as (cx, cy, size) so predictions can be mapped back.
    """

    def __init__(self, keys: KeysCollection = "image", image_size: int = 1024,
                 padding: float = 1.25, landmark_key: str = "landmarks", meta_key: str = "meta",
                 rotation_deg: float = 0.0, scale_range: float = 0.0, translate_frac: float = 0.0,
                 prob: float = 0.0, antialias: bool = False) -> None:
        super().__init__(keys)
        self.antialias = antialias
        self.n, self.padding = image_size, padding
        self.landmark_key, self.meta_key = landmark_key, meta_key
        self.rotation_deg, self.scale_range, self.translate_frac = rotation_deg, scale_range, translate_frac
        self.prob = prob
        self._params = (0.0, 1.0, 0.0, 0.0)

    def randomize(self, data: Any = None) -> None:
        if self.prob <= 0 or self.R.rand() >= self.prob:
            self._params = (0.0, 1.0, 0.0, 0.0)
            return
        self._params = (
            self.R.uniform(-self.rotation_deg, self.rotation_deg),
            self.R.uniform(1 - self.scale_range, 1 + self.scale_range),
            self.R.uniform(-self.translate_frac, self.translate_frac),
            self.R.uniform(-self.translate_frac, self.translate_frac),
        )

    def __call__(self, data: Mapping[Hashable, Any]) -> dict:
        d = dict(data)
        self.randomize()
        rot, scale, tx, ty = self._params
        for key in self.key_iterator(d):
            h, w = d[key].shape[:2]
            base = Box.whole_image(w, h, self.padding)
            box = Box(base.cx + tx * base.size, base.cy + ty * base.size, base.size * scale)
            pixels, f = d[key], 1.0
            if self.antialias:
                pixels, f = area_downscale(pixels, self.n / max(w, h))
            matrix = warp_matrix(box.scaled(f), self.n, rot)
            d[key] = warp_image(pixels, matrix, self.n)
            meta = dict(d.get(self.meta_key) or {})
            if f != 1.0:  # the matrix from original pixels (per-axis: heights round separately)
                fx, fy = pixels.shape[1] / w, pixels.shape[0] / h
                matrix = matrix @ np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5], [0, 0, 1]])
                meta["map_back"] = "matrix"  # invert warp_matrix, not the square box
            meta.update(box=(box.cx, box.cy, box.size), warp_matrix=matrix, image_size=self.n)
            d[self.meta_key] = meta
            if self.landmark_key in d and d[self.landmark_key] is not None:
                d[self.landmark_key] = apply_matrix(matrix, d[self.landmark_key]).astype(np.float32)
        return d


class ToTensorCHWd(MapTransform):
    """uint8 HWC -> float32 CHW numpy array (channels first, values unchanged)."""

    def __call__(self, data: Mapping[Hashable, Any]) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            d[key] = np.ascontiguousarray(d[key].transpose(2, 0, 1), dtype=np.float32)
        return d

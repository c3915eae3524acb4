"""Prediction plus a per-image uncertainty, from the flip test the model runs anyway.

The reference averages the heatmaps of the image and of its mirror image (flipped back). Here
the two passes are decoded separately as well: where the model is sure, both put a landmark
on the same pixel; where it is not, they disagree. The image's uncertainty is the mean, over
landmarks, of the distance between the two (in original-image pixels); a landmark that either
pass did not find counts as the image diagonal. The averaged heatmaps give exactly the
prediction of :class:`~cephmark.inference.LandmarkPredictor`.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from cephmark.inference.predictor import LandmarkPredictor
from cephmark.inference.results import ImageResult
from cephmark.io import CephImage

__all__ = ["Uncertainty", "predict_with_uncertainty"]


@dataclass
class Uncertainty:
    value: float  # ranking value: mean plain-vs-flipped distance (px), misses = diagonal
    flip_px: float | None  # mean distance over landmarks both passes found
    flip_mm: float | None  # the same in mm when the pixel spacing is known
    max_px: float | None
    missing: int  # landmarks not found by one of the passes
    score_mean: float  # mean heatmap peak of the averaged heatmaps
    per_landmark_px: list[float | None] = field(default_factory=list)

    def to_dict(self, per_landmark: bool = False) -> dict:
        d = asdict(self)
        if not per_landmark:
            d.pop("per_landmark_px")
        return d


def predict_with_uncertainty(predictor: LandmarkPredictor, image: str | Path | CephImage,
                             flip_test: bool | None = None) -> tuple[ImageResult, Uncertainty]:
    """Landmarks of one image (flip test as configured, or as ``flip_test`` says) + uncertainty."""
    item = predictor.prepare(image)
    x = torch.as_tensor(np.asarray(item["image"]))[None]
    plain = predictor.heatmaps(x, flip_test=False)
    flipped = predictor.heatmaps(x.flip(-1), flip_test=False).flip(-1)
    flip = predictor.config.preprocess.flip_test if flip_test is None else flip_test
    heat = (plain + flipped) * 0.5 if flip else plain  # LandmarkPredictor.heatmaps' arithmetic
    meta = item["meta"]
    result = predictor.decode(heat[0].cpu().numpy(), meta)
    a = predictor.decode(plain[0].cpu().numpy(), meta)
    b = predictor.decode(flipped[0].cpu().numpy(), meta)
    diag = math.hypot(result.width, result.height)
    per: list[float | None] = []
    for la, lb in zip(a.landmarks, b.landmarks):
        per.append(math.hypot(la.x - lb.x, la.y - lb.y) if la.found and lb.found else None)
    found = [d for d in per if d is not None]
    missing = len(per) - len(found)
    value = (sum(found) + missing * diag) / max(1, len(per))
    flip_px = float(np.mean(found)) if found else None
    spacing = result.spacing_mm
    return result, Uncertainty(
        value=float(value), flip_px=flip_px,
        flip_mm=flip_px * spacing if flip_px is not None and spacing else None,
        max_px=float(max(found)) if found else None, missing=missing,
        score_mean=float(np.mean([lm.score for lm in result.landmarks])) if result.landmarks else 0.0,
        per_landmark_px=per,
    )

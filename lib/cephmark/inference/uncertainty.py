"""Prediction plus a per-image uncertainty that ranks images by their likely error.

``value`` (the ranking value) = ``jitter_px / score_mean``:
- ``jitter_px``: the network sees the image a few more times, shifted / scaled / rotated a little
  (within the augmentation the model was trained with), and each pass's decoded points are
  mapped back; the spread (RMS distance of the passes' points from their mean, original pixels,
  mean over landmarks) is large where the model is unsure. Works for every model.
- ``score_mean``: the mean heatmap peak height of the prediction; weak peaks mean unsure too.
  On ISBI test1 with the starter model the ratio ranked images by their true error better than
  either alone (benchmarks/uncertainty/RESULTS.md).
- ``flip`` (reported beside it): the distance between the plain and the mirrored pass's points.
  Only meaningful for a model trained on mirrored images (`LoadedModel.learnt_flip`; the
  CL-Detection reference); for others the mirrored pass is noise, so it is not computed.
A landmark that a pass did not find counts as the image diagonal. The returned landmarks are
exactly `LandmarkPredictor.predict`'s (flip-averaged only when the predictor flips).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from cephmark.inference.predictor import LandmarkPredictor
from cephmark.inference.results import ImageResult
from cephmark.io import CephImage

__all__ = ["JITTERS", "Uncertainty", "jitter_inputs", "predict_with_uncertainty"]

# (dx, dy as fractions of N, scale, rotation degrees): inside the training augmentation
# (translate 0.04-0.05, scale 0.1-0.12, rotation 5-8 degrees in the shipped configs)
JITTERS: tuple[tuple[float, float, float, float], ...] = (
    (0.02, 0.02, 1.0, 0.0), (-0.02, -0.02, 1.0, 0.0),
    (0.0, 0.0, 1.06, 3.0), (0.0, 0.0, 0.94, -3.0),
)


@dataclass
class Uncertainty:
    value: float  # the ranking value: jitter_px / score_mean (a landmark some pass missed = diagonal)
    method: str  # "jitter/peak"
    jitter_px: float | None  # mean RMS spread of the jittered passes (found landmarks)
    value_mm: float | None  # jitter_px in mm when the pixel spacing is known
    flip_px: float | None  # mean plain-vs-mirrored distance (flip-trained models only)
    max_px: float | None  # the largest per-landmark value
    missing: int  # landmarks some pass did not find
    score_mean: float  # mean heatmap peak of the returned prediction
    per_landmark_px: list[float | None] = field(default_factory=list)

    def to_dict(self, per_landmark: bool = False) -> dict:
        d = asdict(self)
        if not per_landmark:
            d.pop("per_landmark_px")
        return d


def _theta(jitter: tuple[float, float, float, float]) -> np.ndarray:
    """affine_grid matrix: output (jittered) normalised coords -> source normalised coords for
    the map q = k R (p - c + d) + c (content moved by d, scaled k, rotated about the centre)."""
    dx, dy, k, deg = jitter
    a = math.radians(deg)
    rinv = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]]) / k
    return np.hstack([rinv, [[-2.0 * dx], [-2.0 * dy]]])


def jitter_inputs(x: torch.Tensor, jitters: Sequence[tuple[float, float, float, float]],
                  fill: float) -> torch.Tensor:
    """(1, C, N, N) -> (len(jitters), C, N, N): bilinear resampling, ``fill`` outside."""
    theta = torch.as_tensor(np.stack([_theta(j) for j in jitters]), dtype=x.dtype)
    grid = F.affine_grid(theta, [len(jitters), *x.shape[1:]], align_corners=False)
    return F.grid_sample(x.expand(len(jitters), -1, -1, -1) - fill, grid, mode="bilinear",
                         padding_mode="zeros", align_corners=False) + fill


def unjitter_points(q: np.ndarray, jitter: tuple[float, float, float, float], n: int) -> np.ndarray:
    """Points decoded on a jittered input -> the plain input's pixels: p = R^-1 (q - c) / k + c - d."""
    dx, dy, k, deg = jitter
    c = n / 2.0 - 0.5
    a = math.radians(deg)
    rinv = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
    return ((np.asarray(q, dtype=np.float64) - c) @ rinv.T) / k + c - np.array([dx, dy]) * n


def predict_with_uncertainty(predictor: LandmarkPredictor, image: str | Path | CephImage,
                             flip_test: bool | None = None,
                             jitters: Sequence[tuple[float, float, float, float]] = JITTERS,
                             ) -> tuple[ImageResult, Uncertainty]:
    """Landmarks of one image (flip test as configured, or as ``flip_test`` says, and only for
    flip-trained models) + its uncertainty."""
    item = predictor.prepare(image)
    meta = item["meta"]
    x = torch.as_tensor(np.asarray(item["image"]))[None].float()
    n = x.shape[-1]
    flip_model = predictor.loaded.learnt_flip
    plain = predictor.heatmaps(x, flip_test=False)
    flipped = predictor.heatmaps(x.flip(-1), flip_test=False).flip(-1) if flip_model else None
    flip = predictor.config.preprocess.flip_test if flip_test is None else flip_test
    heat = (plain + flipped) * 0.5 if flip and flip_model else plain
    result = predictor.decode(heat[0].cpu().numpy(), meta)
    diag = math.hypot(result.width, result.height)
    pre = predictor.config.preprocess
    fill = (0.0 - pre.mean) / pre.std  # the warp's black border, normalised
    jheat = predictor.heatmaps(jitter_inputs(x, jitters, fill), flip_test=False).cpu().numpy()
    base = predictor.codec.decode(plain[0].cpu().numpy())
    pts, ok = [base.xy.astype(np.float64)], [base.found]
    for hm, j in zip(jheat, jitters):
        dec = predictor.codec.decode(hm)
        pts.append(unjitter_points(dec.xy, j, n))
        ok.append(dec.found)
    img_pts = np.stack([predictor.input_to_image(p, meta) for p in pts])  # (P, J, 2)
    all_ok = np.all(np.stack(ok), axis=0)
    spread = np.sqrt(((img_pts - img_pts.mean(axis=0)) ** 2).sum(-1).mean(axis=0))  # (J,)
    per_jit: list[float | None] = [float(s) if f else None for s, f in zip(spread, all_ok)]
    found = [d for d in per_jit if d is not None]
    jitter_px = float(np.mean(found)) if found else None
    missing = len(per_jit) - len(found)
    spread_all = (sum(found) + missing * diag) / max(1, len(per_jit))
    score_mean = float(np.mean([lm.score for lm in result.landmarks])) if result.landmarks else 0.0
    value = spread_all / max(score_mean, 0.01)
    flip_px = None
    if flipped is not None:
        a = predictor.decode(plain[0].cpu().numpy(), meta)
        b = predictor.decode(flipped[0].cpu().numpy(), meta)
        f = [math.hypot(la.x - lb.x, la.y - lb.y) for la, lb in zip(a.landmarks, b.landmarks)
             if la.found and lb.found]
        flip_px = float(np.mean(f)) if f else None
    spacing = result.spacing_mm
    return result, Uncertainty(
        value=float(value), method="jitter/peak", jitter_px=jitter_px,
        value_mm=float(jitter_px) * spacing if spacing and jitter_px is not None else None, flip_px=flip_px,
        max_px=float(max(found)) if found else None, missing=missing,
        score_mean=score_mean,
        per_landmark_px=per_jit,
    )

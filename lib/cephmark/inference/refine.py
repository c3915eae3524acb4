"""Two-pass prediction: a coarse model on the whole image, then a crop refiner.

A refiner is a checkpoint trained with ``cephmark finetune --crop-size PX``: its input is a
square box of ``crop_size`` original pixels (``preprocess.crop_size`` in the checkpoint),
warped to N x N. After the coarse pass, the box is centred on the mean of the coarse positions
of the refiner's landmarks (those found), cut with the same uint8 OpenCV warp as training
(after the same area-averaging by ``min(1, N / crop_size)``), and the refiner's decoded points
(DARK), mapped back with `Box.to_image`, replace the coarse ones (scores from the refiner).
Landmarks the refiner does not predict keep their coarse values, and so do those whose coarse
point lies outside the crop (coarse points far apart: the refiner cannot see them).

With ``infer.refine_shift`` > 0 the refiner sees a 3 x 3 grid of boxes, shifted by
``-s, 0, +s`` original pixels (``s`` rounded to whole heatmap pixels, so the heatmaps align
exactly); the aligned heatmaps are summed on a larger canvas and divided by 9 before decoding.
A peak that every box sees keeps its height; one seen near the edge of a single box (where a
refiner trained on 18 images is least reliable) is divided by 9.

With ``infer.refine_prior_sigma`` > 0 each refiner heatmap is multiplied by a Gaussian of that
sigma (original pixels) centred on the landmark's own coarse position before decoding: the
coarse pass is the prior, the refiner the likelihood. It keeps one landmark from taking a
look-alike's peak far from where the coarse model put it (p2 on p1's notch, 90 px away); at
sigma 48 px its pull on a peak the coarse model put 10 px away is about 0.01 px.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from cephmark.config import CephConfig
from cephmark.inference.predictor import LandmarkPredictor
from cephmark.inference.results import ImageResult, LandmarkResult
from cephmark.io import CephImage, read_image
from cephmark.models.checkpoint import LoadedModel, load_model
from cephmark.transforms.affine import Box, area_downscale, warp_image, warp_matrix


class RefinerError(ValueError):
    pass


@dataclass
class RefineDetails:
    """What the cascade knows about one image beyond the points: the coarse points (original
    pixels; None = not found), each refined landmark's refiner peak height and peak width
    (original pixels: diameter of the area above half the peak), the landmarks whose coarse
    point lay outside the crop, and the cascade file's training-label summary."""

    coarse: dict[str, tuple[float, float] | None]
    peak: dict[str, float] = field(default_factory=dict)
    width_px: dict[str, float] = field(default_factory=dict)
    outside: list[str] = field(default_factory=list)
    labels: dict[str, Any] = field(default_factory=dict)


def peak_width(heat: np.ndarray) -> float:
    """Diameter (heatmap pixels) of a disc with the area of the 8-connected region above half
    of the map's maximum around its argmax (a sharp peak: small; a smeared or double one: large)."""
    m = float(heat.max())
    if m <= 0:
        return float("inf")
    import cv2

    mask = (heat >= 0.5 * m).astype(np.uint8)
    _, lab = cv2.connectedComponents(mask, connectivity=8)
    iy, ix = np.unravel_index(int(np.argmax(heat)), heat.shape)
    area = int((lab == lab[iy, ix]).sum())
    return float(2.0 * np.sqrt(area / np.pi))


def load_refiner(checkpoint: str | Path | LoadedModel, config: CephConfig | None = None) -> LandmarkPredictor:
    """A `LandmarkPredictor` for a crop refiner (a file, or the refiner of a cascade file);
    device / fast settings from ``config.infer``."""
    cfg = CephConfig()
    if config is not None:
        cfg.infer = copy.deepcopy(config.infer)
        cfg.codec = copy.deepcopy(config.codec)
    cfg.infer.names = None
    cfg.infer.refine_checkpoint = None
    refiner = LandmarkPredictor(checkpoint, cfg)
    if not refiner.config.preprocess.crop_size:
        raise RefinerError(f"{checkpoint}: not a crop refiner (no preprocess.crop_size in the "
                           f"checkpoint; train one with `cephmark finetune --crop-size PX`)")
    return refiner


class RefinedPredictor:
    """Coarse `LandmarkPredictor` + crop refiner, with the predictor's interface
    (``landmark_names``, ``predict``, ``predict_one``, ``iter_predictions``, ``config``)."""

    def __init__(self, coarse: LandmarkPredictor, refiner: LandmarkPredictor | str | Path) -> None:
        self.coarse = coarse
        self.refiner = refiner if isinstance(refiner, LandmarkPredictor) else load_refiner(refiner, coarse.config)
        self.labels: dict[str, Any] = {}  # a cascade file's training-label summary (flags)
        pre = self.refiner.config.preprocess
        if not pre.crop_size:
            raise RefinerError("the refiner checkpoint has no preprocess.crop_size: not a crop refiner")
        self.crop_size = float(pre.crop_size)
        missing = [n for n in self.refiner.landmark_names if n not in coarse.landmark_names]
        if missing:
            raise RefinerError(
                f"refiner landmarks {', '.join(missing)} are not outputs of the coarse model "
                f"({', '.join(coarse.landmark_names)}): the crop is centred on the coarse "
                f"predictions of the refiner's landmarks")

    @property
    def config(self) -> CephConfig:
        return self.coarse.config

    @property
    def landmark_names(self) -> list[str]:
        return self.coarse.landmark_names

    # -- the second pass ------------------------------------------------------------------
    def crop_box(self, result: ImageResult) -> Box | None:
        """Box around the found coarse points of the refiner's landmarks (None if none found)."""
        pts = [(lm.x, lm.y) for lm in (result.point(n) for n in self.refiner.landmark_names)
               if lm.found and lm.x is not None]
        if not pts:
            return None
        c = np.mean(np.asarray(pts, dtype=np.float64), axis=0)
        return Box(float(c[0]), float(c[1]), self.crop_size)

    def crop_input(self, image: CephImage, box: Box) -> np.ndarray:
        """(3, N, N) float32 normalised refiner input for ``box`` (original pixels)."""
        pre = self.refiner.config.preprocess
        n = int(pre.image_size)
        pixels, f = image.pixels, 1.0
        if pre.antialias:
            pixels, f = area_downscale(pixels, n / self.crop_size)
        warped = warp_image(pixels, warp_matrix(box.scaled(f), n), n)
        x = np.ascontiguousarray(warped.transpose(2, 0, 1), dtype=np.float32)
        return (x - pre.mean) / pre.std

    def shifted_heatmaps(self, image: CephImage, box: Box, shift: float) -> tuple[np.ndarray, int]:
        """Mean of the refiner's heatmaps over a 3 x 3 grid of boxes ``shift`` original pixels
        apart, on a canvas padded by ``pad`` heatmap pixels around ``box``'s own map."""
        n = int(self.refiner.config.preprocess.image_size)
        boxes, offsets, pad = [box], [(0, 0)], 0
        if shift > 0:
            per_px = self.crop_size / n  # original pixels per input pixel
            pad = max(1, int(round(shift / per_px)))
            offsets = [(dx, dy) for dy in (-pad, 0, pad) for dx in (-pad, 0, pad)]
            boxes = [Box(box.cx + dx * per_px, box.cy + dy * per_px, box.size) for dx, dy in offsets]
        x = torch.from_numpy(np.stack([self.crop_input(image, b) for b in boxes]))
        heat = self.refiner.heatmaps(x).cpu().numpy()
        j, h, w = heat.shape[1:]
        if (h, w) != (n, n):
            raise RefinerError(f"refiner heatmaps are {h} x {w}, expected the input size {n}")
        canvas = np.zeros((j, h + 2 * pad, w + 2 * pad), dtype=np.float32)
        for (dx, dy), hm in zip(offsets, heat):
            canvas[:, pad + dy:pad + dy + h, pad + dx:pad + dx + w] += hm
        return canvas / len(boxes), pad

    def coarse_prior(self, result: ImageResult, box: Box, shape: tuple[int, ...], pad: int,
                     sigma: float) -> np.ndarray:
        """(J, H, W) Gaussians (``sigma`` original pixels) around each refiner landmark's coarse
        point, in canvas pixels; all ones for a landmark the coarse pass did not find."""
        n = int(self.refiner.config.preprocess.image_size)
        j, h, w = shape
        s = sigma * n / self.crop_size
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        prior = np.ones(shape, dtype=np.float32)
        for k, name in enumerate(self.refiner.landmark_names):
            lm = result.point(name)
            if lm.found and lm.x is not None:
                cx, cy = box.to_input(np.array([lm.x, lm.y]), n) + pad
                prior[k] = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2.0 * s * s))
        return prior

    @staticmethod
    def sees(box: Box, coarse: LandmarkResult) -> bool:
        """Whether ``box`` holds the coarse point (a landmark the coarse pass missed: yes)."""
        if not coarse.found or coarse.x is None:
            return True
        half = box.size / 2.0
        return abs(coarse.x - box.cx) <= half and abs(coarse.y - box.cy) <= half

    def refine(self, image: CephImage, result: ImageResult) -> ImageResult:
        return self.refine_detailed(image, result)[0]

    def refine_detailed(self, image: CephImage, result: ImageResult) -> tuple[ImageResult, RefineDetails]:
        """The second pass, and what it saw (for `cephmark.calibration.flags`)."""
        coarse = {lm.name: (lm.x, lm.y) if lm.found else None for lm in result.landmarks}
        details = RefineDetails(coarse=coarse, labels=self.labels)
        box = self.crop_box(result)
        if box is None:
            return result, details
        n = int(self.refiner.config.preprocess.image_size)
        heat, pad = self.shifted_heatmaps(image, box, float(self.config.infer.refine_shift or 0.0))
        sigma = float(self.config.infer.refine_prior_sigma or 0.0)
        if sigma > 0:
            heat = heat * self.coarse_prior(result, box, heat.shape, pad, sigma)
        dec = self.refiner.codec.decode(heat)
        xy = box.to_image(dec.xy - pad, n)
        sp = image.spacing_xy_mm
        new: dict[str, LandmarkResult] = {}
        for k, (name, (px, py), s, ok) in enumerate(zip(self.refiner.landmark_names, xy, dec.scores, dec.found)):
            if not self.sees(box, result.point(name)):
                details.outside.append(name)
                continue  # the crop does not hold this coarse point: the refiner cannot improve it
            details.peak[name] = float(s)
            details.width_px[name] = peak_width(heat[k]) * self.crop_size / n
            new[name] = LandmarkResult(
                name=name, x=float(px) if ok else None, y=float(py) if ok else None,
                score=float(s), found=bool(ok),
                x_mm=float(px * sp[0]) if ok and sp else None,
                y_mm=float(py * sp[1]) if ok and sp else None)
        result.landmarks = [new.get(lm.name, lm) for lm in result.landmarks]
        return self.coarse.assess(result), details

    # -- the predictor interface ----------------------------------------------------------
    def _one(self, image: str | Path | CephImage) -> tuple[ImageResult, dict]:
        result, _, item = self._detailed(image)
        return result, item

    def _detailed(self, image: str | Path | CephImage) -> tuple[ImageResult, RefineDetails, dict]:
        img = (image if isinstance(image, CephImage)
               else read_image(image, max_pixels=self.coarse.config.infer.max_pixels))
        item = self.coarse.prepare(img)
        batch = torch.as_tensor(np.asarray(item["image"]))[None]
        heat = self.coarse.heatmaps(batch).cpu().numpy()[0]
        result, details = self.refine_detailed(img, self.coarse.decode(heat, item["meta"]))
        result._refine_details = details  # for `flags` (not a field: not in the JSON)
        return result, details, item

    def flags(self, result: ImageResult) -> dict[str, Any]:
        """The ruler flags (`cephmark.calibration.flags.ruler_flags`) of a result this predictor
        returned: ``{"status": "ok"|"check", "reasons": [...], "score": float}``. A result from
        elsewhere gets the geometric checks only."""
        from cephmark.calibration.flags import ruler_flags

        details = getattr(result, "_refine_details", None) or RefineDetails(coarse={}, labels=self.labels)
        status, reasons, score = ruler_flags(details, result)
        return {"status": status, "reasons": reasons, "score": score}

    def predict_detailed(self, image: str | Path | CephImage) -> tuple[ImageResult, RefineDetails]:
        """`predict_one` plus what the cascade saw (coarse points, refiner peaks, label summary)."""
        result, details, _ = self._detailed(image)
        return result, details

    def predict(self, images: Sequence[str | Path | CephImage]) -> list[ImageResult]:
        return [self._one(im)[0] for im in images]

    def predict_one(self, image: str | Path | CephImage) -> ImageResult:
        return self._one(image)[0]

    def iter_predictions(self, paths: Sequence[str | Path]
                         ) -> Iterator[tuple[str, ImageResult | Exception, dict | None]]:
        for path in paths:
            try:
                result, item = self._one(path)
            except Exception as exc:  # any failure (MemoryError included) is this image's only
                yield str(path), exc, None
                continue
            yield str(path), result, item


def build_predictor(checkpoint: str | Path, config: CephConfig,
                    overrides: dict[str, Any] | None = None) -> LandmarkPredictor | RefinedPredictor:
    """The CLI's and app's predictor: a cascade file (coarse + refiner, its own refine options
    unless ``config`` sets them), ``checkpoint`` alone, or with ``config.infer.refine_checkpoint``
    (which wins over a cascade's own refiner)."""
    from cephmark.calibration.cascade import (
        INFER_KEYS, cascade_infer, cascade_labels, is_cascade, refiner_model,
    )

    loaded = load_model(checkpoint, names=config.infer.names)
    cascade = is_cascade(loaded.info)
    if cascade:
        config = copy.deepcopy(config)
        saved = cascade_infer(loaded)
        for key in INFER_KEYS:
            if getattr(config.infer, key) is None and key in saved:
                setattr(config.infer, key, saved[key])
    coarse = LandmarkPredictor(loaded, config, overrides)
    if coarse.config.preprocess.crop_size:
        raise RefinerError(f"{checkpoint}: is a crop refiner (crop size "
                           f"{coarse.config.preprocess.crop_size} px); give the whole-image model as "
                           f"--checkpoint and this one as --refine-checkpoint")
    ref = coarse.config.infer.refine_checkpoint
    if ref:
        return RefinedPredictor(coarse, ref)
    if not cascade:
        return coarse
    pred = RefinedPredictor(coarse, refiner_model(loaded, str(checkpoint)))
    pred.labels = cascade_labels(loaded)
    return pred

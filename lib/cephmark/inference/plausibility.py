"""Is a prediction believable? Per landmark and per image, with the reasons.

Landmark (``status``, ``reasons``):

* ``not_found`` (``found: false``): no heatmap peak above 0 or a non-finite score (the model
  produced NaN), ``x``/``y`` null; or a decoded position outside the image, ``x``/``y`` kept
  (for inspection; consumers go by ``found``);
* ``check``: found, but the heatmap peak is below ``min_score`` (a weak, possibly wrong peak);
* ``ok`` otherwise.

Image (``status``, ``reasons``): ``not_a_cephalogram`` when more than ``max_implausible``
of its landmarks are not ``ok`` (blank frames, noise, photographs: the model still puts every
landmark somewhere), else ``check`` when any landmark is not ``ok``, else ``ok``. The image
verdict needs at least ``MIN_LANDMARKS_FOR_VERDICT`` landmarks (a two-landmark ruler model
says nothing about the image). Thresholds: ``infer.min_score`` and
``infer.max_implausible_fraction``, calibrated in ``benchmarks/plausibility/``.
"""
from __future__ import annotations

import math

from cephmark.inference.results import ImageResult, LandmarkResult

__all__ = ["assess", "MIN_LANDMARKS_FOR_VERDICT"]

MIN_LANDMARKS_FOR_VERDICT = 5


def _inside(x: float, y: float, width: int, height: int) -> bool:
    return -0.5 <= x <= width - 0.5 and -0.5 <= y <= height - 0.5  # pixel centres are integers


def _assess_landmark(lm: LandmarkResult, width: int, height: int, min_score: float) -> str:
    """Set the landmark's status and reasons; return the kind: ok, weak, outside, not_found."""
    kind = "not_found"
    if not lm.found and lm.status == "not_found" and lm.reasons:  # assessed before: keep why
        return "outside" if lm.x is not None else kind
    if not math.isfinite(lm.score):
        lm.status, lm.reasons = "not_found", ["heatmap score is not a finite number (the model output is not finite)"]
        lm.found, lm.x, lm.y, lm.x_mm, lm.y_mm = False, None, None, None, None
    elif not lm.found:
        lm.status, lm.reasons = "not_found", ["no heatmap peak above 0"]
    elif not _inside(lm.x, lm.y, width, height):
        lm.status = "not_found"
        lm.reasons = [f"decoded position ({lm.x:.1f}, {lm.y:.1f}) is outside the {width} x {height} image"]
        lm.found, kind = False, "outside"  # x/y keep the decoded position, for inspection
    elif lm.score < min_score:
        lm.status = "check"
        lm.reasons = [f"weak heatmap peak {lm.score:.3f} < {min_score:g} (infer.min_score)"]
        kind = "weak"
    else:
        lm.status, lm.reasons, kind = "ok", [], "ok"
    return kind


def assess(result: ImageResult, min_score: float, max_implausible: float) -> ImageResult:
    """Set ``status``/``reasons`` on ``result`` and its landmarks (in place; returned).
    Assessing again (e.g. after a refiner replaced some landmarks) keeps earlier reasons."""
    kinds = [_assess_landmark(lm, result.width, result.height, min_score) for lm in result.landmarks]
    n, bad = len(kinds), sum(k != "ok" for k in kinds)
    if not bad:
        result.status, result.reasons = "ok", []
        return result
    detail = (f"{bad} of {n} landmarks implausible ({kinds.count('outside')} outside the image, "
              f"{kinds.count('weak')} weak peaks, {kinds.count('not_found')} not found)")
    if n >= MIN_LANDMARKS_FOR_VERDICT and bad > max_implausible * n:
        result.status = "not_a_cephalogram"
        result.reasons = [f"{detail}: blank, noise, or not a lateral cephalogram?"]
    else:
        result.status, result.reasons = "check", [detail + ": see the landmarks' reasons"]
    return result
